package replstore

import (
	"fmt"
	"slices"

	"pgregory.net/rapid"
)

// Membership under faults: every run may draw SetSync, AddFollower and
// RemoveFollower, racing crashes, partitions and failovers. The world
// models what Cluster does around the leader's core (members.go): an
// added node starts with an empty log and hard state before the leader
// is asked, and the leader seeds it; a removed one is stopped once the
// removal has settled. A client waits for its change a bounded time (its
// context) and then acts on the outcome as Cluster does.

// simMemberKinds are the membership steps every run may draw.
var simMemberKinds = []simOpKind{simSetSync, simAddFollower, simRemoveFollower}

// simSpareIDs is how many node IDs past Nodes an AddFollower may name.
const simSpareIDs = 2

func drawSimMemberOp(t *rapid.T, p simParams, op simOp) simOp {
	switch op.Kind {
	case simSetSync:
		op.Node = rapid.IntRange(0, p.Nodes-1).Draw(t, "node")
		op.Arg = rapid.IntRange(0, 1).Draw(t, "sync")
	case simAddFollower:
		op.Node = rapid.IntRange(0, p.Nodes+simSpareIDs-1).Draw(t, "id")
		op.Arg = rapid.IntRange(0, 1).Draw(t, "again")
	case simRemoveFollower:
		op.Node = rapid.IntRange(0, p.Nodes-1).Draw(t, "node")
	}
	return op
}

// simID names the k-th node ID (0-based): n1, n2, ...
func simID(k int) NodeID { return NodeID(fmt.Sprintf("n%d", k+1)) }

// simMemberCall is a client's AddFollower, RemoveFollower or SetSync
// waiting for its change to be in force and settled on the leader that
// accepted it (Cluster.reconfigure's wait).
type simMemberCall struct {
	id     NodeID
	role   memberRole
	add    bool
	leader *simNode
	core   *core // the leader's core that accepted the change
	// accepted: the leader may have taken the change, as Cluster sees
	// it: the call is queued or ran without error (a client that gives up
	// does not know whether a queued call ran).
	accepted bool
	ran      bool  // the leader took the call
	until    int64 // virtual µs the client gives up at
	step     int
}

// simMemberWaitTicks is how long a client waits for its change.
func (w *simWorld) simMemberWaitTicks() int64 {
	return int64(2*w.p.SuspectTicks + w.p.FenceTicks)
}

// doMember runs a membership step.
func (w *simWorld) doMember(op simOp) {
	switch op.Kind {
	case simSetSync:
		role := memberAsync
		if op.Arg == 1 {
			role = memberSync
		}
		w.reconfigure(w.nodes[op.Node%len(w.nodes)].id, role, false)
	case simRemoveFollower:
		w.reconfigure(w.nodes[op.Node%len(w.nodes)].id, memberRemoved, false)
	case simAddFollower:
		id := simID(op.Node)
		if op.Arg == 1 && len(w.gone) > 0 {
			id = w.gone[len(w.gone)-1].id // the node removed last, back at once
		}
		if w.lookup(id) != nil {
			w.trace.add(simTraceRec{now: w.now, what: traceMember, node: id, text: "add: already exists"})
			return
		}
		// Cluster.AddFollower starts the node, empty, then asks the leader.
		n := &simNode{id: id, idx: w.net.index[id], log: newSimLog(), stable: NewMemHardState()}
		w.nodes = append(w.nodes, n)
		w.trace.add(simTraceRec{now: w.now, what: traceMember, node: id, text: "started, empty"})
		w.startNode(n)
		w.afterStep(n)
		w.stats.joins++
		delete(w.dropped, id)
		w.reconfigure(id, memberAsync, true)
	}
}

// reconfigure is Cluster.reconfigure: ask the leader, then wait.
func (w *simWorld) reconfigure(id NodeID, role memberRole, add bool) {
	call := &simMemberCall{id: id, role: role, add: add, until: w.now + w.simMemberWaitTicks()*simTick, step: w.step}
	ldr := w.currentLeader()
	if ldr == nil {
		w.memberDone(call, "no leader")
		return
	}
	call.leader, call.accepted = ldr, true
	w.memberCalls = append(w.memberCalls, call)
	w.input(ldr, []simInput{{call: -1, ctl: func(c *core) {
		call.ran = true
		err := c.reconfigure(id, role, add)
		w.trace.add(simTraceRec{now: w.now, what: traceMember, node: id, peer: c.id, text: fmt.Sprintf("make %v: leader says %q", role, errText(err))})
		if err != nil {
			if slices.Contains(w.memberCalls, call) {
				w.memberCalls = slices.DeleteFunc(w.memberCalls, func(o *simMemberCall) bool { return o == call })
				call.accepted = false
				w.memberDone(call, err.Error())
			}
			return
		}
		call.core = c
	}}})
}

// checkMemberCalls ends the calls whose change is in force and settled
// on the leader that accepted them, or whose client gave up.
func (w *simWorld) checkMemberCalls() {
	for i := 0; i < len(w.memberCalls) && w.fail == nil; i++ {
		call := w.memberCalls[i]
		c := call.core
		why := ""
		switch {
		case c != nil && call.leader.core == c && c.changeSettled(call.id, call.role):
		case w.now >= call.until:
			why = "timed out"
		case call.leader.core == nil || (c != nil && call.leader.core != c):
			why = "the leader stopped"
			call.accepted = call.ran
		default:
			continue
		}
		w.memberCalls = slices.Delete(w.memberCalls, i, i+1)
		i--
		w.memberDone(call, why)
	}
}

// memberDone ends a client's membership call as Cluster does: a removal
// in force stops the node; a failed add stops it only if the leader
// never took the change (once it did, the coordinator may record it).
func (w *simWorld) memberDone(call *simMemberCall, why string) {
	w.trace.add(simTraceRec{now: w.now, what: traceMember, node: call.id, text: fmt.Sprintf("make %v: client hears %q", call.role, why)})
	n := w.lookup(call.id)
	switch {
	case n == nil:
	case why == "" && call.role == memberRemoved:
		w.forget(n)
	case why != "" && call.add && forgetAfterFailedAdd(call.accepted):
		w.forget(n)
	}
}

// forget stops n and takes it out of the cluster, as Cluster.forget.
func (w *simWorld) forget(n *simNode) {
	w.trace.add(simTraceRec{now: w.now, what: traceMember, node: n.id, text: "stopped and forgotten"})
	w.crash(n)
	w.nodes = slices.DeleteFunc(w.nodes, func(o *simNode) bool { return o == n })
	w.gone = append(w.gone, n)
	w.stats.leaves++
	w.checkCoordTopology()
}

// lookup is the running cluster's node id, nil if it has none.
func (w *simWorld) lookup(id NodeID) *simNode {
	for _, n := range w.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// anyNode is node id, or the last node of that ID that was forgotten
// (its log is still what it sent).
func (w *simWorld) anyNode(id NodeID) *simNode {
	if n := w.lookup(id); n != nil {
		return n
	}
	for i := len(w.gone) - 1; i >= 0; i-- {
		if w.gone[i].id == id {
			return w.gone[i]
		}
	}
	return nil
}

// endMemberCalls: at the liveness phase every waiting client gives up.
func (w *simWorld) endMemberCalls() {
	for _, call := range w.memberCalls {
		w.memberDone(call, "the client gave up")
	}
	w.memberCalls = nil
}

// simGhostMember marks a topology naming a node the cluster no longer
// runs.
const simGhostMember = "a ghost: the topology names a node the cluster forgot"

// simRemovedPromoted marks a promotion, sync slot or switchover target
// that is not a member of the topology the round was decided on.
const simRemovedPromoted = "the decision names a node the topology no longer has"

// checkDecisionMembers: a promotion names only members of the topology
// the coordinator holds (or of one still counting).
func (w *simWorld) checkDecisionMembers(v FailoverView, d Decision) {
	known := func(id NodeID) bool {
		if v.Topology.has(id) {
			return true
		}
		return slices.ContainsFunc(v.Earlier, func(e TopologyUpdate) bool { return e.Topology.has(id) })
	}
	for _, id := range append([]NodeID{d.Promote}, d.Topology.followers()...) {
		if !known(id) || w.lookup(id) == nil {
			w.violate("the promotion to epoch %d (promote %s, sync %v, async %v) names %s, which is not in the topology (sync %v async %v) or is gone: %s",
				v.NewEpoch, d.Promote, d.Topology.Sync, d.Topology.Async, id, v.Topology.Sync, v.Topology.Async, simRemovedPromoted)
			return
		}
	}
}

// members are the nodes the leader's topology names (the leader first);
// ghost is a node it names that the cluster no longer runs.
func (w *simWorld) members(l *simNode) (out []*simNode, ghost NodeID) {
	for _, id := range append([]NodeID{l.id}, l.core.topology().followers()...) {
		n := w.lookup(id)
		if n == nil {
			return nil, id
		}
		out = append(out, n)
	}
	return out, ""
}

// removeOrphans: after the liveness phase, a node the cluster runs but
// no topology names (an add that failed before it took effect, a
// removal whose client gave up) is removed by the operator, as
// Cluster.RemoveFollower does for a node the leader does not know.
func (w *simWorld) removeOrphans(l *simNode) {
	for _, n := range slices.Clone(w.nodes) {
		if n != l && !l.core.topology().has(n.id) && !w.coord.update.Topology.has(n.id) {
			w.forget(n)
		}
	}
}
