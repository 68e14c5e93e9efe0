package replstore

import (
	"slices"
)

// leaderState is what the leader keeps: per-follower progress, the sync
// set and the proposals of the current batch.
type leaderState struct {
	readState
	coordState

	followers  []*progress // sync-eligible in priority order, then async
	syncList   []NodeID    // sync-eligible followers in priority order
	asyncList  []NodeID    // the other followers
	safe       LSN         // followers may apply up to here; >= commit
	epochStart LSN         // LSN of this epoch's first entry
	pending    []Entry     // proposals not yet appended
	acks       []LSN       // scratch for the quorum rule

	unavailable      bool   // fewer than syncCount sync followers live
	unavailableSince uint64 // tick it became so
	degraded         bool   // DegradeAfter fired: committing at Local
	degradedFrom     LSN    // commit LSN when it fired
	history          []SyncSetChange
}

// becomeLeader makes this node the leader of epoch with topo's followers
// and opens the epoch with an EntryEpoch entry.
func (c *core) becomeLeader(epoch Epoch, now int64, topo Topology) {
	c.now = now
	c.role = roleLeader
	c.epoch, c.hard.epoch, c.hard.led = epoch, epoch, true
	c.leader = c.id
	c.syncList = slices.Clone(topo.Sync)
	c.asyncList = slices.Clone(topo.Async)
	c.followers = c.followers[:0]
	c.history = c.history[:0]
	c.degraded, c.unavailable, c.pendingChange, c.transferTarget = false, false, nil, ""
	for i, id := range topo.Sync {
		c.followers = append(c.followers, &progress{id: id, priority: i})
	}
	for _, id := range topo.Async {
		c.followers = append(c.followers, &progress{id: id, priority: -1})
	}
	c.trackGen = c.topoVersion // the followers it starts with: the topology's version
	version := c.trackGen
	for _, p := range c.followers {
		p.next = c.last.LSN + 1
		p.lastHeard = c.tick
		p.memberVersion = version
	}
	c.safe = c.commit
	c.ads = nil // a follower's copy of the old leader's view
	c.epochStart = c.last.LSN + 1
	c.noteTopology(topo, c.topoVersion)
	c.refreshSyncSet()
	c.topologyTookEffect(c.epochStart)
	if epoch == 1 {
		// The coordinator starts from the configured topology: nothing
		// was acknowledged before it.
		c.settled, c.settleAcked = true, true
	}
	c.pending = append(c.pending, Entry{Kind: EntryEpoch})
	c.appendProposals()
}

// propose queues a command; it is appended to the log at the next flush.
// It returns the command's Position.
func (c *core) propose(data []byte) Position {
	pos := Position{Epoch: c.epoch, LSN: c.last.LSN + LSN(len(c.pending)) + 1}
	c.pending = append(c.pending, Entry{Pos: pos, Kind: EntryCommand, Time: c.now, Data: data})
	return pos
}

// appendProposals appends the queued proposals to the log and streams
// them to every follower.
func (c *core) appendProposals() {
	if len(c.pending) == 0 {
		return
	}
	for i := range c.pending {
		c.pending[i].Pos = Position{Epoch: c.epoch, LSN: c.last.LSN + LSN(i) + 1}
		c.pending[i].Time = c.now
	}
	if err := c.log.Append(c.pending); err != nil {
		c.fail(storageErr("append", err))
		return
	}
	c.unsynced = true // the driver syncs before anything is sent
	c.last = c.pending[len(c.pending)-1].Pos
	clear(c.pending) // drop references to the commands
	c.pending = c.pending[:0]
	c.maybeCommit()
	// Async followers first, the highest-priority sync follower last: the
	// last goroutine a sender wakes is the one Go's scheduler runs next,
	// and the sync follower's answer is what the writers wait for.
	for i := len(c.followers) - 1; i >= 0; i-- {
		c.sendAppends(c.followers[i], false)
	}
}

// sendAppends streams the entries p lacks, up to the pipelining window.
// With force it sends at least one message (a heartbeat when p is caught
// up).
func (c *core) sendAppends(p *progress, force bool) {
	if p.next < c.log.First() || p.reseed {
		if force {
			p.snapSent = p.snapAcked // a tick: resend what may be lost
		}
		c.sendSnapshot(p)
		return
	}
	if p.probing && !force {
		return
	}
	sent := false
	for p.next <= c.last.LSN && p.inflight() < LSN(c.cfg.maxInflight) && !(sent && p.probing) {
		hi := min(c.last.LSN, p.next+LSN(c.cfg.maxBatch)-1, p.received+LSN(c.cfg.maxInflight))
		ents, err := c.log.Entries(p.next, hi)
		if err != nil || len(ents) == 0 {
			c.logf("cannot stream to %s from LSN %d: %v (it needs a snapshot)", p.id, p.next, err)
			return
		}
		ents = c.fitAppend(ents)
		c.sendTo(p, ents)
		p.next = ents[len(ents)-1].Pos.LSN + 1
		sent = true
	}
	if !sent && (force || p.sentCommit < c.safe && c.cfg.ackLevel == Applied && p.sync) {
		c.sendTo(p, nil)
	}
}

// sendTo sends one append (a heartbeat if ents is empty) to p.
func (c *core) sendTo(p *progress, ents []Entry) {
	prev := p.next - 1
	// Sync followers answer every append; the others once a tick, which
	// is enough for liveness, lag and flow control, and spares the leader
	// a wake-up per batch for acknowledgements that decide nothing.
	wantAck := p.sync || p.probing || len(ents) == 0 || p.askedAt != c.tick
	m := Message{Kind: MsgAppend, To: p.id, Prev: Position{Epoch: c.epochAt(prev), LSN: prev},
		Entries: ents, Commit: c.safe, WantAck: wantAck, ReadSeq: c.readSent, MemberVersion: p.memberVersion, Incarnation: p.incarnation}
	if p.adsSent != c.adsTick || len(ents) == 0 {
		// Once per tick, and on every heartbeat: every replica's state.
		m.Replicas = c.advertise()
		p.adsSent = c.adsTick
	}
	c.send(m)
	if wantAck {
		p.askedAt = c.tick
	}
	p.lastSent = c.tick
	p.sentCommit = c.safe
}

// handleAppendResp records a follower's answer, backs up on a mismatch,
// advances the commit LSN and streams more.
func (c *core) handleAppendResp(m Message) {
	if m.Epoch > c.epoch {
		c.observeEpoch(m)
		return
	}
	if c.role != roleLeader {
		return // an answer to an epoch this node no longer leads
	}
	p := c.progressOf(m.From)
	if p == nil {
		c.logf("answer from unknown follower %s", m.From)
		return
	}
	if m.MemberVersion != p.memberVersion {
		// An answer to appends sent to an earlier membership of this ID
		// (removed, then added again): it says nothing of this one.
		c.logf("answer from %s for membership version %d, not %d: ignored", m.From, m.MemberVersion, p.memberVersion)
		return
	}
	if !c.checkIncarnation(p, m) {
		return
	}
	wasLive := p.live(c.tick, c.cfg.timeoutTicks)
	p.lastHeard = c.tick
	if m.Kind == MsgSnapshotResp {
		c.handleSnapshotResp(p, m)
		return
	}
	if !wasLive {
		// It is back: under FIRST it may rejoin the sync set at once, and
		// a degraded leader may return to sync commit.
		c.refreshSyncSet()
		c.applySyncLoss()
	}
	c.onReadEcho(p, m.ReadSeq)
	if m.Reject {
		if m.Snapshot != nil {
			c.compareCompacted(p, m.Snapshot.Pos)
			return
		}
		c.backUp(p, m.Hint)
		return
	}
	p.probing = false
	p.received = max(p.received, m.Received)
	p.durable = max(p.durable, m.Durable)
	p.applied = max(p.applied, min(m.Applied, m.Received)) // see appliedMatched
	p.next = max(p.next, p.received+1)
	if p.next >= c.log.First() {
		p.forgetSnapshot() // reseeded, or never needed it
	}
	c.maybeCommit()
	c.sendAppends(p, false)
}

// checkIncarnation compares the storage incarnation an answer carries
// with the one the leader knows for p. An answer from an older one (sent
// before the follower lost data, and delayed) is dropped: it may claim
// entries the follower no longer holds. A newer one means the follower
// lost data it may have acknowledged: its progress starts again from
// what it now reports, so the commit rule never counts the lost entries
// (the follower is repaired like any follower that is behind).
func (c *core) checkIncarnation(p *progress, m Message) bool {
	switch {
	case m.Incarnation < p.incarnation:
		return false
	case m.Incarnation > p.incarnation:
		if p.incarnation != 0 && c.cfg.bug == bugIgnoreIncarnation {
			p.incarnation = m.Incarnation
			return true
		}
		if p.incarnation != 0 {
			c.logf("follower %s has a new storage incarnation (%d, was %d): it lost data; its progress starts again from %v",
				p.id, m.Incarnation, p.incarnation, m.Last)
			p.resetForIncarnation(m.Incarnation, m.Last)
			return true
		}
		p.incarnation = m.Incarnation
	}
	return true
}

// backUp handles a log-matching rejection: resend from hint+1, one batch
// at a time until the follower accepts. Never from below p.received: the
// follower acknowledged matching our log that far in this epoch, and a
// restart keeps its log. A lower hint answers a message sent before an
// earlier back-up, or comes from a follower that restarted and no longer
// knows how far it matched (it hints at its commit LSN): ignoring it
// would leave such a follower unrepaired for good.
func (c *core) backUp(p *progress, hint LSN) {
	hint = max(hint, p.received)
	if hint+1 >= p.next {
		return // stale: we already resend from there
	}
	p.next = hint + 1
	p.probing = true
	c.sendAppends(p, true)
}

// compareCompacted answers a follower that compacted its log through at
// (rejectCompacted): if our log holds at, its snapshot is a prefix of our
// log and we stream from there; otherwise (or if it says so itself, with
// the zero Position) its state differs from ours and we reseed it.
func (c *core) compareCompacted(p *progress, at Position) {
	first := c.log.First() - 1
	if at != (Position{}) && at.LSN <= c.last.LSN && at.LSN >= first && c.epochAt(at.LSN) == at.Epoch {
		if p.next <= at.LSN {
			p.next = at.LSN + 1
		}
		p.probing = true
		c.sendAppends(p, true)
		return
	}
	if at != (Position{}) && at.LSN < first {
		// We compacted past it too: our snapshot decides, and the
		// follower checks it against its log. Unless the follower has
		// since acknowledged matching our log beyond our compaction
		// point (this answer was overtaken by a later one): then there
		// is nothing to check, and never below what it acknowledged.
		p.next = max(min(p.next, first), p.received+1)
		c.sendAppends(p, true)
		return
	}
	if !p.reseed {
		c.logf("follower %s holds a snapshot at %v that our log does not: reseeding it", p.id, at)
		p.forgetSnapshot() // send it whole, marked, even if it took ours as held before
		// It will throw away entries it acknowledged: answers it sent
		// before it installs our snapshot must not count again after
		// (they would credit it with a log it no longer holds). The
		// snapshot carries a new version; answers to older messages carry
		// the old one and are ignored.
		p.memberVersion = c.trackVersion()
	}
	p.reseed = true
	c.sendAppends(p, true) // sendSnapshot takes a snapshot if it has none
}

// trackVersion returns a new Message.MemberVersion for a follower's
// progress: at least the topology version (a follower added under it) and
// larger than any this leader gave before, so that an answer to messages
// of an earlier tracking of the same ID (removed and added again, or
// reseeded since) never matches a later one.
func (c *core) trackVersion() uint64 {
	c.trackGen = max(c.trackGen+1, c.topoVersion)
	return c.trackGen
}

func (c *core) progressOf(id NodeID) *progress {
	for _, p := range c.followers {
		if p.id == id {
			return p
		}
	}
	return nil
}

// maybeCommit advances commit (and safe) by the quorum rule and applies.
func (c *core) maybeCommit() {
	level := c.cfg.ackLevel
	if c.degraded {
		level = Local
	}
	commit := c.quorum(level)
	safe := commit
	if level == Applied {
		safe = c.quorum(Durable)
	}
	// Count only entries of this epoch: committing one commits its
	// prefix, and the epoch's first entry makes that happen.
	if commit > c.commit && c.epochAt(commit) == c.epoch {
		c.commit = commit
	}
	if safe > c.safe && c.epochAt(safe) == c.epoch {
		c.safe = safe
	}
	c.safe = max(c.safe, c.commit)
	c.applyCommitted()
	if !c.settled {
		if c.checkSettled(); c.settled {
			c.sendStatus() // so that the coordinator may forget the sync list before
		}
	}
	if len(c.reads) > 0 {
		c.confirmReads(c.readConfirmed)
	}
	if level == Applied {
		for _, p := range c.followers {
			if p.sync && p.sentCommit < c.safe && p.next > c.last.LSN {
				c.sendTo(p, nil)
			}
		}
	}
}

// quorum is the highest LSN the sync set holds at level, by the FIRST or
// ANY rule. The leader holds everything it has appended.
func (c *core) quorum(level AckLevel) LSN {
	if c.cfg.bug == bugAckEarly {
		return c.last.LSN
	}
	self := c.synced // the leader holds what it has synced
	if c.cfg.bug == bugLeaderCountsUnflushed {
		self = c.last.LSN
	}
	if level == Local {
		return self
	}
	c.acks = c.acks[:0]
	for _, p := range c.followers {
		if p.sync {
			c.acks = append(c.acks, p.ack(level))
		}
	}
	return min(quorumLSN(c.acks, c.cfg.syncCount), self)
}

// leaderTick sends heartbeats, re-forms the sync set and applies the
// sync-loss policy.
func (c *core) leaderTick() {
	c.advertise()
	for _, p := range c.followers {
		if c.tick-p.lastSent >= uint64(c.cfg.heartbeatTicks) {
			c.sendAppends(p, true)
		}
	}
	c.refreshSyncSet()
	c.applySyncLoss()
	c.maybeCommit()
	c.sendStatus()
}
