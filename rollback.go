package replstore

import (
	"bytes"
	"fmt"
)

// rollBack drops the log from lsn on because the leader's log differs
// there, and reports the dropped entries. Under sync commit none of them
// was acknowledged. If some were applied (this node committed them alone,
// as a leader under asynchronous commit), the state machine is rebuilt
// from the log: those writes are lost, and the event says so.
func (c *core) rollBack(lsn LSN) bool {
	if lsn <= c.commit && c.applied >= lsn && !c.canRebuild(lsn-1) {
		// Our snapshot holds some of what is rolled back and the log
		// before it is gone: only the leader's snapshot can rebuild us.
		c.wantReseed = true
		return false
	}
	dropped, err := c.entriesFrom(lsn)
	if err != nil {
		c.fail(fmt.Errorf("read entries to roll back from %d: %w", lsn, inner(err)))
		return false
	}
	if err := c.log.TruncateAfter(lsn - 1); err != nil {
		c.fail(fmt.Errorf("truncate after %d: %w", lsn-1, inner(err)))
		return false
	}
	detail := fmt.Sprintf("dropped LSNs %d..%d, which the leader of epoch %d does not have", lsn, c.last.LSN, c.epoch)
	c.last = c.log.Last()
	c.synced = min(c.synced, c.last.LSN)
	c.cuts++
	if s := c.hard.snap; s != nil && s.pos.LSN >= lsn {
		// Our own snapshot holds what was rolled back (the log is whole
		// then: canRebuild): it must never be restored or shipped.
		if !c.setSnapshot(nil) {
			return false
		}
	}
	if lsn <= c.commit {
		detail += fmt.Sprintf("; LSNs %d..%d were committed here under asynchronous commit and are lost", lsn, c.commit)
		c.commit = lsn - 1
		c.matched = min(c.matched, c.commit)
		if c.applied > c.commit && !c.rebuildState() {
			return false
		}
	}
	c.emit(Event{Kind: EventRolledBack, LSN: lsn - 1, Entries: dropped, Detail: detail})
	return true
}

// entriesFrom reads the log from lsn to its end.
func (c *core) entriesFrom(lsn LSN) ([]Entry, error) {
	var out []Entry
	for lsn <= c.last.LSN {
		ents, err := c.log.Entries(lsn, c.last.LSN)
		if err != nil {
			return nil, err
		}
		if len(ents) == 0 {
			return out, fmt.Errorf("no entries from LSN %d though the log ends at %v", lsn, c.last)
		}
		out = append(out, ents...)
		lsn += LSN(len(ents))
	}
	return out, nil
}

// rebuildState replaces the state machine with an empty one to be
// replayed from the log as commits arrive again.
// If the log is compacted, the state machine restarts from the node's own
// snapshot (the log is compacted only through it, and a rollback never
// reaches below it: see handleAppend), else from empty.
func (c *core) rebuildState() bool {
	sm := c.freshStateMachine()
	if sm == nil {
		return false
	}
	var applied LSN
	if first := c.log.First(); first > 1 {
		s := c.hard.snap
		if !c.canRebuild(c.commit) {
			c.fail(fmt.Errorf("applied entries were rolled back and the log is compacted before %d without a snapshot to rebuild from", first))
			return false
		}
		if err := sm.Restore(bytes.NewReader(s.state)); err != nil {
			c.fail(fmt.Errorf("restore the node's own snapshot at %v: %w", s.pos, inner(err)))
			return false
		}
		applied = s.pos.LSN
	}
	c.sm = sm
	c.applied, c.appliedTime = applied, 0
	return true
}

// canRebuild reports whether the state machine can be rebuilt as of LSN
// through: from empty if the log is whole, else from the node's own
// snapshot if it is not past through (the log holds what follows it).
func (c *core) canRebuild(through LSN) bool {
	first := c.log.First()
	if first <= 1 {
		return true
	}
	s := c.hard.snap
	return s != nil && s.pos.LSN >= first-1 && s.pos.LSN <= through
}
