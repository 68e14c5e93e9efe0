package replstore

import "fmt"

// followerState is what a follower keeps about its leader's log.
type followerState struct {
	// matched is the highest LSN known to equal the current leader's log:
	// 0 after a restart or a change of epoch until an append shows more.
	matched  LSN
	readSeen uint64 // highest read round heard from the current leader
	// sinceLeader counts ticks since the last append from the leader.
	sinceLeader int
	ackPending  bool // an accepted append asked for an answer
	ackedUpTo   LSN  // matched as of the last answer
	recv        *snapshotRecv
	// leaderLast is the end of the leader's log as its messages show it,
	// and caughtUp says the node has applied within CaughtUpLag of it at
	// least once since it started: only then may it serve reads.
	leaderLast LSN
	caughtUp   bool
	// wantReseed: our snapshot differs from the leader's log; the next
	// snapshot installs whatever it covers, and what we committed that it
	// lacks is reported as lost.
	wantReseed bool
	// reseedPos is the snapshot a reseed installed in reseedEpoch: late
	// chunks of it (or of an older one) must not reseed us again.
	reseedPos   Position
	reseedEpoch Epoch
	// memberVersion is the leader's Message.MemberVersion for this node,
	// as last heard; echoed in every answer.
	memberVersion uint64
}

// handleAppend accepts entries from the leader if they extend the log at a
// matching Position and come from a current epoch; otherwise it answers
// with what it holds so the leader can back up.
func (c *core) handleAppend(m Message) {
	c.observeEpoch(m)
	if c.role == roleLeader {
		// Two leaders in one epoch: impossible by construction.
		c.fail(fmt.Errorf("leader of epoch %d got an append from %s in the same epoch", c.epoch, m.From))
		return
	}
	c.leader = m.From
	c.sinceLeader = 0
	c.memberVersion = m.MemberVersion
	c.readSeen = max(c.readSeen, m.ReadSeq)
	if m.Replicas != nil {
		c.ads = m.Replicas
	}
	prev, entries := m.Prev, m.Entries
	if base := c.log.First() - 1; prev.LSN < base {
		// The entries up to our compaction point are in our snapshot, not
		// in our log: they cannot be compared one by one. Log matching at
		// the compaction point decides: if the leader's entry there is
		// ours, so is everything before it. (Under sync commit it always
		// is; under asynchronous commit a promotion may have lost entries
		// we committed and compacted.)
		i := int(base - prev.LSN - 1)
		if i >= len(entries) {
			c.rejectCompacted(m.From, Position{Epoch: c.epochAt(base), LSN: base}) // compare there
			return
		}
		if entries[i].Pos.Epoch != c.epochAt(base) {
			c.rejectCompacted(m.From, Position{}) // diverged inside our snapshot
			return
		}
		prev, entries = entries[i].Pos, entries[i+1:]
	}
	if hint, ok := c.matchesPrev(prev); !ok {
		if base := c.log.First() - 1; base > 0 && prev.LSN == base {
			c.rejectCompacted(m.From, Position{}) // diverged at our compaction point
			return
		}
		c.send(Message{Kind: MsgAppendResp, To: m.From, Reject: true, Hint: hint, Last: c.last,
			Received: c.matched, Durable: c.matched, Applied: c.appliedMatched(), ReadSeq: c.readSeen})
		return
	}
	if !c.appendFrom(entries) {
		if c.wantReseed {
			c.rejectCompacted(m.From, Position{})
		}
		return
	}
	c.matched = max(c.matched, prev.LSN+LSN(len(entries)))
	c.leaderLast = max(c.leaderLast, c.matched)
	if c.hard.repairing {
		c.noteRepaired(m)
	}
	// Applying waits for the end of the batch (see flush and
	// applyDeferred), so the acknowledgement is not delayed by it.
	c.commit = max(c.commit, min(m.Commit, c.matched))
	if c.cfg.bug == bugApplyUncommitted {
		c.commit = max(c.commit, c.matched)
	}
	if m.WantAck || c.matched >= c.ackedUpTo+LSN(c.cfg.maxInflight/4) {
		c.ackPending = true
	}
}

// noteRepaired ends Repairing (HardState) once an append shows that the
// leader knows our new storage incarnation and that we hold everything
// it had committed when it sent it. From the moment the leader knows the
// new incarnation it credits us only with what that incarnation reports,
// and every write it committed before, on the word of the incarnation
// that lost data or not, is at or below m.Commit: we hold them all
// again, so our answers to a fencing round claim nothing we lack. The
// driver stores the change before the next message leaves.
func (c *core) noteRepaired(m Message) {
	if m.Incarnation != c.hard.incarnation || c.matched < m.Commit {
		return
	}
	c.hard.repairing = false
	c.emit(Event{Kind: EventLog, Peer: m.From, LSN: c.matched,
		Detail: fmt.Sprintf("repaired: holds the leader's log through LSN %d (its commit LSN %d); answers fencing rounds again", c.matched, m.Commit)})
}

// matchesPrev checks log matching at prev. If it fails it returns the LSN
// after which the leader should resend: our last LSN if we are short, or
// the LSN before the first entry of the conflicting epoch.
func (c *core) matchesPrev(prev Position) (hint LSN, ok bool) {
	if prev.LSN > c.last.LSN {
		return c.last.LSN, false
	}
	e := c.epochAt(prev.LSN)
	if e == prev.Epoch {
		return 0, true
	}
	l := prev.LSN - 1
	for l > max(c.commit, c.matched, c.log.First()-1) && c.epochAt(l) == e {
		l--
	}
	return l, false
}

// rejectCompacted answers an append that needs entries inside our
// snapshot: with at, the Position we compacted through, the leader
// compares it with its own log and resends from there, or reseeds us; with
// the zero Position we know our snapshot differs from the leader's log
// (writes committed here alone under asynchronous commit, lost by a
// promotion) and ask to be reseeded.
func (c *core) rejectCompacted(to NodeID, at Position) {
	c.wantReseed = at == Position{}
	c.send(Message{Kind: MsgAppendResp, To: to, Reject: true, Hint: c.log.First() - 1, Last: c.last,
		Received: c.matched, Durable: c.matched, Applied: c.appliedMatched(), ReadSeq: c.readSeen,
		Snapshot: &SnapshotChunk{Pos: at}})
}

// appendFrom stores the entries we do not hold yet, truncating a
// conflicting suffix first. Entries we already hold are skipped, so
// duplicated and re-sent messages are harmless.
func (c *core) appendFrom(entries []Entry) bool {
	for i, e := range entries {
		if e.Pos.LSN <= c.last.LSN {
			if c.epochAt(e.Pos.LSN) == e.Pos.Epoch {
				continue
			}
			if !c.rollBack(e.Pos.LSN) {
				return false
			}
		}
		if err := c.log.Append(entries[i:]); err != nil {
			c.fail(storageErr("append", err))
			return false
		}
		c.unsynced = true // synced by the driver before the acknowledgement leaves
		c.last = entries[len(entries)-1].Pos
		return true
	}
	return true
}

// sendAck answers the accepted appends of this batch with one message.
func (c *core) sendAck() {
	if !c.ackPending || c.leader == "" {
		return
	}
	c.ackPending = false
	c.ackedUpTo = c.matched
	c.send(Message{Kind: MsgAppendResp, To: c.leader, Received: c.matched, Durable: c.matched,
		Applied: c.appliedMatched(), Last: c.last, ReadSeq: c.readSeen})
}

// appliedMatched is what a follower reports as applied: what it applied
// of the prefix it knows matches the leader's log. It may have applied
// more of a log that diverged (a former leader that committed writes
// alone under asynchronous commit, before it rolls them back): counting
// those LSNs would let the leader take them for its own entries at the
// same LSNs and commit those at Applied without any follower holding them.
func (c *core) appliedMatched() LSN { return min(c.applied, c.matched) }

// epochAt is the epoch of the entry at lsn; a storage error stops the node.
func (c *core) epochAt(lsn LSN) Epoch {
	// Fast paths for the common cases, sparing a storage call.
	if lsn == c.last.LSN {
		return c.last.Epoch
	}
	if c.role == roleLeader && lsn >= c.epochStart && lsn <= c.last.LSN {
		return c.epoch
	}
	e, err := c.log.EpochAt(lsn)
	if err != nil {
		c.fail(fmt.Errorf("epoch at %d: %w", lsn, err))
	}
	return e
}
