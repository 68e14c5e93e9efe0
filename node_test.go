package replstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newTestNodes starts one Node per configured node over a fresh MemNet,
// with no coordinator (failover is manual), each a standalone replica as
// a service would run it.
func newTestNodes(t *testing.T, edit func(*Config)) (map[NodeID]*Node, *MemNet) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ManualFailover = true
	cfg.TickInterval = 2 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	net := NewMemNet()
	nodes := map[NodeID]*Node{}
	t.Cleanup(func() {
		for _, nd := range nodes {
			_ = nd.Close()
		}
		net.Close()
	})
	for _, id := range cfg.nodes() {
		nd, err := NewNode(cfg, id, net)
		require.NoError(t, err)
		nodes[id] = nd
	}
	return nodes, net
}

// atNode routes every read to one replica, whatever its state.
type atNode NodeID

func (a atNode) Route(context.Context, *RouteRequest) (Target, error) {
	return Target{Node: NodeID(a)}, nil
}

// A write on any node reaches the leader as a message and its answer
// comes back as one; every replica applies it.
func TestNodeForwardsWritesToLeader(t *testing.T) {
	ctx := testCtx(t)
	nodes, net := newTestNodes(t, nil)
	before := net.Counts()
	var last Position
	for _, id := range []NodeID{"n3", "n2", "n1"} {
		pos, err := nodes[id].Put(ctx, "sat/"+string(id), []byte("through "+string(id)))
		require.NoError(t, err, "write through %s", id)
		require.Greater(t, pos.LSN, last.LSN, "each write takes the next place in the one log")
		last = pos
	}
	require.Greater(t, net.Counts().Sent-before.Sent, uint64(0))
	for id, nd := range nodes {
		require.NoError(t, nd.WaitApplied(ctx, last.LSN), "node %s", id)
		for _, w := range []NodeID{"n1", "n2", "n3"} {
			rec, found, sv, err := nd.Get(ctx, "sat/"+string(w), Via(atNode(id)))
			require.NoError(t, err)
			require.True(t, found, "%s holds the write made through %s", id, w)
			require.Equal(t, "through "+string(w), string(rec.Value))
			require.Equal(t, id, sv.Node)
			require.GreaterOrEqual(t, sv.Applied.LSN, last.LSN)
		}
		require.Equal(t, NodeID("n1"), nd.Leader(), "node %s knows the leader", id)
	}
}

// With forwarding off a follower refuses, naming the leader it knows.
func TestNodeRefusesWithoutForwarding(t *testing.T) {
	ctx := testCtx(t)
	nodes, _ := newTestNodes(t, func(c *Config) { c.DisableForwarding = true })
	_, err := nodes["n1"].Put(ctx, "k", []byte("v")) // the leader takes it; followers learn who leads
	require.NoError(t, err)
	require.NoError(t, nodes["n2"].WaitApplied(ctx, 2))
	_, err = nodes["n2"].Put(ctx, "k", []byte("w"))
	var nl *NotLeaderError
	require.True(t, errors.As(err, &nl), "got %v", err)
	require.ErrorIs(t, err, ErrNotLeader)
	require.Equal(t, NodeID("n2"), nl.Node)
	require.Equal(t, NodeID("n1"), nl.Leader)
	rec, _, _, err := nodes["n1"].Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(rec.Value), "the refused write changed nothing")
}

// A forwarded write whose answer cannot come back (the link from the
// leader is paused) fails with ErrNotAcknowledged when its context ends;
// after the link heals it is in the log exactly once.
func TestNodeForwardedWriteTimesOut(t *testing.T) {
	ctx := testCtx(t)
	nodes, net := newTestNodes(t, nil)
	_, err := nodes["n3"].Put(ctx, "warm", []byte("up"))
	require.NoError(t, err)
	require.NoError(t, net.PauseLink("n1", "n3"))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = nodes["n3"].Put(short, "k", []byte("v"))
	require.ErrorIs(t, err, ErrNotAcknowledged)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, net.ResumeLink("n1", "n3"))
	pos, err := nodes["n1"].Put(ctx, "after", []byte("x"))
	require.NoError(t, err)
	require.NoError(t, nodes["n3"].WaitApplied(ctx, pos.LSN))
	rec, found, _, err := nodes["n3"].Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, found, "the leader took the write; only its answer was held")
	require.Equal(t, "v", string(rec.Value))
}

// Bad input and use after Close get clear errors.
func TestNodeBadInput(t *testing.T) {
	ctx := testCtx(t)
	cfg := DefaultConfig()
	cfg.ManualFailover = true
	_, err := NewNode(cfg, "n9", NewMemNet())
	require.ErrorIs(t, err, ErrUnknownNode)
	_, err = NewNode(cfg, "n1", nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
	nodes, _ := newTestNodes(t, nil)
	_, err = nodes["n2"].Put(ctx, "", []byte("v"))
	require.ErrorIs(t, err, ErrEmptyKey)
	require.NoError(t, nodes["n2"].Close())
	require.ErrorIs(t, nodes["n2"].Close(), ErrClosed)
	_, err = nodes["n2"].Put(ctx, "k", []byte("v"))
	require.ErrorIs(t, err, ErrClosed)
	_, _, _, err = nodes["n2"].Get(ctx, "k")
	require.ErrorIs(t, err, ErrClosed)
}

// Cluster hands out its Nodes: a write through a follower's Node is
// forwarded to the leader.
func TestClusterNodeForwards(t *testing.T) {
	ctx := testCtx(t)
	cl, _ := newTestCluster(t, func(c *Config) { c.ManualTicks = false })
	nd, err := cl.Node("n3")
	require.NoError(t, err)
	pos, err := nd.Put(ctx, "k", []byte("via n3"))
	require.NoError(t, err)
	rec, _, sv, err := cl.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "via n3", string(rec.Value))
	require.Equal(t, NodeID("n1"), sv.Node)
	require.Equal(t, pos, rec.Pos)
	_, err = cl.Node("n9")
	require.ErrorIs(t, err, ErrUnknownNode)
}

// Reads through a Node are routed on the replica states the leader
// advertises and go to the chosen replica as messages; each comes back
// with its Served receipt.
func TestNodeReadsRouteByMessage(t *testing.T) {
	ctx := testCtx(t)
	nodes, net := newTestNodes(t, nil)
	pos, err := nodes["n1"].Put(ctx, "sat/ISS", []byte("elements"))
	require.NoError(t, err)
	for _, nd := range nodes {
		require.NoError(t, nd.WaitApplied(ctx, pos.LSN))
	}

	// Leader mode from a follower: the leader proves it leads, then reads.
	rec, found, sv, err := nodes["n3"].Get(ctx, "sat/ISS")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "elements", string(rec.Value))
	require.Equal(t, NodeID("n1"), sv.Node)
	require.True(t, sv.Linearizable)

	// AnyFollower from the leader: a follower serves, by message, once the
	// leader has advertised that the followers caught up.
	require.Eventually(t, func() bool {
		reps, err := nodes["n1"].Replicas()
		if err != nil || len(reps) != 3 {
			return false
		}
		for _, rs := range reps {
			if !rs.CaughtUp || rs.Applied.LSN < pos.LSN {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond)
	sent := net.Counts().Sent
	served := map[NodeID]bool{}
	any := nodes["n1"].NewSession(AnyFollower{}) // its reads rotate: Seq 0, 1, ...
	for i := 0; i < 8; i++ {
		_, found, sv, err := any.Get(ctx, "sat/ISS")
		require.NoError(t, err)
		require.True(t, found)
		require.False(t, sv.Linearizable)
		require.NotEqual(t, NodeID("n1"), sv.Node, "a follower serves AnyFollower reads")
		served[sv.Node] = true
	}
	require.Greater(t, net.Counts().Sent, sent, "remote reads are messages")
	require.Len(t, served, 2, "reads rotate over both followers")

	// A session on n3: its own write (forwarded) is visible to its reads,
	// and its token carries it to a session on n2.
	s3 := nodes["n3"].NewSession(nil)
	wpos, err := s3.Put(ctx, "cabin/C14", []byte("reserved"))
	require.NoError(t, err)
	rec, found, sv, err = s3.Get(ctx, "cabin/C14")
	require.NoError(t, err)
	require.True(t, found, "read-your-writes")
	require.Equal(t, wpos, rec.Pos)
	require.True(t, Token(wpos).SatisfiedBy(sv.Applied))
	s2 := nodes["n2"].NewSession(nil)
	require.NoError(t, s2.Adopt(s3.Token()))
	recs, sv, err := s2.GetMany(ctx, []string{"cabin/C14", "sat/ISS", "absent"})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, "reserved", string(recs["cabin/C14"].Value))
	require.True(t, Token(wpos).SatisfiedBy(sv.Applied))

	// Time series across nodes.
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 3; i++ {
		_, err := s3.AppendSample(ctx, "temp", t0.Add(time.Duration(i)*time.Second), float64(20+i))
		require.NoError(t, err)
	}
	s1 := nodes["n1"].NewSession(AnyFollower{})
	require.NoError(t, s1.Adopt(s3.Token()))
	smp, found, _, err := s1.Latest(ctx, "temp", Via(SessionConsistent{}))
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, 22.0, smp.Value)
	samples, _, err := s1.Range(ctx, "temp", t0, t0.Add(2*time.Second), Via(SessionConsistent{}))
	require.NoError(t, err)
	require.Len(t, samples, 2)
	require.Equal(t, 20.0, samples[0].Value)
	_, err = s1.Read(ctx, func(*ReadTx) {})
	require.ErrorIs(t, err, errors.ErrUnsupported)
}

// A Leader read from a follower cut off from the leader never answers
// from a stale view: it fails when its context ends.
func TestNodeLeaderReadCutOff(t *testing.T) {
	ctx := testCtx(t)
	nodes, net := newTestNodes(t, nil)
	_, err := nodes["n1"].Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	require.NoError(t, nodes["n2"].WaitApplied(ctx, 2))
	require.NoError(t, net.PauseLink("n2", "n1"))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, _, err = nodes["n2"].Get(short, "k")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, net.ResumeLink("n2", "n1"))
	_, _, sv, err := nodes["n2"].Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, sv.Linearizable)
}

// Stats from a follower come from the leader, by message.
func TestNodeStatsFromFollower(t *testing.T) {
	ctx := testCtx(t)
	nodes, _ := newTestNodes(t, nil)
	pos, err := nodes["n2"].Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	require.NoError(t, nodes["n3"].WaitApplied(ctx, pos.LSN))
	st, err := nodes["n3"].Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, NodeID("n1"), st.Leader)
	require.GreaterOrEqual(t, st.Commit, pos.LSN)
	require.Equal(t, Topology{Leader: "n1", Sync: []NodeID{"n2"}, Async: []NodeID{"n3"}}, st.Topology)
	require.Len(t, st.Followers, 2)
	require.Len(t, st.Nodes, 2)
	require.Equal(t, NodeID("n1"), st.Nodes[0].ID)
	require.Equal(t, NodeID("n3"), st.Nodes[1].ID)
	require.GreaterOrEqual(t, st.Nodes[1].Applied, pos.LSN)
	lst, err := nodes["n1"].Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, st.Topology, lst.Topology)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = nodes["n3"].Stats(canceled)
	require.ErrorIs(t, err, context.Canceled)
}

// Membership changes and failover requested through a Node go by
// message: to the leader, and to the coordinator.
func TestNodeMembershipAndFailoverByMessage(t *testing.T) {
	ctx := testCtx(t)
	cl, _ := newTestCluster(t, func(c *Config) { c.ManualTicks = false; c.ManualFailover = true })
	n3, err := cl.Node("n3")
	require.NoError(t, err)
	require.NoError(t, n3.SetSync(ctx, "n3", true))
	st, err := cl.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, []NodeID{"n2", "n3"}, st.Topology.Sync)
	require.ErrorIs(t, n3.SetSync(ctx, "n9", true), ErrUnknownNode)
	require.NoError(t, n3.SetSync(ctx, "n3", false))

	// Switchover asked of the coordinator by n3's message.
	pos, err := cl.Put(ctx, "k", []byte("before"))
	require.NoError(t, err)
	d, err := n3.Switchover(ctx, "n2")
	require.NoError(t, err)
	require.Equal(t, NodeID("n2"), d.Promote)
	require.Equal(t, NodeID("n2"), n3.Leader())
	rec, _, sv, err := n3.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, pos, rec.Pos, "no acknowledged write lost")
	require.Equal(t, NodeID("n2"), sv.Node)

	// The leader crashes; an operator's failover through n3.
	require.NoError(t, cl.Crash("n2"))
	d, err = n3.Failover(ctx, FailoverOptions{})
	require.NoError(t, err)
	require.NotEqual(t, NodeID("n2"), d.Promote)
	require.Equal(t, d.Promote, n3.Leader())
	rec, _, _, err = n3.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, pos, rec.Pos)
}

// Standalone Nodes with a CoordinatorNode on the same transport fail
// over on their own when the leader's process goes away, with no
// acknowledged write lost; a switchover moves leadership back.
func TestNodesWithCoordinatorFailOver(t *testing.T) {
	ctx := testCtx(t)
	// Under the default Block policy: the vacated sync slot goes to n3,
	// never to the dead old leader (which would block every commit).
	nodes, net := newTestNodes(t, func(c *Config) { c.ManualFailover = false; c.SuspectTicks = 20 })
	cfg := DefaultConfig()
	cfg.TickInterval, cfg.SuspectTicks = 2*time.Millisecond, 20
	coord, err := NewCoordinatorNode(cfg, net)
	require.NoError(t, err)
	t.Cleanup(func() { _ = coord.Close() })
	var acked []Position
	for i := 0; i < 20; i++ {
		pos, err := nodes["n3"].Put(ctx, fmt.Sprint("k", i), []byte("v"))
		require.NoError(t, err)
		acked = append(acked, pos)
	}
	require.NoError(t, nodes["n1"].Close())                                        // the leader's process dies
	_, err = nodes["n3"].waitLeader(ctx, func(l NodeID) bool { return l == "n2" }) // n3 hears of the promotion
	require.NoError(t, err, "no failover")
	pos, err := nodes["n3"].Put(ctx, "after", []byte("failover"))
	require.NoError(t, err)
	require.Equal(t, NodeID("n2"), nodes["n3"].Leader(), "the sync follower, which holds every acknowledged write, leads")
	st, err := nodes["n3"].Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, []NodeID{"n3"}, st.Topology.Sync, "the live async follower takes the vacated sync slot, not the dead leader")
	require.Greater(t, pos.Epoch, acked[0].Epoch)
	for i, want := range acked {
		rec, found, _, err := nodes["n3"].Get(ctx, fmt.Sprint("k", i))
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, want, rec.Pos, "acknowledged write %d kept its place", i)
	}
	_, err = coord.Switchover(ctx, "n2")
	require.ErrorIs(t, err, ErrAlreadyLeader)
	require.NoError(t, coord.Close())
	require.ErrorIs(t, coord.Close(), ErrClosed)
}
