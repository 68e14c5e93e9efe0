package replstore

import "slices"

// Leader reads (ReadIndex). Before the leader serves a linearizable read it
// proves it still leads: it sends a round of heartbeats to its sync set
// and waits until SyncCount members of it answer in its epoch. A
// promotion must fence enough sync followers with a newer epoch that this
// quorum cannot be met by a deposed leader (quorum intersection), so a
// confirmed round means no newer leader had committed anything when the
// round began. The read is then served from the leader's state once it
// has applied the commit LSN recorded when the read arrived.

// readState is the leader's bookkeeping for read rounds.
type readState struct {
	readSent      uint64    // last round sent; only grows
	readConfirmed uint64    // last round a quorum answered; only grows
	readWanted    bool      // a read waits for a round not sent yet
	reads         []readReq // in round order
	readsReady    []readReq // confirmed and applied: the driver answers these
}

// readReq is one leader read waiting for its round.
type readReq struct {
	id     uint64 // the driver's handle
	round  uint64 // the round that confirms it
	commit LSN    // the commit LSN when it arrived: the read must see it
}

// requestRead queues a linearizable read; it is confirmed by the next
// round of heartbeats. A node that is not leader refuses at once (false).
func (c *core) requestRead(id uint64) bool {
	if c.role != roleLeader {
		return false
	}
	// A new leader's commit LSN may trail writes its predecessor
	// acknowledged until it commits an entry of its own epoch: the read
	// waits for that too.
	c.reads = append(c.reads, readReq{id: id, round: c.readSent + 1, commit: max(c.commit, c.epochStart)})
	c.readWanted = true
	if c.cfg.bug == bugStaleLeaderReads {
		c.readWanted = false
		c.confirmReads(c.readSent + 1)
	}
	return true
}

// sendReadRound starts a round if a read waits for one. It runs at flush,
// so all reads of a batch share one round.
func (c *core) sendReadRound() {
	if !c.readWanted {
		return
	}
	c.readWanted = false
	c.readSent++
	if c.readQuorum() == 0 {
		c.confirmReads(c.readSent)
		return
	}
	for _, p := range c.followers {
		if p.sync || len(c.syncList) == 0 {
			c.sendAppends(p, true) // a heartbeat (or a snapshot chunk) carries the round
		}
	}
}

// readQuorum is how many followers must answer a round: SyncCount members
// of the sync set, or a majority of the followers when there is no sync
// set (asynchronous replication), or none for a leader alone.
func (c *core) readQuorum() int {
	switch {
	case len(c.syncList) > 0:
		return c.cfg.syncCount
	case len(c.followers) > 0:
		return len(c.followers)/2 + 1
	}
	return 0
}

// onReadEcho records a follower's echo and releases the reads whose round
// a quorum has now answered.
func (c *core) onReadEcho(p *progress, echo uint64) {
	if echo <= p.readEcho {
		return
	}
	p.readEcho = echo
	c.acks = c.acks[:0]
	for _, q := range c.followers {
		if q.sync || len(c.syncList) == 0 {
			c.acks = append(c.acks, LSN(q.readEcho))
		}
	}
	c.confirmReads(uint64(quorumLSN(c.acks, c.readQuorum())))
}

// confirmReads moves the reads of rounds up to round to readsReady once
// the leader has applied what each must see.
func (c *core) confirmReads(round uint64) {
	c.readConfirmed = max(c.readConfirmed, round)
	k := 0
	for _, r := range c.reads {
		if r.round <= c.readConfirmed && r.commit <= c.applied {
			c.readsReady = append(c.readsReady, r)
		} else {
			c.reads[k] = r
			k++
		}
	}
	c.reads = c.reads[:k]
}

// dropRead forgets read id.
func (c *core) dropRead(id uint64) {
	c.reads = slices.DeleteFunc(c.reads, func(r readReq) bool { return r.id == id })
	c.readsReady = slices.DeleteFunc(c.readsReady, func(r readReq) bool { return r.id == id })
}

// failReads drops every waiting read (the node stopped leading); the
// driver refuses them.
func (c *core) failReads() []readReq {
	out := append(c.reads, c.readsReady...)
	c.reads, c.readsReady = nil, nil
	return out
}
