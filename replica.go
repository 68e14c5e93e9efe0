package replstore

import (
	"sync/atomic"
	"time"
)

// published is what a node's goroutine publishes after every batch of
// inputs, for readers on other goroutines (the read router) that must not
// wait for the node: its applied position and role, and, on the leader,
// the end of its log. Each value is current as of the node's last batch.
type published struct {
	appliedLSN   atomic.Uint64
	appliedEpoch atomic.Uint64
	appliedTime  atomic.Int64 // leader's clock on the applied entry (Unix ns); 0: unknown (nothing applied, or state restored from a snapshot or rebuilt)
	// firstTime is, on a leader, the leader's clock on the oldest entry
	// its log holds (Unix ns): the lag of a replica whose appliedTime is
	// unknown is measured from it (lagTime). It only moves forward, as
	// compaction drops entries; 0 until the node has led.
	firstTime  atomic.Int64
	firstLSN   LSN // the entry firstTime is of (owned by the node's goroutine)
	lastLSN    atomic.Uint64
	leaderLast atomic.Uint64 // the end of the leader's log as this node knows it
	epoch      atomic.Uint64
	leading    atomic.Bool
	caughtUp   atomic.Bool

	announced bool // the node's goroutine has published once (owned by it)
}

// publish copies the core's state; called on the node's goroutine. The
// leader publishes its last LSN before it sends the entries, so no
// follower can hold an entry past a published last LSN. When the node's
// role, epoch or caught-up state changes, and on its first batch (it has
// just started), it invalidates the read path's replicaView, after the
// new values are visible. It stores only what changed: a node publishes
// several times a batch, and an atomic store costs a fence that a load
// does not.
func (n *node) publish() {
	c, p := n.core, &n.pub
	leading, ep := c.role == roleLeader, uint64(c.epoch)
	caughtUp := leading || c.caughtUp
	reshaped := !p.announced || p.leading.Load() != leading || p.caughtUp.Load() != caughtUp || p.epoch.Load() != ep
	storeChanged(&p.lastLSN, uint64(c.last.LSN))
	if leading {
		storeChanged(&p.leaderLast, uint64(c.last.LSN))
	} else {
		storeChanged(&p.leaderLast, uint64(max(c.leaderLast, c.last.LSN)))
	}
	if len(c.ads) > 0 {
		if cur := n.adsPub.Load(); cur == nil || len(*cur) != len(c.ads) || &(*cur)[0] != &c.ads[0] {
			ads := new([]ReplicaState) // once per tick at most: allocated only when it changed
			*ads = c.ads
			n.adsPub.Store(ads)
		}
	}
	if reshaped {
		p.epoch.Store(ep)
		p.leading.Store(leading)
		p.caughtUp.Store(caughtUp)
		p.announced = true
		n.env.shaped(n)
	}
	if leading {
		if first := c.log.First(); first != p.firstLSN && first <= c.last.LSN {
			// A log that compacted everything keeps the older time: still
			// no later than any entry a replica lacks.
			if ents, err := c.log.Entries(first, first); err == nil && len(ents) == 1 {
				p.firstLSN = first
				p.firstTime.Store(ents[0].Time)
			}
		}
	}
	if LSN(p.appliedLSN.Load()) != c.applied {
		p.appliedTime.Store(c.appliedTime)
		p.appliedEpoch.Store(uint64(c.epochAtApplied()))
		p.appliedLSN.Store(uint64(c.applied))
	}
}

// storeChanged stores v in a unless a holds it already. Only the node's
// goroutine stores into its published values, so the load cannot miss a
// concurrent store.
func storeChanged(a *atomic.Uint64, v uint64) {
	if a.Load() != v {
		a.Store(v)
	}
}

// lagTime is the LagTime at now of a replica published in p that lags
// the leader ldr: the time since the leader wrote the newest entry the
// replica has applied or, when that is unknown (it has applied nothing,
// or its state came from a snapshot or a rebuild), the oldest entry the
// leader's log holds. Either is no later than the oldest entry the
// replica lacks, so both bound its staleness from above, except when the
// leader has compacted that entry: then the replica needs a reseed, and
// the bound is the age of the leader's log.
func lagTime(now int64, p *published, ldr *node) time.Duration {
	since := p.appliedTime.Load()
	if since == 0 && ldr != nil {
		since = ldr.pub.firstTime.Load()
	}
	if since == 0 {
		return 0 // no leader has published a time: nothing to measure against
	}
	return time.Duration(max(now-since, 0))
}

// epochAtApplied is the epoch of the applied entry.
func (c *core) epochAtApplied() Epoch {
	if c.applied == 0 || c.applied < c.log.First()-1 {
		return 0
	}
	return c.epochAt(c.applied)
}

// ReplicaState is what a reader can know about a node without waiting for
// it: a moment's view, from the node's last batch of work.
type ReplicaState struct {
	ID      NodeID
	Leader  bool     // it leads its epoch
	Epoch   Epoch    // highest epoch it has seen
	Applied Position // its reads see exactly the writes up to here
	// LagEntries is how many entries the leader's log holds past Applied.
	LagEntries uint64
	// LagTime bounds how stale its state is: 0 when it has applied all
	// the leader has, else the time since the leader wrote the newest
	// entry it has applied (an upper bound on its staleness). When that
	// entry's time is unknown (the node has applied nothing yet, or its
	// state was restored from a snapshot or rebuilt after a rollback), it
	// is the time since the leader wrote the oldest entry its log holds:
	// no later than the oldest entry the node lacks, so still an upper
	// bound, unless the leader has compacted entries the node lacks (it
	// is then reseeded from a snapshot); never older than the leader's
	// log.
	LagTime time.Duration
	Down    bool // crashed
	// CaughtUp: the node has come within Config.CaughtUpLag of the leader
	// since it started or joined. Read routers must not send reads to a
	// node that has not: it may be rebuilding from a snapshot.
	CaughtUp bool
}

// Replicas returns every node's state as of its last batch of work, in
// Nodes order, without waiting for any node. Read routers use it.
func (cl *Cluster) Replicas() ([]ReplicaState, error) {
	reps, _, err := cl.appendReplicas(nil, nil)
	return reps, err
}

// appendReplicas is Replicas for the read path. It appends to dst instead
// of allocating, appends each running node's runtime to nodes (nil for a
// crashed one) so that a read is served by the very node that was
// measured, and reads the clock only if some replica lags (LagTime is 0
// for a caught-up replica): on a caught-up cluster it costs a few atomic
// loads per node.
func (cl *Cluster) appendReplicas(dst []ReplicaState, nodes []*node) ([]ReplicaState, []*node, error) {
	if cl.closed.Load() {
		return dst, nodes, ErrClosed
	}
	var leaderLast uint64
	ldr := cl.leader.Load()
	if ldr != nil {
		leaderLast = ldr.pub.lastLSN.Load()
	}
	var now int64 // read once, when the first lagging replica needs it
	for _, s := range cl.mem.Load().list {
		n := s.node.Load()
		nodes = append(nodes, n)
		if n == nil {
			dst = append(dst, ReplicaState{ID: s.id, Down: true})
			continue
		}
		p := &n.pub
		rs := ReplicaState{ID: s.id, Leader: p.leading.Load(), Epoch: Epoch(p.epoch.Load()), CaughtUp: p.caughtUp.Load(),
			Applied: Position{Epoch: Epoch(p.appliedEpoch.Load()), LSN: LSN(p.appliedLSN.Load())}}
		if leaderLast > uint64(rs.Applied.LSN) {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			rs.LagEntries = leaderLast - uint64(rs.Applied.LSN)
			rs.LagTime = lagTime(now, p, ldr)
		}
		dst = append(dst, rs)
	}
	return dst, nodes, nil
}

// store returns the node's state machine if it is the built-in Store.
func (n *node) store() *Store {
	s, _ := n.sm.Load().sm.(*Store)
	return s
}

// replicaView is the read path's picture of the cluster's shape: which
// runtime runs each node, which nodes are followers that may serve reads,
// and which one leads. It is immutable and built at most once per change
// of shape (a node starts, crashes, is added or removed, changes role,
// epoch or caught-up state), so that a built-in mode picks a follower in
// O(1) instead of measuring every node on every read. Positions and lag
// move with every batch and are not in it: a read measures the one
// replica it chose, and the leader, when it is routed.
type replicaView struct {
	gen    uint64   // viewCache.gen it was built at
	mem    *members // the membership it was built from
	nodes  []*node  // per mem.list: the runtime measured, nil if down
	up     []int    // indices in mem.list of the serving followers (isUpFollower), in Nodes order
	leader int      // index in mem.list of the leader (RouteRequest.leaderIndex's rule), -1 if none
}

// viewCache holds the current replicaView. gen counts changes of shape;
// a view built at an older gen, or from another membership, is stale.
type viewCache struct {
	gen  atomic.Uint64
	view atomic.Pointer[replicaView]
}

// invalidate marks the current view stale. Call it after the change is
// visible, so that the view rebuilt for the next read includes it.
func (vc *viewCache) invalidate() { vc.gen.Add(1) }

// replicaView returns a view that was current when the read started:
// the cached one, or one built now if the shape has changed since.
func (cl *Cluster) replicaView() *replicaView {
	gen, mem := cl.views.gen.Load(), cl.mem.Load()
	old := cl.views.view.Load()
	if old != nil && old.gen == gen && old.mem == mem {
		return old
	}
	v := &replicaView{gen: gen, mem: mem, nodes: make([]*node, len(mem.list)), leader: -1}
	var leaderEpoch uint64
	for i, s := range mem.list {
		n := s.node.Load()
		v.nodes[i] = n
		switch {
		case n == nil:
		case n.pub.leading.Load():
			if ep := n.pub.epoch.Load(); v.leader < 0 || ep > leaderEpoch {
				v.leader, leaderEpoch = i, ep
			}
		case n.pub.caughtUp.Load():
			v.up = append(v.up, i)
		}
	}
	// A racing reader may have stored a view too; either is current as
	// of its gen, and the next read checks again.
	cl.views.view.CompareAndSwap(old, v)
	return v
}

// runs reports whether node i still runs the runtime the view measured;
// if not (it crashed or restarted since) the view is stale, and is
// invalidated so that the next read rebuilds it.
func (cl *Cluster) runs(v *replicaView, i int) bool {
	if v.mem.list[i].node.Load() == v.nodes[i] {
		return true
	}
	cl.views.invalidate()
	return false
}

// measure is appendReplicas for one running node: its state now, with
// lag against leaderLast (the running leader's last LSN, read first) and
// the leader ldr's runtime if it is in this process (nil if not), written
// to rs.
func measure(rs *ReplicaState, id NodeID, n *node, leaderLast uint64, ldr *node) {
	p := &n.pub
	*rs = ReplicaState{ID: id, Leader: p.leading.Load(), Epoch: Epoch(p.epoch.Load()), CaughtUp: p.caughtUp.Load(),
		Applied: Position{Epoch: Epoch(p.appliedEpoch.Load()), LSN: LSN(p.appliedLSN.Load())}}
	if leaderLast > uint64(rs.Applied.LSN) {
		rs.LagEntries = leaderLast - uint64(rs.Applied.LSN)
		rs.LagTime = lagTime(time.Now().UnixNano(), p, ldr)
	}
}
