package replstore

import (
	"bytes"
	"context"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests for defects reported by a user of the public API, one
// per defect, named after it.

// TestRegressionAppendSampleSameTimeReplaces: a sample at a time the
// series already holds replaces the old one (it was documented only on
// the command encoder, not on Cluster.AppendSample).
func TestRegressionAppendSampleSameTimeReplaces(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	s := cl.NewSession(nil)
	_, err := s.AppendSample(ctx, "sat/ISS/altitude_km", t0, 418.20)
	require.NoError(t, err)
	second, err := s.AppendSample(ctx, "sat/ISS/altitude_km", t0, 418.15)
	require.NoError(t, err)

	got, _, err := s.Range(ctx, "sat/ISS/altitude_km", t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, got, 1, "the second sample at %v replaces the first", t0)
	assert.Equal(t, Sample{Time: t0, Value: 418.15, Pos: second}, got[0])
	latest, ok, _, err := s.Latest(ctx, "sat/ISS/altitude_km")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 418.15, latest.Value)
}

// TestRegressionAppendSampleTimeOutOfRange: a sample time that Unix
// nanoseconds in an int64 cannot hold (before 1677-09-21, after
// 2262-04-11) was acknowledged and read back as another year. It is
// refused before anything is written; the extremes themselves are kept
// exactly.
func TestRegressionAppendSampleTimeOutOfRange(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	minT, maxT := time.Unix(0, math.MinInt64).UTC(), time.Unix(0, math.MaxInt64).UTC()
	before := lastOf(t, cl, "n1")
	for _, bad := range []time.Time{
		minT.Add(-time.Nanosecond), maxT.Add(time.Nanosecond),
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		pos, err := cl.AppendSample(ctx, "s", bad, 1)
		require.ErrorIs(t, err, ErrSampleTimeOutOfRange, "%v", bad)
		assert.Zero(t, pos)
		assert.Contains(t, err.Error(), bad.Format(time.RFC3339Nano))
		_, err = cl.NewSession(nil).AppendSample(ctx, "s", bad, 1)
		require.ErrorIs(t, err, ErrSampleTimeOutOfRange, "%v", bad)
		// A Node, and a Node's session, refuse it too (they used to store
		// the time wrapped around: 2300 read back as 1715).
		for _, id := range []NodeID{"n1", "n2"} {
			nd, err := cl.Node(id)
			require.NoError(t, err)
			pos, err = nd.AppendSample(ctx, "s", bad, 1)
			require.ErrorIs(t, err, ErrSampleTimeOutOfRange, "%s: %v", id, bad)
			assert.Zero(t, pos)
			_, err = nd.NewSession(nil).AppendSample(ctx, "s", bad, 1)
			require.ErrorIs(t, err, ErrSampleTimeOutOfRange, "%s: %v", id, bad)
		}
	}
	assert.Equal(t, before, lastOf(t, cl, "n1"), "a refused sample is not written")

	for _, good := range []time.Time{minT, maxT} {
		_, err := cl.AppendSample(ctx, "s", good, 2)
		require.NoError(t, err, "%v", good)
	}
	got, _, err := cl.Range(ctx, "s", minT, maxT.Add(time.Nanosecond)) // Range is from <= Time < to
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.True(t, got[0].Time.Equal(minT), "%v", got[0].Time)
	assert.True(t, got[1].Time.Equal(maxT), "%v", got[1].Time)
}

// TestRegressionConfigValidateNegativeAndReservedIDs: Validate accepted
// RetainBytes = -1 and the coordinator's reserved ID as a node. Every
// negative number and every use of CoordinatorID is refused, naming the
// field; zero still takes the default.
func TestRegressionConfigValidateNegativeAndReservedIDs(t *testing.T) {
	cases := []struct {
		field string
		edit  func(*Config)
	}{
		{"RetainBytes", func(c *Config) { c.RetainBytes = -1 }},
		{"RetainEntries", func(c *Config) { c.RetainEntries = -1 }},
		{"SnapshotChunkBytes", func(c *Config) { c.SnapshotChunkBytes = -1 }},
		{"CaughtUpLag", func(c *Config) { c.CaughtUpLag = -1 }},
		{"MaxBatch", func(c *Config) { c.MaxBatch = -1 }},
		{"MaxInflight", func(c *Config) { c.MaxInflight = -1 }},
		{"MaxKeyBytes", func(c *Config) { c.MaxKeyBytes = -1 }},
		{"MaxValueBytes", func(c *Config) { c.MaxValueBytes = -1 }},
		{"HeartbeatTicks", func(c *Config) { c.HeartbeatTicks = -1 }},
		{"FollowerTimeoutTicks", func(c *Config) { c.FollowerTimeoutTicks = -1 }},
		{"SuspectTicks", func(c *Config) { c.SuspectTicks = -1 }},
		{"FenceTicks", func(c *Config) { c.FenceTicks = -1 }},
		{"SyncCount", func(c *Config) { c.SyncCount = -1 }},
		{"TickInterval", func(c *Config) { c.TickInterval = -time.Millisecond }},
		{"SyncLoss", func(c *Config) { c.SyncLoss = DegradeAfter(-time.Second) }},
		{"Leader", func(c *Config) { c.Leader = CoordinatorID }},
		{"SyncFollowers", func(c *Config) { c.SyncFollowers = []NodeID{CoordinatorID} }},
		{"AsyncFollowers", func(c *Config) { c.AsyncFollowers = []NodeID{"n3", CoordinatorID} }},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), "invalid config: "+tc.field+":", "error %q does not name %s", err, tc.field)
			_, err = NewCluster(cfg)
			assert.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
	zero := Config{Leader: "n1", SyncFollowers: []NodeID{"n2"}}
	require.NoError(t, zero.Validate(), "zero numbers take their defaults")
}

// TestRegressionSwitchoverToLeader: a switchover to the node that already
// leads returned nil, as if leadership had moved. It fails with
// ErrAlreadyLeader and changes nothing.
func TestRegressionSwitchoverToLeader(t *testing.T) {
	cl, ev := newTestCluster(t, func(c *Config) { c.ManualFailover = true })
	ctx := testCtx(t)
	_, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	d, err := cl.Switchover(ctx, "n1")
	require.ErrorIs(t, err, ErrAlreadyLeader)
	assert.Contains(t, err.Error(), "n1")
	assert.Zero(t, d)
	leader, err := cl.Leader()
	require.NoError(t, err)
	assert.Equal(t, NodeID("n1"), leader)
	ns, err := cl.NodeStats(ctx, "n1")
	require.NoError(t, err)
	assert.Equal(t, Epoch(1), ns.Epoch, "no fencing round ran")
	assert.Empty(t, ev.of(EventFailoverStarted))

	// A real switchover still works afterwards.
	d, err = cl.Switchover(ctx, "n2")
	require.NoError(t, err)
	assert.Equal(t, NodeID("n2"), d.Promote)
}

// TestRegressionAdoptMalformedToken: Adopt took any Token, so one that
// ParseToken would refuse (an LSN without an epoch, an epoch without an
// LSN) got into the session and surfaced only at a later read, if at all.
// Adopt refuses it at once with ErrBadToken and leaves the session's
// token as it was; it accepts exactly what ParseToken accepts.
func TestRegressionAdoptMalformedToken(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	s := cl.NewSession(nil)
	require.NoError(t, s.Adopt(Token{Epoch: 1, LSN: 3}))
	for _, tok := range []Token{{Epoch: 0, LSN: 5}, {Epoch: 2, LSN: 0}, {Epoch: 0, LSN: 1 << 62}} {
		err := s.Adopt(tok)
		require.ErrorIs(t, err, ErrBadToken, "%v", tok)
		assert.Contains(t, err.Error(), tok.String())
		_, perr := ParseToken(tok.String())
		require.ErrorIs(t, perr, ErrBadToken, "ParseToken agrees")
		assert.Equal(t, Token{Epoch: 1, LSN: 3}, s.Token(), "a refused token is not merged")
	}
	for _, tok := range []Token{{}, {Epoch: 1, LSN: 1}, {Epoch: 1, LSN: 2}} {
		require.NoError(t, s.Adopt(tok), "%v", tok)
		_, perr := ParseToken(tok.String())
		require.NoError(t, perr)
	}
	assert.Equal(t, Token{Epoch: 1, LSN: 3}, s.Token())
}

// TestRegressionReplicasLagOfNothingApplied: a replica that has applied
// no entry yet (or whose applied entry's time is unknown) reported LagTime
// = now - 0, decades. Its lag is now measured from when the leader
// appended the oldest entry its log holds, which is no later than the
// oldest entry the replica lacks: an upper bound on its staleness, as
// for every other replica, and no older than the cluster.
func TestRegressionReplicasLagOfNothingApplied(t *testing.T) {
	start := time.Now()
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	// n3 holds the epoch's opening entry, unapplied: with manual ticks no
	// heartbeat has told it the entry is committed.
	require.NoError(t, cl.waitUntil(ctx, "n3", func(c *core) bool { return c.last.LSN >= 1 }))
	require.NoError(t, cl.Net().PauseNode("n3"))
	for range 3 {
		_, err := cl.Put(ctx, "k", []byte("v"))
		require.NoError(t, err)
	}
	elapsed := time.Since(start)
	reps, err := cl.Replicas()
	require.NoError(t, err)
	require.Len(t, reps, 3)
	n3 := reps[2]
	require.Equal(t, NodeID("n3"), n3.ID)
	require.Equal(t, LSN(0), n3.Applied.LSN, "n3 has applied nothing (precondition)")
	assert.Equal(t, uint64(4), n3.LagEntries, "the opening entry and three writes")
	assert.Positive(t, n3.LagTime)
	assert.LessOrEqual(t, n3.LagTime, time.Since(start), "lag %v is older than the cluster (%v)", n3.LagTime, elapsed)
	for _, rs := range reps {
		assert.LessOrEqual(t, rs.LagTime, time.Since(start), "%s", rs.ID)
	}
}

// TestRegressionCloseReleasesWriteAwaitingLeader: with the leader crashed
// and failover manual, a write with no deadline waits for a new leader.
// Close did not wake it (the leader was already gone, so nothing
// changed), and it blocked forever. Close makes it fail with ErrClosed.
func TestRegressionCloseReleasesWriteAwaitingLeader(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.ManualFailover = true })
	require.NoError(t, cl.Crash("n1"))
	done := make(chan error, 1)
	go func() {
		_, err := cl.Put(context.Background(), "k", []byte("v"))
		done <- err
	}()
	// The writer is waiting once it has asked to be told of a new leader.
	deadline := time.Now().Add(testTimeout)
	for {
		cl.leaderMu.Lock()
		waiting := cl.leaderChanged != nil
		cl.leaderMu.Unlock()
		if waiting {
			break
		}
		require.True(t, time.Now().Before(deadline), "the write never waited for a leader")
		runtime.Gosched()
	}
	select {
	case err := <-done:
		t.Fatalf("the write returned %v with no leader and the cluster open", err)
	default:
	}
	require.NoError(t, cl.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(testTimeout):
		t.Fatal("Close did not release the write waiting for a leader")
	}
}

// TestRegressionCancelledContextSaysWhat: Stats and friends returned a
// bare "context canceled" for a cancelled context (or one that ended while
// they waited). The error now says what was being done, still wraps the
// context's error, and nothing was started: no failover, no switchover.
func TestRegressionCancelledContextSaysWhat(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.ManualFailover = true })
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		prefix string
		call   func(context.Context) error
	}{
		{"replstore: stats: ", func(ctx context.Context) error { _, err := cl.Stats(ctx); return err }},
		{"replstore: node stats of n2: ", func(ctx context.Context) error { _, err := cl.NodeStats(ctx, "n2"); return err }},
		{"replstore: waiting for n2 to apply LSN 1: ", func(ctx context.Context) error { return cl.WaitApplied(ctx, "n2", 1) }},
		{"replstore: failover: ", func(ctx context.Context) error { _, err := cl.Failover(ctx, FailoverOptions{}); return err }},
		{"replstore: switchover to n2: ", func(ctx context.Context) error { _, err := cl.Switchover(ctx, "n2"); return err }},
	} {
		for range 20 { // the answer must not depend on which select case wins
			err := tc.call(cancelled)
			require.ErrorIs(t, err, context.Canceled, tc.prefix)
			assert.Equal(t, tc.prefix+"context canceled", err.Error())
		}
	}
	ns, err := cl.NodeStats(testCtx(t), "n1")
	require.NoError(t, err)
	assert.Equal(t, "leader", ns.Role)
	assert.Equal(t, Epoch(1), ns.Epoch, "a cancelled Failover or Switchover started nothing")

	// A context that ends while the call waits.
	short, cancelShort := context.WithTimeout(testCtx(t), time.Millisecond)
	defer cancelShort()
	err = cl.WaitApplied(short, "n2", 1<<40)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "replstore: waiting for n2 to apply LSN 1099511627776: context deadline exceeded", err.Error())
}

// failingReader fails every Read with err.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// TestRegressionErrorPrefixOnce: errors that wrap another of this
// package's errors read "replstore: ...: replstore: ...". Every error
// message carries the prefix once, on every path below.
func TestRegressionErrorPrefixOnce(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	require.NoError(t, cl.WaitApplied(ctx, "n1", pos.LSN))
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	paths := map[string]func() error{
		"empty key":                 func() error { _, err := cl.Put(ctx, "", nil); return err },
		"key too large":             func() error { _, err := cl.Put(ctx, string(make([]byte, 2000)), nil); return err },
		"empty command":             func() error { _, err := cl.Write(ctx, nil); return err },
		"malformed command":         func() error { _, err := cl.Write(ctx, []byte{1, 0}); return err },
		"bad sample time":           func() error { _, err := cl.AppendSample(ctx, "s", time.Time{}, 1); return err },
		"unknown node: Store":       func() error { _, err := cl.Store("zz"); return err },
		"unknown node: Crash":       func() error { return cl.Crash("zz") },
		"unknown node: NodeStats":   func() error { _, err := cl.NodeStats(ctx, "zz"); return err },
		"unknown node: WaitApplied": func() error { return cl.WaitApplied(ctx, "zz", 1) },
		"unknown node: Switchover":  func() error { _, err := cl.Switchover(ctx, "zz"); return err },
		"unknown node: SetSync":     func() error { return cl.SetSync(ctx, "zz", true) },
		"restart running":           func() error { return cl.Restart("n2") },
		"sync set too small":        func() error { return cl.RemoveFollower(ctx, "n2") },
		"switchover to leader":      func() error { _, err := cl.Switchover(ctx, "n1"); return err },
		"bad token: parse":          func() error { _, err := ParseToken("1-3"); return err },
		"bad token: adopt":          func() error { return cl.NewSession(nil).Adopt(Token{LSN: 5}) },
		"bad token: read": func() error {
			s := cl.NewSession(nil)
			require.NoError(t, s.Adopt(Token{Epoch: 1, LSN: 1 << 40}))
			_, _, _, err := s.Get(ctx, "k")
			return err
		},
		"bad snapshot":          func() error { return NewStore().Restore(bytes.NewReader([]byte("garbage"))) },
		"snapshot reader fails": func() error { return NewStore().Restore(failingReader{ErrClosed}) },
		"cancelled stats": func() error {
			c, cancel := context.WithCancel(ctx)
			cancel()
			_, err := cl.Stats(c)
			return err
		},
		"wait applied times out": func() error { return cl.WaitApplied(short(), "n2", 1<<40) },
	}
	var pending Position // the unacknowledged write
	// n2 stops answering: writes are not acknowledged and the leader
	// cannot confirm a Leader read; n1 then crashes: writes find no leader.
	faults := []struct {
		name string
		call func() error
	}{
		{"not acknowledged", func() error {
			require.NoError(t, cl.Net().PauseNode("n2"))
			_, err := cl.Put(short(), "k", []byte("v2"))
			var nack *NotAcknowledgedError
			require.ErrorAs(t, err, &nack)
			pending = nack.Pos
			return err
		}},
		{"leader read unconfirmed", func() error { _, _, _, err := cl.Get(short(), "k"); return err }},
		{"session read times out", func() error {
			// No replica has applied the unacknowledged write.
			s := cl.NewSession(SessionConsistent{Wait: time.Hour})
			require.NoError(t, s.Adopt(Token(pending)))
			_, _, _, err := s.Get(short(), "k")
			return err
		}},
		{"no leader", func() error {
			require.NoError(t, cl.Crash("n1"))
			_, err := cl.Put(short(), "k", []byte("v3"))
			return err
		}},
	}
	check := func(name string, err error) {
		t.Helper()
		t.Logf("%s: %v", name, err)
		if assert.Error(t, err, name) {
			assert.Equal(t, 1, strings.Count(err.Error(), "replstore:"), "%s: %q", name, err)
		}
	}
	for name, call := range paths {
		check(name, call())
	}
	for _, f := range faults {
		check(f.name, f.call())
	}

	require.NoError(t, cl.Close())
	closed := map[string]func() error{
		"closed: Put":         func() error { _, err := cl.Put(ctx, "k", nil); return err },
		"closed: Get":         func() error { _, _, _, err := cl.Get(ctx, "k"); return err },
		"closed: Stats":       func() error { _, err := cl.Stats(ctx); return err },
		"closed: NodeStats":   func() error { _, err := cl.NodeStats(ctx, "n2"); return err },
		"closed: WaitApplied": func() error { return cl.WaitApplied(ctx, "n2", 1) },
		"closed: Failover":    func() error { _, err := cl.Failover(ctx, FailoverOptions{}); return err },
		"closed: Switchover":  func() error { _, err := cl.Switchover(ctx, "n2"); return err },
		"closed: AddFollower": func() error { return cl.AddFollower(ctx, "n9") },
		"closed: SetSync":     func() error { return cl.SetSync(ctx, "n3", true) },
		"closed: Replicas":    func() error { _, err := cl.Replicas(); return err },
		"closed: Leader":      func() error { _, err := cl.Leader(); return err },
		"closed: Tick":        func() error { return cl.Tick(ctx) },
		"closed: Close":       func() error { return cl.Close() },
	}
	for name, call := range closed {
		err := call()
		require.ErrorIs(t, err, ErrClosed, name)
		check(name, err)
	}
}

// TestRegressionMemNetUnknownNode: MemNet's fault methods accepted a
// node that is not on the network and did nothing, silently. They fail
// with ErrUnknownNode and change nothing; a crashed node (unregistered)
// and the coordinator are still known.
func TestRegressionMemNetUnknownNode(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	net := cl.Net()
	for name, call := range map[string]func() error{
		"PauseNode":            func() error { return net.PauseNode("zz") },
		"ResumeNode":           func() error { return net.ResumeNode("zz") },
		"PauseLink from":       func() error { return net.PauseLink("zz", "n1") },
		"PauseLink to":         func() error { return net.PauseLink("n1", "zz") },
		"ResumeLink":           func() error { return net.ResumeLink("n1", "zz") },
		"DropLink":             func() error { return net.DropLink("n1", "zz", true) },
		"DropNext":             func() error { return net.DropNext("zz", "n2", 1) },
		"Delay":                func() error { return net.Delay("n1", "zz", time.Hour) },
		"Partition":            func() error { return net.Partition([]NodeID{"n1"}, []NodeID{"n2", "zz"}) },
		"Partition, lone name": func() error { return net.Partition([]NodeID{"zz"}) },
	} {
		err := call()
		require.ErrorIs(t, err, ErrUnknownNode, name)
		assert.Contains(t, err.Error(), `"zz"`, name)
		assert.Equal(t, 1, strings.Count(err.Error(), "replstore:"), name)
	}
	require.NoError(t, net.checkInvariants())
	assert.Zero(t, net.active.Load(), "a refused fault changed nothing: every Send is on the fast path")

	require.NoError(t, cl.Crash("n3"))
	require.NoError(t, net.PauseNode("n3"), "a crashed node is still known")
	require.NoError(t, net.ResumeNode("n3"))
	require.NoError(t, net.Partition([]NodeID{"n1"}, []NodeID{"n2", CoordinatorID}))
	require.NoError(t, net.Partition())
	require.NoError(t, cl.AddFollower(testCtx(t), "n4"))
	require.NoError(t, net.PauseLink("n1", "n4"), "a node added later is known")
}

// A switchover to a target that is caught up but stops answering (here
// paused) used to fence every node and promote nobody: under
// ManualFailover nobody led again. Now the round promotes by the
// candidate rule (the old leader, which holds everything) and the
// switchover fails with ErrNodeDown.
func TestRegressionSwitchoverToUnreachableTargetKeepsALeader(t *testing.T) {
	ctx := testCtx(t)
	cl, _ := newTestCluster(t, func(c *Config) { c.ManualTicks = false; c.ManualFailover = true })
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	require.NoError(t, cl.WaitApplied(ctx, "n2", pos.LSN))
	require.NoError(t, cl.Net().PauseNode("n2"))
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := cl.Switchover(short, "n2")
	require.ErrorIs(t, err, ErrNodeDown, "the switchover says its target did not answer")
	require.Equal(t, NodeID("n1"), d.Promote, "the old leader leads the new epoch")
	require.NoError(t, cl.Net().ResumeNode("n2"))
	after, err := cl.Put(ctx, "after", []byte("switchover failed"))
	require.NoError(t, err, "the cluster still has a leader")
	require.Greater(t, after.Epoch, pos.Epoch)
	rec, _, sv, err := cl.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, pos, rec.Pos)
	require.Equal(t, NodeID("n1"), sv.Node)
}
