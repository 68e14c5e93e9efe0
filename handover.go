package replstore

import "slices"

// The leader's side of coordination: it reports its status to the
// coordinator every tick, makes topology changes (Replace, degrading) only
// once the coordinator has recorded them, and hands over to another node
// on a switchover.

// coordState is what the leader keeps for the coordinator.
type coordState struct {
	topoVersion   uint64      // last topology version the coordinator recorded
	pendingChange *topoChange // a change waiting for the coordinator
	// settleAt is the leader's safe LSN (>= commit) when its topology
	// took effect (the epoch's first LSN after a promotion). The topology is settled
	// once SyncCount members of its sync list hold it: from then on its
	// sync set alone holds every acknowledged write, and the coordinator
	// may forget the sync lists before it. No change starts before the
	// one in force has settled and the coordinator has heard so.
	settleAt    LSN
	settled     bool
	settleAcked bool // the coordinator recorded the topology as settled
	// transferTarget is the node a switchover hands over to; while it is
	// set the leader refuses new writes.
	transferTarget NodeID
	transferReady  bool
	transferSince  uint64 // tick the transfer began; it gives up on its own
}

// topoChange is a topology or commit-mode change that takes effect only
// when the coordinator acknowledges it: failover must always know which
// nodes may hold acknowledged writes.
type topoChange struct {
	update TopologyUpdate
	apply  func()
}

// topology is the leader's current topology.
func (c *core) topology() Topology {
	return Topology{Leader: c.id, Sync: slices.Clone(c.syncList), Async: slices.Clone(c.asyncList)}
}

// statusUpdate is what the leader tells the coordinator: its pending
// change if it has one, else what is in force.
func (c *core) statusUpdate() *TopologyUpdate {
	cur := &TopologyUpdate{Topology: c.topology(), Version: c.topoVersion, Degraded: c.degraded, DegradedFrom: c.degradedFrom, Settled: c.settled}
	if c.pendingChange != nil {
		u := c.pendingChange.update
		u.Topology = u.Topology.clone() // callers edit the copy's lists
		u.Settled, u.Base = false, cur
		return &u
	}
	return cur
}

// sendStatus reports to the coordinator. The coordinator bases the
// candidate rule on a new epoch's topology only once it is settled (its
// sync set holds everything acknowledged before the promotion); a change
// carries the topology it changes, so the coordinator can count both
// until the change has settled.
func (c *core) sendStatus() {
	c.checkSettled()
	c.send(Message{Kind: MsgStatus, To: CoordinatorID, Commit: c.commit, Last: c.last, Update: c.statusUpdate()})
}

// topologyTookEffect starts the settling of the topology now in force:
// its sync set must come to hold what is committed so far.
func (c *core) topologyTookEffect(at LSN) {
	c.settleAt, c.settled, c.settleAcked = at, false, false
	if c.checkSettled(); c.settled && c.role == roleLeader {
		c.sendStatus()
	}
}

// checkSettled notes when SyncCount members of the sync list hold
// settleAt at the commit rule's level (any coordinator's fencing quorum
// then meets one of them). Under asynchronous commit there is nothing to
// hold.
func (c *core) checkSettled() {
	if !c.cfg.coordinated {
		c.settled, c.settleAcked = true, true // nobody to tell
	}
	if c.settled {
		return
	}
	level := c.cfg.ackLevel
	if level == Local || len(c.syncList) == 0 {
		c.settled = true
		return
	}
	c.acks = c.acks[:0]
	for _, id := range c.syncList {
		if p := c.progressOf(id); p != nil {
			c.acks = append(c.acks, p.ack(level))
		}
	}
	c.settled = quorumLSN(c.acks, c.cfg.syncCount) >= c.settleAt
}

// changeTopology makes a change once the coordinator has recorded u (at
// once without a coordinator). One change at a time, and only from a
// settled topology the coordinator knows is settled: it must never have
// to count more than two sync lists.
func (c *core) changeTopology(u TopologyUpdate, apply func()) {
	if !c.cfg.coordinated {
		c.topoVersion++
		apply()
		return
	}
	if c.pendingChange != nil || !c.settleAcked {
		return
	}
	u.Version, u.Settled, u.Base = c.topoVersion+1, false, nil
	c.pendingChange = &topoChange{update: u, apply: apply}
	c.sendStatus()
}

// handleStatusAck applies the pending change the coordinator recorded, or
// notes that it recorded the topology in force as settled.
func (c *core) handleStatusAck(m Message) {
	if c.role != roleLeader || m.Epoch != c.epoch || m.Update == nil {
		return
	}
	if m.Update.Version == c.topoVersion && m.Update.Settled && c.settled {
		c.settleAcked = true
		return
	}
	pc := c.pendingChange
	if pc == nil || m.Update.Version != pc.update.Version {
		return
	}
	c.pendingChange = nil
	c.topoVersion = pc.update.Version
	before, wasDegraded := slices.Clone(c.syncList), c.degraded
	pc.apply()
	c.noteTopology(c.topology(), c.topoVersion)
	if !slices.Equal(before, c.syncList) || wasDegraded && !c.degraded {
		// A new sync list, or a restore after a degrade (the writes
		// acknowledged by the leader alone must reach the sync set), must
		// settle. The same sync list otherwise (a degrade, an async
		// follower added or removed) holds what it held. It settles at
		// safe, not commit: under AckLevel Applied followers were told to
		// apply up to safe, and what a follower applied must survive a
		// failover that trusts the new sync list alone.
		c.topologyTookEffect(c.safe)
	}
}

// handleTransfer starts or cancels a switchover.
func (c *core) handleTransfer(m Message) {
	if c.role != roleLeader || m.Epoch != c.epoch {
		return
	}
	if m.Kind == MsgTransferAbort {
		c.transferTarget, c.transferReady = "", false
		return
	}
	if c.progressOf(m.Target) == nil {
		c.logf("switchover target %s is not a follower", m.Target)
		return
	}
	c.transferTarget, c.transferReady, c.transferSince = m.Target, false, c.tick
	c.sendAppends(c.progressOf(m.Target), true)
}

// checkTransfer tells the coordinator the leader is ready to hand over:
// every write it accepted is committed and the target holds them all.
func (c *core) checkTransfer() {
	if c.transferTarget == "" {
		return
	}
	if c.tick-c.transferSince > uint64(2*c.cfg.suspectTicks) {
		// The coordinator gave up (its abort may have been lost) or is
		// cut off: take writes again rather than refuse them forever.
		c.logf("switchover to %s abandoned after %d ticks", c.transferTarget, c.tick-c.transferSince)
		c.transferTarget, c.transferReady = "", false
		return
	}
	if c.transferReady {
		return
	}
	p := c.progressOf(c.transferTarget)
	if p == nil {
		c.logf("switchover target %s is no longer a follower; taking writes again", c.transferTarget)
		c.transferTarget = ""
		return
	}
	if c.commit == c.last.LSN && p.durable >= c.last.LSN {
		c.transferReady = true
		c.send(Message{Kind: MsgTransferReady, To: CoordinatorID, Target: c.transferTarget, Last: c.last})
	}
}
