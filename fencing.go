package replstore

// Fencing: every message carries its sender's epoch, and a node that has
// seen epoch E refuses anything older. A deposed leader therefore cannot
// commit: its followers answer its appends with a rejection that carries
// the newer epoch, and it steps down when it hears one.

// refuseStale is the epoch gate: m comes from an epoch older than any
// this node has seen, and is refused, with an answer that carries the
// newer epoch where the sender waits for one (an append, a fence). It
// reports false only for what a planted bug lets through.
func (c *core) refuseStale(m Message) bool {
	switch m.Kind {
	case MsgAppend, MsgSnapshot:
		if c.cfg.bug == bugAcceptOldEpoch {
			return false
		}
		c.emit(Event{Kind: EventFenced, Peer: m.From, Detail: "refused a message from older epoch"})
		if m.Kind == MsgAppend {
			c.send(Message{Kind: MsgAppendResp, To: m.From, Reject: true, Last: c.last})
		}
	case MsgFence:
		c.send(Message{Kind: MsgFenceResp, To: m.From, Reject: true, Last: c.last})
	case MsgPromote:
		c.logf("ignoring a stale promotion to epoch %d", m.Epoch)
	}
	return true
}

// observeEpoch adopts a newer epoch seen in m, stepping down if this node
// led an older one. It reports whether the epoch changed.
func (c *core) observeEpoch(m Message) bool {
	if m.Epoch <= c.epoch {
		return false
	}
	wasLeader := c.role == roleLeader
	if wasLeader {
		// Writes committed up to here were committed by this leader;
		// the runtime acknowledges none beyond (see ledThrough).
		c.ledThrough = c.commit
		clear(c.pending) // proposals not appended yet die with the epoch
		c.pending = c.pending[:0]
	}
	c.epoch = m.Epoch
	c.hard.epoch, c.hard.led = m.Epoch, false
	c.role = roleFollower
	c.leader = ""
	c.readSeen = 0
	c.wantReseed = false // the new leader compares afresh
	// Nothing is known to match the new leader's log yet (under
	// asynchronous commit not even what this node committed).
	c.matched = 0
	if wasLeader {
		c.emit(Event{Kind: EventSteppedDown, Peer: m.From, Detail: "saw a newer epoch"})
	}
	return true
}

// handleFence takes the new epoch a coordinator's fencing round offers,
// stepping down if this node led, and answers with its last position: from
// now on it refuses the old leader. A node that already follows a leader
// of that epoch or a newer one refuses.
func (c *core) handleFence(m Message) {
	if m.Epoch == c.epoch && c.leader != "" {
		c.send(Message{Kind: MsgFenceResp, To: m.From, Reject: true, Last: c.last})
		return
	}
	c.observeEpoch(m)
	c.sinceLeader = 0
	if c.hard.repairing {
		// We lost synced data and no leader has repaired us yet: our
		// last position says less than we may have acknowledged, so it
		// must not count toward the candidate rule. We take the epoch
		// (refusing the old leader) and stay silent: to the coordinator
		// we are a node it did not reach.
		c.logf("fenced with epoch %d; not answering: this node lost synced data and is waiting to be repaired", m.Epoch)
		return
	}
	c.send(Message{Kind: MsgFenceResp, To: m.From, Last: c.last})
}

// handlePromote makes this node the leader of the fenced epoch.
func (c *core) handlePromote(m Message) {
	if m.Update == nil || m.Epoch == c.epoch && c.leader != "" {
		c.logf("ignoring a stale promotion to epoch %d", m.Epoch)
		return
	}
	if m.Epoch == c.epoch && c.hard.led {
		// We led this epoch before a restart: the coordinator resent its
		// promotion. Our first writes of the epoch may have left before
		// a crash took them from our disk; leading it again would write
		// different entries at their positions. The next round picks
		// anew, in a new epoch.
		c.logf("refusing the promotion to epoch %d: this node led it before it restarted", m.Epoch)
		return
	}
	if c.hard.repairing || m.Last != (Position{}) && !c.holds(m.Last) {
		// The coordinator chose us on an answer we gave before we lost
		// data (a crash with a damaged disk in between): we no longer
		// hold what it counted on. Nobody leads until the next round,
		// which we do not answer until we are repaired.
		c.observeEpoch(m)
		c.logf("refusing the promotion to epoch %d: chosen at %v, but this node lost synced data (log ends at %v, repairing %t)",
			m.Epoch, m.Last, c.last, c.hard.repairing)
		return
	}
	c.observeEpoch(m)
	c.becomeLeader(m.Epoch, c.now, m.Update.Topology)
}

// followerTick counts ticks without word from the leader and, past
// SuspectTicks, tells the coordinator (every tick, until it acts).
func (c *core) followerTick() {
	c.sinceLeader++
	if c.cfg.suspectTicks > 0 && c.sinceLeader >= c.cfg.suspectTicks {
		c.send(Message{Kind: MsgSuspect, To: CoordinatorID})
	}
}
