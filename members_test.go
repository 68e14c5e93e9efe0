package replstore

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// orderedSM wraps the Store and fails the test on any entry applied out of
// order, twice, or after a gap: a follower that joins must apply exactly
// the entries after its snapshot, each once.
type orderedSM struct {
	*Store
	t    *testing.T
	mu   sync.Mutex
	next LSN // the LSN the next Apply must have; 0 until the first
}

func (s *orderedSM) Apply(e Entry) error {
	s.mu.Lock()
	if s.next != 0 && e.Pos.LSN != s.next {
		s.t.Errorf("applied LSN %d, expected %d: an entry was missed or applied twice", e.Pos.LSN, s.next)
	}
	s.next = e.Pos.LSN + 1
	s.mu.Unlock()
	return s.Store.Apply(e)
}

func (s *orderedSM) Restore(r io.Reader) error {
	if err := s.Store.Restore(r); err != nil {
		return err
	}
	s.mu.Lock()
	s.next = s.Store.LastApplied().LSN + 1
	s.mu.Unlock()
	return nil
}

func orderedConfig(t *testing.T) func(*Config) {
	return func(c *Config) {
		c.NewStateMachine = func() StateMachine { return &orderedSM{Store: NewStore(), t: t} }
	}
}

// storeOf is node id's telemetry store, wrapped or not.
func storeOf(t *testing.T, cl *Cluster, id NodeID) *Store {
	n, err := cl.running(id)
	require.NoError(t, err)
	switch sm := n.sm.Load().sm.(type) {
	case *orderedSM:
		return sm.Store
	case *Store:
		return sm
	}
	t.Fatalf("%s has no telemetry store", id)
	return nil
}

// TestAddFollowerUnderWrites adds n4 while writers run and the leader has
// already compacted its log: n4 is reseeded from a snapshot, replays the
// log from there, serves reads only once caught up, and ends with the
// leader's state at the same LSN, no entry missed or applied twice.
func TestAddFollowerUnderWrites(t *testing.T) {
	edit := orderedConfig(t)
	cl, ev := newTestCluster(t, func(c *Config) { edit(c); c.RetainEntries = 200; c.SnapshotChunkBytes = 512 })
	ctx := testCtx(t)
	w := startWriters(t, cl, 4)
	w.waitAcked(t, cl, 600)
	ticks(t, cl, 2) // compaction starts on ticks; the snapshot is written on another goroutine
	require.NoError(t, cl.waitUntil(ctx, "n1", func(c *core) bool { return c.log.First() > 1 }),
		"the leader has not compacted: no reseed to test")

	require.NoError(t, cl.AddFollower(ctx, "n4"))
	assert.Contains(t, cl.Nodes(), NodeID("n4"))
	reps, err := cl.Replicas()
	require.NoError(t, err)
	for _, r := range reps {
		if r.ID == "n4" {
			assert.False(t, r.CaughtUp, "a follower that just joined may not serve reads")
		}
	}
	w.waitAcked(t, cl, w.count()+300)
	w.halt()
	ticks(t, cl, 2)
	last := nodeLog(t, cl, "n1")
	lastLSN := last[len(last)-1].Pos.LSN
	require.NoError(t, cl.WaitApplied(ctx, "n4", lastLSN))
	assert.Equal(t, string(snapshotBytes(t, storeOf(t, cl, "n1"))), string(snapshotBytes(t, storeOf(t, cl, "n4"))))
	reps, err = cl.Replicas()
	require.NoError(t, err)
	for _, r := range reps {
		assert.True(t, r.CaughtUp, "%s has caught up", r.ID)
	}
	require.NotEmpty(t, ev.of(EventSnapshotInstalled), "n4 was not reseeded from a snapshot")
	requireAckedOn(t, cl, "n4", w.acked)
}

// TestReseedProgressInStats: while the snapshot travels, the leader's
// Stats show the follower reseeding and how far it got.
func TestReseedProgressInStats(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.RetainEntries = 50; c.SnapshotChunkBytes = 64 })
	ctx := testCtx(t)
	for i := 0; i < 300; i++ {
		_, err := cl.Put(ctx, fmt.Sprint("key-", i), []byte("some value to make the snapshot bigger"))
		require.NoError(t, err)
		if i%25 == 0 {
			ticks(t, cl, 1)
		}
	}
	// Hold n4's answers until the watch is in place. The network refuses
	// to pause a link of a node it has never seen, so n4 is put on it
	// first, with a handler that AddFollower's replaces (nothing is sent
	// to n4 before it joins).
	cl.Net().Register("n4", func(Message) {})
	require.NoError(t, cl.Net().PauseLink("n4", "n1"))
	require.NoError(t, cl.AddFollower(ctx, "n4"))
	leader, err := cl.running("n1")
	require.NoError(t, err)
	var seen FollowerStats
	watch := make(chan struct{})
	require.NoError(t, leader.do(ctx, func() {
		leader.conds = append(leader.conds, cond{ch: watch, pred: func(c *core) bool {
			var st Stats
			c.leaderStats(&st, 0)
			for _, f := range st.Followers {
				if f.ID == "n4" && f.Reseeding && f.SnapshotAcked > 0 && f.SnapshotAcked < f.SnapshotTotal {
					seen = f
					return true
				}
			}
			return false
		}})
	}))
	require.NoError(t, cl.Net().ResumeLink("n4", "n1"))
	for seenIt := false; !seenIt; {
		select {
		case <-watch:
			seenIt = true
		case <-ctx.Done():
			t.Fatal("never saw the reseed in progress")
		default:
			require.NoError(t, cl.Tick(ctx))
		}
	}
	assert.Greater(t, seen.SnapshotTotal, int64(64*4), "a snapshot of several chunks")
	ticks(t, cl, 2)
	pos, err := cl.Put(ctx, "after", []byte("x"))
	require.NoError(t, err)
	ticks(t, cl, 1)
	require.NoError(t, cl.WaitApplied(ctx, "n4", pos.LSN))
	st, err := cl.Stats(ctx)
	require.NoError(t, err)
	for _, f := range st.Followers {
		assert.False(t, f.Reseeding, f.ID)
	}
}

// TestRemoveSyncFollowerUnderEachPolicy: removing the only sync follower
// is refused under Block and DegradeAfter (it would break the commit
// rule), and under Replace the async follower takes its place first.
func TestRemoveSyncFollowerUnderEachPolicy(t *testing.T) {
	for _, policy := range []SyncLossPolicy{Block, DegradeAfter(1), Replace} {
		t.Run(policy.String(), func(t *testing.T) {
			cl, _ := newTestCluster(t, func(c *Config) { c.SyncLoss = policy })
			ctx := testCtx(t)
			_, err := cl.Put(ctx, "k", []byte("v"))
			require.NoError(t, err)
			ticks(t, cl, 1) // n3 reports it is caught up
			err = cl.RemoveFollower(ctx, "n2")
			if policy != Replace {
				require.ErrorIs(t, err, ErrSyncSetTooSmall)
				assert.Contains(t, cl.Nodes(), NodeID("n2"))
				require.ErrorIs(t, cl.SetSync(ctx, "n2", false), ErrSyncSetTooSmall)
				return
			}
			require.NoError(t, err)
			assert.NotContains(t, cl.Nodes(), NodeID("n2"))
			st, err := cl.Stats(ctx)
			require.NoError(t, err)
			require.Len(t, st.Followers, 1)
			assert.Equal(t, NodeID("n3"), st.Followers[0].ID)
			assert.True(t, st.Followers[0].Sync, "n3 replaced n2")
			pos, err := cl.Put(ctx, "after", []byte("v"))
			require.NoError(t, err)
			assert.GreaterOrEqual(t, lastOf(t, cl, "n3").LSN, pos.LSN)
		})
	}
}

// TestMembershipChanges: async followers come and go freely; a follower
// joins async and is then made sync; the leader and unknown nodes are
// refused with clear errors.
func TestMembershipChanges(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	require.NoError(t, cl.AddFollower(ctx, "n4"))
	require.Error(t, cl.AddFollower(ctx, "n4"), "added twice")
	require.ErrorIs(t, cl.AddFollower(ctx, ""), ErrInvalidConfig)
	require.ErrorIs(t, cl.RemoveFollower(ctx, "n9"), ErrUnknownNode)
	require.ErrorContains(t, cl.RemoveFollower(ctx, "n1"), "Switchover")

	require.NoError(t, cl.SetSync(ctx, "n4", true))
	st, err := cl.Stats(ctx)
	require.NoError(t, err)
	h := st.SyncHistory[len(st.SyncHistory)-1]
	assert.Equal(t, []NodeID{"n2"}, h.Members, "FIRST 1: n2 still has priority")
	// With n2 gone, FIRST 1 (n2, n4) commits on n4.
	require.NoError(t, cl.SetSync(ctx, "n2", false))
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, lastOf(t, cl, "n4").LSN, pos.LSN)
	require.NoError(t, cl.RemoveFollower(ctx, "n3"))
	require.NoError(t, cl.RemoveFollower(ctx, "n2"))
	assert.Equal(t, []NodeID{"n1", "n4"}, cl.Nodes())
	_, err = cl.Put(ctx, "k2", []byte("v"))
	require.NoError(t, err)
}

// TestMembershipCallsThatGiveUp: a caller that gives up after the leader
// took its change does not know whether the change will take effect.
// AddFollower then keeps the new node running (the coordinator may
// record it, and a failover may come to depend on it: stopping it left a
// ghost member); once recorded it is a member like any other. A removal
// whose caller gave up leaves the node running outside the topology:
// SetSync does not bring it back, and RemoveFollower stops it.
func TestMembershipCallsThatGiveUp(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	giveUpOnceProposed := func(change func(context.Context) error) error {
		// The coordinator is cut off: the leader takes the change, and
		// nobody records it until the test heals the network.
		require.NoError(t, cl.Net().Partition([]NodeID{CoordinatorID}, []NodeID{"n1", "n2", "n3"}))
		callCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- change(callCtx) }()
		require.NoError(t, cl.waitUntil(ctx, "n1", func(c *core) bool { return c.pendingChange != nil }))
		cancel()
		err := <-done
		cl.Net().Heal()
		ticks(t, cl, 1) // the leader reports its change again; the coordinator records it
		return err
	}

	err := giveUpOnceProposed(func(ctx context.Context) error { return cl.AddFollower(ctx, "n4") })
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "n4 keeps running")
	assert.Contains(t, cl.Nodes(), NodeID("n4"))
	require.NoError(t, cl.waitUntil(ctx, "n1", func(c *core) bool { return c.changeSettled("n4", memberAsync) }))
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	ticks(t, cl, 1) // the commit LSN reaches an async follower on the next heartbeat
	require.NoError(t, cl.waitUntil(ctx, "n4", func(c *core) bool { return c.applied >= pos.LSN }), "n4 follows")

	err = giveUpOnceProposed(func(ctx context.Context) error { return cl.RemoveFollower(ctx, "n3") })
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, cl.waitUntil(ctx, "n1", func(c *core) bool { return c.changeSettled("n3", memberRemoved) }))
	assert.Contains(t, cl.Nodes(), NodeID("n3"), "its caller gave up: nothing stopped it")
	require.ErrorIs(t, cl.SetSync(ctx, "n3", true), ErrUnknownNode, "SetSync brings no removed node back")
	require.NoError(t, cl.RemoveFollower(ctx, "n3"), "a node no topology names is stopped")
	assert.NotContains(t, cl.Nodes(), NodeID("n3"))
}

// TestMembershipCallsWithEndedContextStartNothing: a context already ended
// when a membership change, a failover or a switchover is asked for starts
// nothing, on a Cluster and on a Node alike. They used to queue the change
// first and look at the context after, so the change took effect while the
// call reported context.Canceled.
func TestMembershipCallsWithEndedContextStartNothing(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	_, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	ended, cancel := context.WithCancel(ctx)
	cancel()
	before, err := cl.Stats(ctx)
	require.NoError(t, err)
	nodes := cl.Nodes()
	nd, err := cl.Node("n2")
	require.NoError(t, err)

	calls := map[string]func() error{
		"Cluster.AddFollower":    func() error { return cl.AddFollower(ended, "n4") },
		"Cluster.RemoveFollower": func() error { return cl.RemoveFollower(ended, "n3") },
		"Cluster.SetSync":        func() error { return cl.SetSync(ended, "n3", true) },
		"Node.AddFollower":       func() error { return nd.AddFollower(ended, "n4") },
		"Node.RemoveFollower":    func() error { return nd.RemoveFollower(ended, "n3") },
		"Node.SetSync":           func() error { return nd.SetSync(ended, "n3", true) },
		"Node.Failover": func() error {
			_, err := nd.Failover(ended, FailoverOptions{})
			return err
		},
		"Node.Switchover": func() error {
			_, err := nd.Switchover(ended, "n2")
			return err
		},
	}
	for name, call := range calls {
		err := call()
		require.ErrorIs(t, err, context.Canceled, name)
		assert.ErrorContains(t, err, "not started", name)
	}
	err = cl.Tick(ended)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "tick n1", "the error names what it was doing")
	// Let anything that was wrongly queued take effect before looking.
	ticks(t, cl, 3)
	after, err := cl.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, before.Leader, after.Leader, "no failover or switchover ran")
	assert.Equal(t, before.Epoch, after.Epoch, "no failover or switchover ran")
	assert.Equal(t, before.Topology, after.Topology, "no membership change took effect")
	assert.Equal(t, nodes, cl.Nodes(), "no node was added or stopped")
}
