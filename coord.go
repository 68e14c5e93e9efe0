package replstore

import (
	"fmt"
	"maps"
	"slices"
)

// CoordinatorID is the in-process coordinator's address on the network.
// Being a network peer, it is cut off by partitions like any node.
const CoordinatorID NodeID = "coordinator"

// coordConfig is what the coordinator core reads.
type coordConfig struct {
	quorum        Quorum
	syncCount     int
	ackLevel      AckLevel
	suspectTicks  int  // a follower suspects after this many silent ticks
	fenceTicks    int  // a fencing round gives up after this many ticks
	auto          bool // promote on suspicion, not only on request
	allowDataLoss bool // automatic failover may promote without a quorum
	decider       Coordinator
}

// coordCore is the coordinator's deterministic state machine: it watches
// the leader's status and the followers' suspicions, runs fencing rounds
// and promotes. Like a node's core, it takes one input at a time and
// collects outputs; it starts no goroutine and reads no clock.
type coordCore struct {
	cfg  *coordConfig
	tick uint64

	epoch  Epoch  // highest epoch known; only grows
	leader NodeID // leader of epoch, "" during a failover
	// update is the topology in force as the leader of updateEpoch last
	// reported it. A promotion does not replace it: until the promoted
	// node leads and reports, the old topology says who may hold
	// acknowledged writes.
	update      TopologyUpdate
	updateEpoch Epoch
	// earlier are the topologies in force before update whose sync sets
	// may still hold acknowledged writes that update's sync set lacks:
	// the candidate rule must hold for each of them too. A change the
	// leader proposed is recorded at once, before the leader applies it,
	// and it settles only once its sync set holds what the old one
	// acknowledged; until the leader reports it settled, both count.
	earlier []TopologyUpdate
	// bases holds where each epoch promoted here began (FailoverView.Bases).
	bases map[Epoch]Position
	// lastLeader is the last node known to lead (FailoverView.LastLeader):
	// set by a promotion and by a leader's status, kept when a round fails.
	lastLeader   NodeID
	leaderCommit LSN // highest commit LSN the leader of epoch reported
	// lastStatus is the tick of the leader's latest status: its lease.
	// While it is fresh the leader is alive as far as the coordinator can
	// tell, and no suspicion fails it over.
	lastStatus uint64

	suspects   map[NodeID]uint64 // follower -> tick of its latest suspicion of epoch
	quietUntil uint64            // no automatic failover before this tick
	round      *fenceRound
	transfer   *transfer

	msgs    []Message
	events  []Event
	results []roundResult
}

// fenceRound is one failover or switchover in progress.
type fenceRound struct {
	id        uint64 // 0 for an automatic failover
	epoch     Epoch
	started   uint64
	quorumAt  uint64 // tick the quorum was first met; 0 if not yet
	replies   map[NodeID]Position
	target    NodeID
	allowLoss bool
	reason    string
}

// transfer is a switchover waiting for the leader to be ready.
type transfer struct {
	id      uint64
	target  NodeID
	started uint64
}

// roundResult is the outcome of a requested failover or switchover.
type roundResult struct {
	id       uint64
	decision Decision
	err      error
}

func newCoordCore(cfg *coordConfig, leader NodeID, epoch Epoch, topo Topology) *coordCore {
	return &coordCore{cfg: cfg, epoch: epoch, leader: leader, lastLeader: leader,
		update: TopologyUpdate{Topology: topo.clone()}, suspects: map[NodeID]uint64{}, bases: map[Epoch]Position{}}
}

func (c *coordCore) send(m Message) {
	if m.To == "" {
		return // no leader to tell
	}
	m.From = CoordinatorID
	c.msgs = append(c.msgs, m)
}

func (c *coordCore) emit(e Event) {
	e.Node = CoordinatorID
	if e.Epoch == 0 {
		e.Epoch = c.epoch
	}
	c.events = append(c.events, e)
}

// step handles one message.
func (c *coordCore) step(m Message) {
	switch m.Kind {
	case MsgStatus:
		c.onStatus(m)
	case MsgSuspect:
		// A follower that has not even heard of the current epoch has
		// not heard from its leader either.
		if m.Epoch <= c.epoch && m.From != c.leader {
			c.suspects[m.From] = c.tick
			c.maybeFailover()
		}
	case MsgFenceResp:
		c.onFenceResp(m)
	case MsgTransferReady:
		c.onTransferReady(m)
	}
}

// onStatus records the leader's report and acknowledges its topology; a
// leader of an older epoch is told to step down.
func (c *coordCore) onStatus(m Message) {
	switch {
	case m.Epoch < c.epoch || (m.Epoch == c.epoch && c.leader != m.From):
		c.send(Message{Kind: MsgFence, To: m.From, Epoch: c.epoch})
		return
	case m.Epoch > c.epoch:
		c.epoch = m.Epoch // a promotion we did not see end (restart)
	}
	c.leader, c.lastLeader = m.From, m.From
	c.lastStatus = c.tick
	c.leaderCommit = max(c.leaderCommit, m.Commit)
	if u := m.Update; u != nil {
		if u.Base != nil {
			c.record(m.From, m.Epoch, *u.Base)
		}
		c.record(m.From, m.Epoch, *u)
	}
}

// record takes the topology the leader of epoch reports and acknowledges
// it: a settled one replaces everything before it; a proposed change is
// recorded (so that the leader may apply it) next to the one it changes,
// which keeps counting until the change has settled. A new epoch's
// topology counts only once settled: until then the old epoch's sync
// lists say who holds the acknowledged writes.
func (c *coordCore) record(from NodeID, epoch Epoch, u TopologyUpdate) {
	u.Base = nil
	u.Topology = u.Topology.clone()
	switch {
	case epoch > c.updateEpoch && !u.Settled:
		return
	case epoch > c.updateEpoch || u.Version > c.update.Version && u.Settled:
		c.update, c.updateEpoch, c.earlier = u, epoch, nil
	case u.Version > c.update.Version:
		if sameWrites(c.update, u) {
			u.Settled = c.update.Settled // same sync list, same writes
		} else {
			c.earlier = append(c.earlier, c.update)
		}
		c.update = u
	case u.Version < c.update.Version:
		return
	case u.Settled:
		c.update.Settled, c.earlier = true, nil
	}
	c.send(Message{Kind: MsgStatusAck, To: from, Epoch: epoch, Update: &TopologyUpdate{Version: u.Version, Settled: u.Settled}})
}

// onTick advances time: suspicions age, rounds time out.
func (c *coordCore) onTick() {
	c.tick++
	if r := c.round; r != nil {
		switch {
		case r.quorumAt != 0 && c.tick > r.quorumAt:
			c.decide()
		case c.tick-r.started >= uint64(c.cfg.fenceTicks):
			c.decide()
		}
	}
	if t := c.transfer; t != nil && c.round == nil && c.tick-t.started >= uint64(2*c.cfg.fenceTicks+c.cfg.suspectTicks) {
		c.transfer = nil
		if c.leader != "" {
			c.send(Message{Kind: MsgTransferAbort, To: c.leader, Epoch: c.epoch})
		}
		c.results = append(c.results, roundResult{id: t.id,
			err: fmt.Errorf("replstore: switchover to %s timed out: the leader was not ready (its writes did not commit, or %s did not catch up)", t.target, t.target)})
	}
	c.maybeFailover()
}

// maybeFailover starts an automatic failover when the leader's lease has
// run out (no status for SuspectTicks) and enough followers suspect it: as
// many as a fencing round needs. Both must hold, so neither a follower cut
// off on its own nor a coordinator cut off from a working leader causes a
// failover.
func (c *coordCore) maybeFailover() {
	if !c.cfg.auto || c.round != nil || c.tick < c.quietUntil {
		return
	}
	if c.leader == "" {
		// A fencing round failed: the nodes it reached refuse the old
		// leader, so someone must be promoted. Try again.
		c.startRound(0, "", c.cfg.allowDataLoss, "the last fencing round promoted nobody")
		return
	}
	if c.tick-c.lastStatus <= uint64(c.cfg.suspectTicks) {
		return
	}
	recent := 0
	for id, at := range c.suspects {
		if c.tick-at <= uint64(c.cfg.suspectTicks) && c.update.Topology.has(id) && id != c.leader {
			recent++
		}
	}
	if recent >= c.suspicionQuorum() {
		c.startRound(0, "", c.cfg.allowDataLoss, fmt.Sprintf("%d followers have not heard from leader %s for %d ticks", recent, c.leader, c.cfg.suspectTicks))
	}
}

// suspicionQuorum is how many followers must suspect the leader: as many
// as must answer a fencing round for it to be safe. A leader without
// followers (all removed, under asynchronous commit) has nobody to
// suspect it: its lease alone decides, and the round must reach it.
func (c *coordCore) suspicionQuorum() int {
	if n := len(c.update.Topology.Sync); n > 0 {
		return n - c.cfg.syncCount + 1
	}
	if len(c.update.Topology.Async) == 0 {
		return 0
	}
	return len(c.update.Topology.Async)/2 + 1
}

// sameWrites reports whether to's sync set holds what from's does as soon
// as to is in force: the same sync list, and not a restore after a degrade
// (the writes the leader acknowledged alone must reach the sync set first).
func sameWrites(from, to TopologyUpdate) bool {
	return slices.Equal(from.Topology.Sync, to.Topology.Sync) && (to.Degraded || !from.Degraded)
}

// members are the nodes of the topology in force: the ones a fencing
// round must reach.
func (c *coordCore) members() []NodeID {
	t := c.update.Topology
	ids := append([]NodeID{t.Leader}, t.followers()...)
	for _, e := range c.earlier {
		for _, id := range append([]NodeID{e.Topology.Leader}, e.Topology.followers()...) {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// requestFailover starts a failover now (Cluster.Failover).
func (c *coordCore) requestFailover(id uint64, allowLoss bool) {
	if c.round != nil || c.transfer != nil {
		c.results = append(c.results, roundResult{id: id, err: fmt.Errorf("replstore: a failover or switchover is already in progress")})
		return
	}
	c.startRound(id, "", allowLoss, "requested by the operator")
}

// requestSwitchover asks the leader to hand over to target.
func (c *coordCore) requestSwitchover(id uint64, target NodeID) {
	switch {
	case c.round != nil || c.transfer != nil:
		c.results = append(c.results, roundResult{id: id, err: fmt.Errorf("replstore: a failover or switchover is already in progress")})
	case c.leader == "":
		c.results = append(c.results, roundResult{id: id, err: fmt.Errorf("%w: no leader to switch over from", ErrNodeDown)})
	case target == c.leader:
		c.results = append(c.results, roundResult{id: id, decision: Decision{Promote: target, Topology: c.update.Topology.clone(), Reason: "already the leader"}})
	case !slices.Contains(c.update.Topology.followers(), target):
		c.results = append(c.results, roundResult{id: id, err: fmt.Errorf("%w: %q is not a follower in %v", ErrUnknownNode, target, c.update.Topology)})
	default:
		c.transfer = &transfer{id: id, target: target, started: c.tick}
		c.send(Message{Kind: MsgTransfer, To: c.leader, Epoch: c.epoch, Target: target})
	}
}

// onTransferReady: the leader has committed everything and the target
// holds it; fence everyone and promote the target.
func (c *coordCore) onTransferReady(m Message) {
	t := c.transfer
	if t == nil || m.From != c.leader || m.Epoch != c.epoch || m.Target != t.target {
		return
	}
	c.transfer = nil
	c.startRound(t.id, t.target, false, fmt.Sprintf("switchover from %s to %s", c.leader, t.target))
}

// startRound fences every node with a new epoch; the answers decide.
func (c *coordCore) startRound(id uint64, target NodeID, allowLoss bool, reason string) {
	r := &fenceRound{id: id, epoch: c.epoch + 1, started: c.tick, replies: map[NodeID]Position{},
		target: target, allowLoss: allowLoss, reason: reason}
	c.round = r
	c.emit(Event{Kind: EventFailoverStarted, Epoch: r.epoch, Peer: c.leader, LSN: c.leaderCommit, Detail: reason})
	for _, id := range c.members() {
		c.send(Message{Kind: MsgFence, To: id, Epoch: r.epoch})
	}
}

// onFenceResp records a node that took the new epoch.
func (c *coordCore) onFenceResp(m Message) {
	r := c.round
	if r == nil {
		return
	}
	if m.Reject || m.Epoch > r.epoch {
		// It saw a newer epoch than ours: try again above it.
		c.epoch = max(c.epoch, m.Epoch)
		c.finish(Decision{}, fmt.Errorf("replstore: failover raced with epoch %d; retrying", m.Epoch))
		return
	}
	if m.Epoch != r.epoch {
		return
	}
	r.replies[m.From] = m.Last
	if r.quorumAt == 0 && c.quorumMet(r) {
		r.quorumAt = c.tick
	}
	if len(r.replies) == len(c.members()) {
		c.decide() // everyone answered: no reason to wait
	}
}

// quorumMet reports whether enough sync followers answered for a safe
// decision (or, under async commit, a majority of the followers): the
// count QuorumCoordinator needs.
func (c *coordCore) quorumMet(r *fenceRound) bool {
	t := c.update.Topology
	counted := t.followers()
	if len(t.Sync) > 0 && c.cfg.ackLevel != Local {
		counted = t.Sync
	}
	if r.target != "" {
		if _, ok := r.replies[r.target]; !ok {
			return false
		}
	}
	if len(counted) == 0 {
		// No followers: only the old leader holds the writes.
		if _, ok := r.replies[t.Leader]; !ok {
			return false
		}
	}
	if heard(r.replies, counted) < c.suspicionQuorum() {
		return false
	}
	for _, e := range c.earlier {
		if c.cfg.ackLevel != Local && heard(r.replies, e.Topology.Sync) < len(e.Topology.Sync)-c.cfg.syncCount+1 {
			return false
		}
	}
	return true
}

// heard counts the nodes of ids that replied.
func heard(replies map[NodeID]Position, ids []NodeID) int {
	n := 0
	for _, id := range ids {
		if _, ok := replies[id]; ok {
			n++
		}
	}
	return n
}

// decide asks the Coordinator and promotes, or gives up.
func (c *coordCore) decide() {
	r := c.round
	// A member removed while the round ran (the leader's change was
	// recorded before it heard of the round) may have answered: it is
	// no candidate, no sync follower and no switchover target, for it may
	// be stopped at any moment. Every write it may hold that matters is
	// on the topologies that still count (members covers them).
	members := c.members()
	maps.DeleteFunc(r.replies, func(id NodeID, _ Position) bool { return !slices.Contains(members, id) })
	if r.target != "" && !c.update.Topology.has(r.target) {
		// A switchover to a node removed since it began: the node counts
		// for the candidate rule (an earlier topology names it) but is no
		// target; the switchover fails as if it had not answered.
		delete(r.replies, r.target)
	}
	v := FailoverView{OldEpoch: c.epoch, NewEpoch: r.epoch, Topology: c.update.Topology.clone(), LastLeader: c.lastLeader, Earlier: cloneUpdates(c.earlier),
		Quorum: c.cfg.quorum, SyncCount: c.cfg.syncCount, AckLevel: c.cfg.ackLevel,
		Degraded: c.update.Degraded, DegradedFrom: c.update.DegradedFrom, LeaderCommit: c.leaderCommit,
		Replies: r.replies, Bases: maps.Clone(c.bases), Target: r.target, AllowDataLoss: r.allowLoss}
	d, err := c.cfg.decider.Decide(v)
	var failed error // a switchover that could not reach its target
	if err != nil && r.target != "" {
		// Every node has taken the new epoch: promoting nobody would
		// leave the cluster without a leader (for good under
		// ManualFailover). If the old leader answered the round, it
		// keeps leading, in the new epoch: it acknowledged every write of
		// its epoch itself, held every earlier one when it was promoted,
		// and no other epoch has acknowledged anything since (this round
		// is the only one). The switchover fails.
		if last, ok := r.replies[c.leader]; ok && c.leader != "" {
			failed = fmt.Errorf("switchover to %s did not happen (%w); %s keeps leading, in epoch %d", r.target, err, c.leader, r.epoch)
			d = Decision{Promote: c.leader, Topology: v.Topology.promote(c.leader, ""), LeaderCommit: c.leaderCommit,
				Reason: fmt.Sprintf("switchover target %s unreachable; the old leader, at %v, keeps leading", r.target, last)}
			err = nil
		}
	}
	if err != nil {
		c.emit(Event{Kind: EventFailoverBlocked, Epoch: r.epoch, LSN: c.leaderCommit, Detail: err.Error()})
		c.finish(Decision{}, err)
		return
	}
	if !d.MayLose.Empty() {
		c.emit(Event{Kind: EventDataLoss, Epoch: r.epoch, Peer: d.Promote, LSN: d.MayLose.From,
			Detail: fmt.Sprintf("promoting %s may lose acknowledged LSNs %v: the old leader reported commit LSN %d last, and may have acknowledged more since (%s)",
				d.Promote, d.MayLose, d.LeaderCommit, d.Reason)})
	}
	c.bases[r.epoch] = r.replies[d.Promote]
	c.epoch, c.leader, c.lastLeader, c.leaderCommit, c.lastStatus = r.epoch, d.Promote, d.Promote, 0, c.tick
	c.send(Message{Kind: MsgPromote, To: d.Promote, Epoch: r.epoch, Last: r.replies[d.Promote], Update: &TopologyUpdate{Topology: d.Topology.clone()}})
	c.emit(Event{Kind: EventPromoted, Epoch: r.epoch, Peer: d.Promote, Members: d.Topology.Sync,
		Detail: fmt.Sprintf("%s (%s); sync %v async %v", d.Reason, r.reason, d.Topology.Sync, d.Topology.Async)})
	c.finish(d, failed)
}

// finish ends the round, answers whoever asked for it and keeps the
// coordinator quiet for a while, so that flapping cannot cause a
// promotion storm.
func (c *coordCore) finish(d Decision, err error) {
	r := c.round
	c.round = nil
	if err != nil && d.Promote == "" {
		// The nodes that took the round's epoch no longer follow the old
		// leader, which will be fenced when it reports: there is no leader
		// until a later round promotes one, and that round must use a
		// higher epoch still.
		c.epoch, c.leader = max(c.epoch, r.epoch), ""
	}
	clear(c.suspects)
	c.quietUntil = c.tick + uint64(c.cfg.suspectTicks)
	if r.id != 0 {
		c.results = append(c.results, roundResult{id: r.id, decision: d, err: err})
	}
}

func cloneUpdates(us []TopologyUpdate) []TopologyUpdate {
	var out []TopologyUpdate
	for _, u := range us {
		u.Topology, u.Base = u.Topology.clone(), nil
		out = append(out, u)
	}
	return out
}
