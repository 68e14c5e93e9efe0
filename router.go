package replstore

import (
	"context"
	"errors"
	"fmt"
)

// ReadRouter chooses, for one read, the replica that serves it and what
// that replica's view must include. The built-in modes are Leader,
// AnyFollower, SessionConsistent and BoundedStaleness (MaxLagEntries,
// MaxLagTime); a custom router (nearest region, least loaded) implements
// Route, and may delegate to a built-in mode for what it does not decide.
//
// Route may block (to wait for a replica to catch up, or to confirm
// leadership) but must return when ctx ends. It must not keep req or
// req.Replicas after it returns: both are reused by later reads.
type ReadRouter interface {
	Route(ctx context.Context, req *RouteRequest) (Target, error)
}

// Target is a router's choice: the node that serves the read, and the
// position its view must have reached. The read checks AtLeast against
// the view it actually reads (the node may have restarted since it was
// measured); a view that falls short is never served: the read is routed
// again, a few times, then fails with ErrNoReplica.
type Target struct {
	Node NodeID
	// AtLeast is what the serving view must satisfy, with
	// Token.SatisfiedBy's rule; the zero Position asks for nothing.
	// Views are positions of written entries (a Store's LastApplied), so
	// AtLeast should be a token or a write's Position.
	AtLeast Position

	node      *node // the runtime measured or confirmed; nil: Node's current one
	confirmed bool  // set by RouteRequest.ConfirmLeader: the read is linearizable
	// confirmRemote: the target leads and must prove it before it serves
	// (a Node's Leader read sent to another replica).
	confirmRemote bool
}

// RouteRequest is what a router decides on: the session's token and
// every node's state, measured without waiting for any node.
type RouteRequest struct {
	// Token is the reading session's high-water mark; zero for a read
	// outside a session.
	Token Token
	// Replicas is every node's state (Cluster.Replicas), in Nodes order:
	// the leader first, then the sync followers, then the async ones.
	// It is valid only while Route runs.
	Replicas []ReplicaState
	// Seq numbers the reads of a session from 0, so that a router can
	// rotate over replicas deterministically. Reads outside a session get
	// a random Seq, which spreads them over the followers.
	Seq uint64
	// Attempt is 0 on the first try, and counts the times the read was
	// routed again because the chosen view fell short of its Target.
	Attempt int

	be    routeBackend
	nodes []*node // the runtime measured for each of Replicas; nil if down
}

// routeBackend is what routes a read: a Cluster (a client of every node
// in the process, which reads each node's published state) or a Node
// (which knows the other replicas from what they advertise, and reaches
// them by messages).
type routeBackend interface {
	// appendReplicas appends every node's state to dst, and the runtime
	// measured for each to nodes (nil where none is local).
	appendReplicas(dst []ReplicaState, nodes []*node) ([]ReplicaState, []*node, error)
	WaitApplied(ctx context.Context, id NodeID, lsn LSN) error
	confirmLeader(ctx context.Context, tok Token) (Target, error)
	checkTokenHeld(ctx context.Context, pos Position) error
	config() *Config
	// advertised: the other replicas' states are as they advertised them
	// (a Node), not measured now (a Cluster).
	advertised() bool
}

// Refresh measures Replicas again, for a router that has waited.
func (r *RouteRequest) Refresh() error {
	clear(r.nodes)
	var err error
	r.Replicas, r.nodes, err = r.be.appendReplicas(r.Replicas[:0], r.nodes[:0])
	return err
}

// WaitApplied blocks until node id has applied lsn, ctx ends, or the node
// stops (Cluster.WaitApplied). It does not refresh Replicas. An id that
// is no replica fails at once with ErrUnknownNode, as does a Target
// naming one.
func (r *RouteRequest) WaitApplied(ctx context.Context, id NodeID, lsn LSN) error {
	return r.be.WaitApplied(ctx, id, lsn)
}

// ConfirmLeader proves that the running leader still leads (a round of
// heartbeats answered by its sync quorum in its epoch) and that it has
// applied every write committed before the call, and returns it as the
// Target: a read it serves is linearizable. A leader cut off from its
// sync followers cannot prove it: the call fails with ErrNoReplica when
// ctx ends, and never serves a possibly stale view.
func (r *RouteRequest) ConfirmLeader(ctx context.Context) (Target, error) {
	t, err := r.be.confirmLeader(ctx, r.Token)
	switch {
	case errors.Is(err, ErrClosed):
		return Target{}, err
	case err != nil:
		return Target{}, fmt.Errorf("%w (leader read): %w", ErrNoReplica, inner(err))
	}
	return t, nil
}

// confirmLeader implements routeBackend: the running leader proves it
// leads before the read is served.
func (cl *Cluster) confirmLeader(ctx context.Context, tok Token) (Target, error) {
	n, err := cl.confirmLeaderNode(ctx)
	if err != nil {
		return Target{}, err
	}
	return Target{Node: n.id, AtLeast: Position(tok), node: n, confirmed: true}, nil
}

func (cl *Cluster) config() *Config  { return &cl.cfg }
func (cl *Cluster) advertised() bool { return false }

// target chooses Replicas[i], served by the runtime that was measured.
func (r *RouteRequest) target(i int, atLeast Position) Target {
	t := Target{Node: r.Replicas[i].ID, AtLeast: atLeast}
	if i < len(r.nodes) {
		t.node = r.nodes[i]
	}
	return t
}

// leaderIndex returns the index in Replicas of the running leader: of
// the nodes that believe they lead, the one of the highest epoch (during
// a failover a deposed leader may not know yet).
func (r *RouteRequest) leaderIndex() (int, bool) {
	best := -1
	for i := range r.Replicas {
		if rs := &r.Replicas[i]; rs.Leader && !rs.Down && (best < 0 || rs.Epoch > r.Replicas[best].Epoch) {
			best = i
		}
	}
	return best, best >= 0
}

// state returns node id's state.
func (r *RouteRequest) state(id NodeID) (ReplicaState, bool) {
	for i := range r.Replicas {
		if r.Replicas[i].ID == id {
			return r.Replicas[i], true
		}
	}
	return ReplicaState{}, false
}

// isUpFollower reports whether rs is a running follower that may serve
// reads: one that has caught up since it started or joined (a node
// rebuilding from a snapshot has not).
func isUpFollower(rs *ReplicaState) bool { return !rs.Down && !rs.Leader && rs.CaughtUp }

// pickFollower rotates over the serving followers (isUpFollower) that
// satisfy ok (all of them if ok is nil), in Nodes order: read Seq goes to the (Seq mod m)-th
// of the m that qualify. It returns the index in Replicas.
func (r *RouteRequest) pickFollower(ok func(*ReplicaState) bool) (int, bool) {
	m := 0
	for i := range r.Replicas {
		if rs := &r.Replicas[i]; isUpFollower(rs) && (ok == nil || ok(rs)) {
			m++
		}
	}
	if m == 0 {
		return -1, false
	}
	k := int(r.Seq % uint64(m))
	for i := range r.Replicas {
		if rs := &r.Replicas[i]; isUpFollower(rs) && (ok == nil || ok(rs)) {
			if k == 0 {
				return i, true
			}
			k--
		}
	}
	panic("unreachable")
}

// mostAdvancedFollower returns the index of the serving follower that has
// applied the most, the first in Nodes order (sync followers first) on a
// tie.
func (r *RouteRequest) mostAdvancedFollower() (int, bool) {
	best := -1
	for i := range r.Replicas {
		if rs := &r.Replicas[i]; isUpFollower(rs) && (best < 0 || rs.Applied.LSN > r.Replicas[best].Applied.LSN) {
			best = i
		}
	}
	return best, best >= 0
}

// viewPick is a read routed on the replicaView: the view, the target,
// and the chosen follower's state, measured against the running leader's
// last LSN, leaderLast. It is filled in place: a read copies none of it.
type viewPick struct {
	view       *replicaView
	target     Target
	measured   ReplicaState
	leaderLast uint64
}

// pickOnView is the start of a built-in mode's route on the replicaView:
// the follower that read seq goes to, the (seq mod m)-th of the m serving
// followers, measured now (after the running leader's last LSN, as
// appendReplicas measures). It reports false when the view has no
// serving follower, or when the one chosen has stopped serving since the
// view was built (the view is then rebuilt once): Route decides those
// reads.
func (cl *Cluster) pickOnView(seq uint64, p *viewPick) bool {
	if cl.closed.Load() {
		return false
	}
	for range 2 {
		v := cl.replicaView()
		if len(v.up) == 0 {
			return false
		}
		i := v.up[seq%uint64(len(v.up))]
		if !cl.runs(v, i) {
			continue // it crashed or restarted: once more on a fresh view
		}
		p.view, p.leaderLast = v, 0
		if ldr := cl.leader.Load(); ldr != nil {
			p.leaderLast = ldr.pub.lastLSN.Load()
		}
		n, id := v.nodes[i], v.mem.list[i].id
		measure(&p.measured, id, n, p.leaderLast, cl.leader.Load())
		p.target = Target{Node: id, node: n}
		return isUpFollower(&p.measured)
	}
	return false
}

// leaderOnView returns the epoch of the view's leader (leaderIndex's
// choice) and the end of its log as Route sees it (its applied LSN plus
// its lag behind leaderLast), measured now; false if there is no leader
// or it has stopped leading since.
func (cl *Cluster) leaderOnView(v *replicaView, leaderLast uint64) (Epoch, LSN, bool) {
	if v.leader < 0 || !cl.runs(v, v.leader) {
		return 0, 0, false
	}
	p := &v.nodes[v.leader].pub
	ep, applied := Epoch(p.epoch.Load()), p.appliedLSN.Load()
	return ep, LSN(max(applied, leaderLast)), p.leading.Load()
}
