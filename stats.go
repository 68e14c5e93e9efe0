package replstore

import (
	"context"
	"slices"
	"time"
)

// NodeStats is one node's state.
type NodeStats struct {
	ID      NodeID
	Role    string // "leader", "follower" or "down"
	Epoch   Epoch
	First   LSN      // first entry still in its log (the rest is compacted)
	Last    Position // last entry in its log
	Commit  LSN      // commit LSN (a follower: what it knows is committed)
	Applied LSN      // applied to its state machine: what its reads see
}

// FollowerStats is the leader's view of one follower.
type FollowerStats struct {
	ID   NodeID
	Sync bool // in the sync set now: its acknowledgements count
	Live bool // answered within FollowerTimeoutTicks
	// Received, Durable and Applied are the follower's progress as it
	// last reported it. A sync follower reports every append; an async
	// one at least once a tick. A follower acknowledges before it applies,
	// so Applied may trail by one report (except at ack level Applied).
	Received LSN
	Durable  LSN
	Applied  LSN
	// LagEntries is how many of the leader's entries the follower has not
	// applied yet; LagTime is how long ago the leader appended the oldest
	// of them (0 when caught up). Replay lag, in PostgreSQL's terms.
	LagEntries uint64
	LagTime    time.Duration
	// Reseeding: the leader is sending it a snapshot (it needs entries
	// that were compacted); SnapshotAcked of SnapshotTotal bytes arrived.
	Reseeding     bool
	SnapshotAcked int64
	SnapshotTotal int64
}

// Stats is a snapshot of the cluster.
type Stats struct {
	Leader   NodeID // "" if no leader is running
	Epoch    Epoch
	AckLevel AckLevel
	Commit   LSN
	Degraded bool // DegradeAfter fired and commit is leader-only now
	// Topology is the leader's: its sync list (priority order) and async
	// followers.
	Topology  Topology
	Nodes     []NodeStats
	Followers []FollowerStats // the leader's view, sync list first
	// SyncHistory lists every version of the commit rule in this epoch:
	// which followers acknowledged writes after which commit LSN.
	SyncHistory []SyncSetChange
}

// Stats collects every node's state. Each node answers on its own
// goroutine, so the numbers of different nodes are moments apart. Its
// errors read "replstore: stats: ..." and wrap the cause (ErrClosed, the
// context's error).
func (cl *Cluster) Stats(ctx context.Context) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, withOp("stats", err)
	}
	var st Stats
	for _, id := range cl.mem.Load().order {
		ns, err := cl.nodeStats(ctx, id)
		if err != nil {
			return Stats{}, withOp("stats", err)
		}
		st.Nodes = append(st.Nodes, ns)
	}
	if n := cl.leader.Load(); n != nil {
		err := n.do(ctx, func() { n.core.leaderStats(&st, time.Now().UnixNano()) })
		if err != nil {
			return Stats{}, withOp("stats", err)
		}
	}
	return st, nil
}

// NodeStats returns one node's state; a crashed node reports Role "down"
// and what its log holds. Its errors read "replstore: node stats of id:
// ..." and wrap the cause (ErrUnknownNode, ErrClosed, the context's
// error).
func (cl *Cluster) NodeStats(ctx context.Context, id NodeID) (NodeStats, error) {
	if err := ctx.Err(); err != nil {
		return NodeStats{}, withOp("node stats of "+string(id), err)
	}
	ns, err := cl.nodeStats(ctx, id)
	if err != nil {
		return NodeStats{}, withOp("node stats of "+string(id), err)
	}
	return ns, nil
}

// nodeStats is NodeStats with its errors unwrapped.
func (cl *Cluster) nodeStats(ctx context.Context, id NodeID) (NodeStats, error) {
	n, err := cl.running(id)
	if err != nil {
		if err == ErrClosed {
			return NodeStats{}, err
		}
		s, uerr := cl.slotOf(id)
		if uerr != nil {
			return NodeStats{}, uerr
		}
		// Crashed: no goroutine touches its log and hard state while
		// Crash and Restart, which hold mu, cannot run.
		cl.mu.Lock()
		n = s.node.Load()
		if n == nil {
			ns := NodeStats{ID: id, Role: "down", Epoch: s.epochOf(), First: s.log.First(), Last: s.log.Last()}
			cl.mu.Unlock()
			return ns, nil
		}
		cl.mu.Unlock()
	}
	var ns NodeStats
	err = n.do(ctx, func() {
		c := n.core
		ns = NodeStats{ID: id, Role: c.role.String(), Epoch: c.epoch, First: c.log.First(), Last: c.last, Commit: c.commit, Applied: c.applied}
	})
	return ns, err
}

// leaderStats fills the leader's part of st.
func (c *core) leaderStats(st *Stats, now int64) {
	if c.role != roleLeader {
		return
	}
	st.Leader, st.Epoch, st.Commit, st.Degraded = c.id, c.epoch, c.commit, c.degraded
	st.AckLevel = c.cfg.ackLevel
	st.Topology = c.topology()
	for _, p := range c.followers {
		fs := FollowerStats{ID: p.id, Sync: p.sync, Live: p.live(c.tick, c.cfg.timeoutTicks),
			Received: p.received, Durable: p.durable, Applied: p.applied}
		if p.snapPos != (Position{}) && c.hard.snap != nil {
			fs.Reseeding, fs.SnapshotAcked, fs.SnapshotTotal = true, p.snapAcked, int64(len(c.hard.snap.data))
		}
		if p.applied < c.last.LSN {
			fs.LagEntries = uint64(c.last.LSN - p.applied)
			if ents, err := c.log.Entries(p.applied+1, p.applied+1); err == nil && len(ents) == 1 {
				fs.LagTime = time.Duration(max(now-ents[0].Time, 0))
			}
		}
		st.Followers = append(st.Followers, fs)
	}
	for _, h := range c.history {
		h.Members = slices.Clone(h.Members)
		st.SyncHistory = append(st.SyncHistory, h)
	}
}

// Store returns node id's state machine if it is the built-in telemetry
// store (nil otherwise). Reads on it see that node's applied state, which
// may lag the leader: it is what a read served by that node would see.
// After a crash and restart the node has a new Store.
func (cl *Cluster) Store(id NodeID) (*Store, error) {
	n, err := cl.running(id)
	if err != nil {
		return nil, err
	}
	s, _ := n.sm.Load().sm.(*Store)
	return s, nil
}
