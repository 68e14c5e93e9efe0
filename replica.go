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
	appliedTime  atomic.Int64 // leader's clock on the applied entry (Unix ns)
	lastLSN      atomic.Uint64
	epoch        atomic.Uint64
	leading      atomic.Bool
	caughtUp     atomic.Bool
}

// publish copies the core's state; called on the node's goroutine. The
// leader publishes its last LSN before it sends the entries, so no
// follower can hold an entry past a published last LSN.
func (n *node) publish() {
	c, p := n.core, &n.pub
	p.lastLSN.Store(uint64(c.last.LSN))
	p.epoch.Store(uint64(c.epoch))
	p.leading.Store(c.role == roleLeader)
	p.caughtUp.Store(c.role == roleLeader || c.caughtUp)
	if LSN(p.appliedLSN.Load()) != c.applied {
		p.appliedTime.Store(c.appliedTime)
		p.appliedEpoch.Store(uint64(c.epochAtApplied()))
		p.appliedLSN.Store(uint64(c.applied))
	}
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
	// entry it has applied (an upper bound on its staleness).
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
	if ldr := cl.leader.Load(); ldr != nil {
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
			rs.LagTime = time.Duration(max(now-p.appliedTime.Load(), 0))
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
