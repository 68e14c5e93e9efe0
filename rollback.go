package replstore

import "fmt"

// rollBack drops the log from lsn on because the leader's log differs
// there, and reports the dropped entries. Under sync commit none of them
// was acknowledged. If some were applied (this node committed them alone,
// as a leader under asynchronous commit), the state machine is rebuilt
// from the log: those writes are lost, and the event says so.
func (c *core) rollBack(lsn LSN) bool {
	dropped, err := c.entriesFrom(lsn)
	if err != nil {
		c.fail(fmt.Errorf("read entries to roll back from %d: %w", lsn, err))
		return false
	}
	if err := c.log.TruncateAfter(lsn - 1); err != nil {
		c.fail(fmt.Errorf("truncate after %d: %w", lsn-1, err))
		return false
	}
	detail := fmt.Sprintf("dropped LSNs %d..%d, which the leader of epoch %d does not have", lsn, c.last.LSN, c.epoch)
	c.last = c.log.Last()
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
		out = append(out, ents...)
		lsn += LSN(len(ents))
	}
	return out, nil
}

// rebuildState replaces the state machine with an empty one to be
// replayed from the log as commits arrive again.
func (c *core) rebuildState() bool {
	if c.log.First() > 1 {
		c.fail(fmt.Errorf("applied entries were rolled back and the log is compacted before %d: the node needs a snapshot", c.log.First()))
		return false
	}
	c.sm = c.cfg.newStateMachine()
	c.applied, c.appliedTime = 0, 0
	return true
}
