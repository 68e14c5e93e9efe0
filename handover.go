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
	if c.pendingChange != nil {
		u := c.pendingChange.update
		u.Topology = u.Topology.clone() // callers edit the copy's lists
		return &u
	}
	return &TopologyUpdate{Topology: c.topology(), Version: c.topoVersion, Degraded: c.degraded, DegradedFrom: c.degradedFrom}
}

// sendStatus reports to the coordinator.
func (c *core) sendStatus() {
	m := Message{Kind: MsgStatus, To: CoordinatorID, Commit: c.commit, Last: c.last}
	if c.commit >= c.epochStart || c.epoch == 1 {
		// Only a leader that has committed in its epoch (so its sync set
		// holds everything acknowledged before) may have the coordinator
		// base the candidate rule on its topology; epoch 1's is the
		// configured one, which the coordinator starts from anyway.
		m.Update = c.statusUpdate()
	}
	c.send(m)
}

// changeTopology makes a change once the coordinator has recorded u (at
// once without a coordinator). One change waits at a time.
func (c *core) changeTopology(u TopologyUpdate, apply func()) {
	if !c.cfg.coordinated {
		c.topoVersion++
		apply()
		return
	}
	if c.pendingChange != nil {
		return
	}
	u.Version = c.topoVersion + 1
	c.pendingChange = &topoChange{update: u, apply: apply}
	c.sendStatus()
}

// handleStatusAck applies the pending change the coordinator recorded.
func (c *core) handleStatusAck(m Message) {
	pc := c.pendingChange
	if c.role != roleLeader || m.Epoch != c.epoch || pc == nil || m.Update == nil || m.Update.Version != pc.update.Version {
		return
	}
	c.pendingChange = nil
	c.topoVersion = pc.update.Version
	pc.apply()
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
