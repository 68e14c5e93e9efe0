package replstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testTimeout bounds every wait in these tests. It only decides how long a
// broken build takes to fail: no test sleeps or relies on timing to pass.
const testTimeout = 20 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newTestCluster starts a cluster from DefaultConfig changed by edit, with
// manual ticks (time moves only when the test says so), and records its
// events.
func newTestCluster(t *testing.T, edit func(*Config)) (*Cluster, *eventLog) {
	cfg := DefaultConfig()
	cfg.ManualTicks = true
	ev := &eventLog{}
	cfg.OnEvent = ev.add
	if edit != nil {
		edit(&cfg)
	}
	cl, err := NewCluster(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	return cl, ev
}

type eventLog struct {
	mu  sync.Mutex
	all []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, e)
}

func (l *eventLog) of(kind EventKind) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.all {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func ticks(t *testing.T, cl *Cluster, n int) {
	for i := 0; i < n; i++ {
		require.NoError(t, cl.Tick(testCtx(t)))
	}
}

func lastOf(t *testing.T, cl *Cluster, id NodeID) Position {
	ns, err := cl.NodeStats(testCtx(t), id)
	require.NoError(t, err)
	return ns.Last
}

func value(t *testing.T, cl *Cluster, id NodeID, key string) (string, bool) {
	st, err := cl.Store(id)
	require.NoError(t, err)
	r, ok := st.Get(key)
	return string(r.Value), ok
}

// startWrite runs a Put in the background; its result arrives on the
// returned channel.
type writeResult struct {
	pos Position
	err error
}

func startWrite(cl *Cluster, ctx context.Context, key, val string) <-chan writeResult {
	ch := make(chan writeResult, 1)
	go func() {
		pos, err := cl.Put(ctx, key, []byte(val))
		ch <- writeResult{pos, err}
	}()
	return ch
}

// waitAppended waits until the leader's log reaches lsn.
func waitAppended(t *testing.T, cl *Cluster, lsn LSN) {
	leader, err := cl.Leader()
	require.NoError(t, err)
	require.NoError(t, cl.waitUntil(testCtx(t), leader, func(c *core) bool { return c.last.LSN >= lsn }))
}

// TestAsyncAckMayExistOnlyOnLeader: at ack level Local the leader
// acknowledges a write no follower has, which is exactly the write a
// failover at that moment would lose.
func TestAsyncAckMayExistOnlyOnLeader(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.AckLevel = Local })
	ctx := testCtx(t)
	require.NoError(t, cl.Net().PauseNode("n1")) // nothing leaves or reaches the leader
	pos, err := cl.Put(ctx, "sat/ISS/elements", []byte("epoch=2026-11-22"))
	require.NoError(t, err, "a Local write must not wait for followers")
	assert.Less(t, lastOf(t, cl, "n2").LSN, pos.LSN, "the sync follower already has the write")
	assert.Less(t, lastOf(t, cl, "n3").LSN, pos.LSN, "the async follower already has the write")
	v, ok := value(t, cl, "n1", "sat/ISS/elements")
	assert.True(t, ok)
	assert.Equal(t, "epoch=2026-11-22", v)

	require.NoError(t, cl.Net().ResumeNode("n1"))
	ticks(t, cl, 1) // the heartbeat carries the commit LSN
	for _, id := range []NodeID{"n2", "n3"} {
		require.NoError(t, cl.WaitApplied(ctx, id, pos.LSN))
		v, _ := value(t, cl, id, "sat/ISS/elements")
		assert.Equal(t, "epoch=2026-11-22", v, id)
	}
}

// TestSyncAckLevels: a write acknowledged at Received, Durable or Applied
// is on the sync follower at that level when Put returns, even while the
// async follower is cut off. Under Applied it is already readable there.
func TestSyncAckLevels(t *testing.T) {
	for _, level := range []AckLevel{Received, Durable, Applied} {
		t.Run(level.String(), func(t *testing.T) {
			cl, _ := newTestCluster(t, func(c *Config) { c.AckLevel = level })
			ctx := testCtx(t)
			require.NoError(t, cl.Net().PauseLink("n1", "n3")) // the async follower hears nothing
			var pos Position
			for i := 0; i < 20; i++ {
				var err error
				pos, err = cl.Put(ctx, "k", []byte(fmt.Sprint("v", i)))
				require.NoError(t, err)
			}
			st, err := cl.Stats(ctx)
			require.NoError(t, err)
			n2 := st.Followers[0]
			require.Equal(t, NodeID("n2"), n2.ID)
			assert.True(t, n2.Sync)
			assert.GreaterOrEqual(t, n2.Received, pos.LSN)
			if level >= Durable {
				assert.GreaterOrEqual(t, n2.Durable, pos.LSN)
			}
			if level == Applied {
				// No waiting: the guarantee is that it is visible now.
				v, ok := value(t, cl, "n2", "k")
				assert.True(t, ok)
				assert.Equal(t, "v19", v)
				assert.GreaterOrEqual(t, n2.Applied, pos.LSN)
			}
			assert.Less(t, lastOf(t, cl, "n3").LSN, pos.LSN, "the paused async follower has the writes")
			assert.Equal(t, uint64(pos.LSN), st.Followers[1].LagEntries, "async follower lag")

			// Hold n2's answers: n2 stores the next write, but until the
			// leader hears so, the write is not committed and not answered.
			require.NoError(t, cl.Net().PauseLink("n2", "n1"))
			w := startWrite(cl, ctx, "held", "x")
			next := pos.LSN + 1
			require.NoError(t, cl.waitUntil(ctx, "n2", func(c *core) bool { return c.matched >= next }))
			ns, err := cl.NodeStats(ctx, "n1")
			require.NoError(t, err)
			assert.Less(t, ns.Commit, next, "committed before the sync follower's acknowledgement arrived")
			select {
			case r := <-w:
				t.Fatalf("acknowledged before the sync follower answered: %+v", r)
			default:
			}
			require.NoError(t, cl.Net().ResumeLink("n2", "n1"))
			require.NoError(t, (<-w).err)
		})
	}
}

// TestFirstFallsBackToNextPriority: FIRST 1 (n2, n3) commits on n2 while
// it lives; when n2 stops answering for FollowerTimeoutTicks, n3 becomes
// the sync follower and the waiting write commits on it.
func TestFirstFallsBackToNextPriority(t *testing.T) {
	cl, ev := newTestCluster(t, func(c *Config) {
		c.SyncFollowers, c.AsyncFollowers = []NodeID{"n2", "n3"}, nil
		c.Quorum = First
	})
	ctx := testCtx(t)
	_, err := cl.Put(ctx, "before", []byte("x"))
	require.NoError(t, err)
	st, err := cl.Stats(ctx)
	require.NoError(t, err)
	assert.True(t, st.Followers[0].Sync, "n2 has the highest priority")
	assert.False(t, st.Followers[1].Sync, "n3 is a potential sync follower only")

	require.NoError(t, cl.Net().PauseNode("n2"))
	w := startWrite(cl, ctx, "during", "y")
	waitAppended(t, cl, 3)
	select {
	case r := <-w:
		t.Fatalf("write acknowledged while the only active sync follower was paused: %+v", r)
	default:
	}
	ticks(t, cl, cl.Config().FollowerTimeoutTicks+1)
	r := <-w
	require.NoError(t, r.err)
	st, err = cl.Stats(ctx)
	require.NoError(t, err)
	assert.False(t, st.Followers[0].Sync)
	assert.True(t, st.Followers[1].Sync, "n3 took over")
	assert.GreaterOrEqual(t, st.Followers[1].Durable, r.pos.LSN)
	require.NotEmpty(t, ev.of(EventSyncSetChanged))
	assert.Equal(t, []NodeID{"n3"}, st.SyncHistory[len(st.SyncHistory)-1].Members)
}

// TestAnyCommitsOnWhicheverAnswers: ANY 1 (n2, n3) does not wait for a
// paused member, since the other answers.
func TestAnyCommitsOnWhicheverAnswers(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) {
		c.SyncFollowers, c.AsyncFollowers = []NodeID{"n2", "n3"}, nil
		c.Quorum = Any
	})
	ctx := testCtx(t)
	require.NoError(t, cl.Net().PauseNode("n2"))
	pos, err := cl.Put(ctx, "k", []byte("v")) // no ticks needed
	require.NoError(t, err)
	assert.Less(t, lastOf(t, cl, "n2").LSN, pos.LSN)
	assert.GreaterOrEqual(t, lastOf(t, cl, "n3").LSN, pos.LSN)

	// ANY 2 of the same set needs both: it blocks until n2 is back.
	cl2, _ := newTestCluster(t, func(c *Config) {
		c.SyncFollowers, c.AsyncFollowers = []NodeID{"n2", "n3"}, nil
		c.Quorum, c.SyncCount = Any, 2
	})
	require.NoError(t, cl2.Net().PauseNode("n2"))
	w := startWrite(cl2, ctx, "k", "v")
	waitAppended(t, cl2, 2)
	select {
	case r := <-w:
		t.Fatalf("ANY 2 acknowledged with one member paused: %+v", r)
	default:
	}
	require.NoError(t, cl2.Net().ResumeNode("n2"))
	require.NoError(t, (<-w).err)
}

// TestSyncLossBlock: with the only sync follower gone, a write waits, fails
// with ErrNotAcknowledged when its context ends, and is never reported
// committed; once the follower returns it commits (it was in the log).
func TestSyncLossBlock(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	require.NoError(t, cl.Net().PauseNode("n2"))
	wctx, cancel := context.WithCancel(ctx)
	w := startWrite(cl, wctx, "k", "v")
	waitAppended(t, cl, 2)
	ticks(t, cl, 3*cl.Config().FollowerTimeoutTicks) // Block: time changes nothing
	cancel()
	r := <-w
	require.ErrorIs(t, r.err, ErrNotAcknowledged)
	require.ErrorIs(t, r.err, context.Canceled)
	var na *NotAcknowledgedError
	require.ErrorAs(t, r.err, &na)
	assert.Equal(t, LSN(2), na.Pos.LSN)
	assert.Contains(t, r.err.Error(), "n2 not answering")
	st, err := cl.Stats(ctx)
	require.NoError(t, err)
	assert.Less(t, st.Commit, na.Pos.LSN, "the write counts as committed")
	_, ok := value(t, cl, "n1", "k")
	assert.False(t, ok, "the leader applied an uncommitted write")

	require.NoError(t, cl.Net().ResumeNode("n2"))
	ticks(t, cl, 1)
	require.NoError(t, cl.WaitApplied(ctx, "n1", na.Pos.LSN), "the unacknowledged write never committed after the sync follower came back")
}

// TestSyncLossReplace: the async follower, caught up, replaces the lost
// sync follower; the waiting write commits on it; the history says so.
func TestSyncLossReplace(t *testing.T) {
	cl, ev := newTestCluster(t, func(c *Config) { c.SyncLoss = Replace })
	ctx := testCtx(t)
	_, err := cl.Put(ctx, "before", []byte("x"))
	require.NoError(t, err)
	require.NoError(t, cl.Net().PauseNode("n2"))
	w := startWrite(cl, ctx, "k", "v")
	waitAppended(t, cl, 3)
	ticks(t, cl, cl.Config().FollowerTimeoutTicks+1)
	r := <-w
	require.NoError(t, r.err)
	rep := ev.of(EventSyncReplaced)
	require.Len(t, rep, 1)
	assert.Equal(t, NodeID("n3"), rep[0].Peer)
	st, err := cl.Stats(ctx)
	require.NoError(t, err)
	h := st.SyncHistory[len(st.SyncHistory)-1]
	assert.Equal(t, []NodeID{"n3"}, h.Members)
	assert.GreaterOrEqual(t, r.pos.LSN, h.AtCommit)
	for _, f := range st.Followers {
		assert.Equal(t, f.ID == "n3", f.Sync, f.ID)
	}
	assert.GreaterOrEqual(t, lastOf(t, cl, "n3").LSN, r.pos.LSN, "committed without the replacement holding it")
}

// TestSyncLossDegradeAfter: after the configured time without a sync
// follower, the leader commits alone, says so (event, Stats.Degraded,
// history), and returns to sync commit when the follower is back.
func TestSyncLossDegradeAfter(t *testing.T) {
	cl, ev := newTestCluster(t, func(c *Config) { c.SyncLoss = DegradeAfter(200 * time.Millisecond) })
	ctx := testCtx(t)
	degradeTicks := cl.Config().ticksFor(200 * time.Millisecond)
	require.NoError(t, cl.Net().PauseNode("n2"))
	w := startWrite(cl, ctx, "k", "v")
	waitAppended(t, cl, 2)
	ticks(t, cl, cl.Config().FollowerTimeoutTicks+degradeTicks-1)
	select {
	case r := <-w:
		t.Fatalf("degraded before the deadline: %+v", r)
	default:
	}
	ticks(t, cl, 2)
	r := <-w
	require.NoError(t, r.err)
	require.Len(t, ev.of(EventDegraded), 1)
	st, err := cl.Stats(ctx)
	require.NoError(t, err)
	assert.True(t, st.Degraded)
	assert.True(t, st.SyncHistory[len(st.SyncHistory)-1].Degraded)
	pos, err := cl.Put(ctx, "k2", []byte("leader only"))
	require.NoError(t, err, "degraded writes must not wait")
	assert.Less(t, lastOf(t, cl, "n2").LSN, pos.LSN)

	require.NoError(t, cl.Net().ResumeNode("n2"))
	ticks(t, cl, 1) // n2 answers the heartbeat: the sync set is back
	// The leader restores sync commit once the coordinator has recorded it.
	require.NoError(t, cl.waitUntil(ctx, "n1", func(c *core) bool { return !c.degraded }))
	restored := ev.of(EventRestored)
	require.Len(t, restored, 1)
	assert.Contains(t, restored[0].Detail, "acknowledged by the leader alone")
	st, err = cl.Stats(ctx)
	require.NoError(t, err)
	assert.False(t, st.Degraded)
	// Sync again: a write needs n2.
	require.NoError(t, cl.Net().PauseNode("n2"))
	w = startWrite(cl, ctx, "k3", "sync again")
	waitAppended(t, cl, pos.LSN+1)
	select {
	case r := <-w:
		t.Fatalf("acknowledged without the sync follower after restore: %+v", r)
	default:
	}
	require.NoError(t, cl.Net().ResumeNode("n2"))
	require.NoError(t, (<-w).err)
}

// TestFollowerCrashCatchUp: a follower crashes during writes, misses some,
// restarts from its log (its state machine is rebuilt) and catches up to
// the same state as the leader.
func TestFollowerCrashCatchUp(t *testing.T) {
	for _, id := range []NodeID{"n2", "n3"} {
		t.Run(string(id), func(t *testing.T) {
			cl, _ := newTestCluster(t, func(c *Config) {
				// Two sync followers, ANY 1: the cluster keeps committing
				// whichever one is down.
				c.SyncFollowers, c.AsyncFollowers = []NodeID{"n2", "n3"}, nil
				c.Quorum = Any
			})
			ctx := testCtx(t)
			put := func(i int) Position {
				pos, err := cl.Put(ctx, fmt.Sprint("k", i%7), []byte(fmt.Sprint("v", i)))
				require.NoError(t, err)
				return pos
			}
			for i := 0; i < 50; i++ {
				put(i)
			}
			require.NoError(t, cl.Crash(id))
			_, err := cl.Store(id)
			require.ErrorIs(t, err, ErrNodeDown)
			var last Position
			for i := 50; i < 120; i++ {
				last = put(i)
			}
			assert.Less(t, lastOf(t, cl, id).LSN, last.LSN)
			require.NoError(t, cl.Restart(id))
			ticks(t, cl, 1)
			require.NoError(t, cl.WaitApplied(ctx, id, last.LSN))
			requireSameState(t, cl, "n1", id)
		})
	}
}

// requireSameState compares two nodes' stores through their snapshots.
func requireSameState(t *testing.T, cl *Cluster, a, b NodeID) {
	snap := func(id NodeID) string {
		st, err := cl.Store(id)
		require.NoError(t, err)
		var sb strings.Builder
		require.NoError(t, st.Snapshot(&sb))
		return sb.String()
	}
	require.Equal(t, snap(a), snap(b), "%s and %s hold different states", a, b)
}

// TestConcurrentWritersConverge: many writers, each write gets its own
// LSN, and every replica ends with the leader's state.
func TestConcurrentWritersConverge(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.ManualTicks = false })
	ctx := testCtx(t)
	const writers, each = 16, 200
	var mu sync.Mutex
	seen := map[LSN]bool{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for j := 0; j < each; j++ {
				pos, err := cl.Put(ctx, fmt.Sprint("k", (w*31+j)%50), []byte(fmt.Sprint(w, "/", j)))
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				assert.False(t, seen[pos.LSN], "LSN %d given twice", pos.LSN)
				seen[pos.LSN] = true
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	assert.Len(t, seen, writers*each)
	last := lastOf(t, cl, "n1")
	assert.Equal(t, LSN(writers*each+1), last.LSN, "LSNs are not dense (1 is the epoch entry)")
	for _, id := range []NodeID{"n2", "n3"} {
		require.NoError(t, cl.WaitApplied(ctx, id, last.LSN))
		requireSameState(t, cl, "n1", id)
	}
}

// TestBadInput: each bad call gets a clear error, writes nothing, and
// returns at once.
func TestBadInput(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	_, err := cl.Put(ctx, "good", []byte("v"))
	require.NoError(t, err)
	before := lastOf(t, cl, "n1")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"empty key", func() error { _, err := cl.Put(ctx, "", []byte("v")); return err }, ErrEmptyKey},
		{"empty series", func() error { _, err := cl.AppendSample(ctx, "", time.Unix(0, 0), 1); return err }, ErrEmptyKey},
		{"key too large", func() error { _, err := cl.Put(ctx, strings.Repeat("k", 1025), nil); return err }, ErrKeyTooLarge},
		{"value too large", func() error { _, err := cl.Put(ctx, "k", make([]byte, 1<<20+1)); return err }, ErrValueTooLarge},
		{"empty command", func() error { _, err := cl.Write(ctx, nil); return err }, ErrEmptyCommand},
		{"cancelled context", func() error { _, err := cl.Put(cancelled, "k", []byte("v")); return err }, context.Canceled},
		{"unknown node crash", func() error { return cl.Crash("n9") }, ErrUnknownNode},
		{"unknown node restart", func() error { return cl.Restart("n9") }, ErrUnknownNode},
		{"unknown node store", func() error { _, err := cl.Store("n9"); return err }, ErrUnknownNode},
		{"unknown node stats", func() error { _, err := cl.NodeStats(ctx, "n9"); return err }, ErrUnknownNode},
		{"unknown node wait", func() error { return cl.WaitApplied(ctx, "n9", 1) }, ErrUnknownNode},
		{"restart running node", func() error { return cl.Restart("n2") }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			require.True(t, strings.HasPrefix(err.Error(), "replstore: "), "error %q does not say where it comes from", err)
		})
	}
	assert.Equal(t, before, lastOf(t, cl, "n1"), "a rejected call wrote to the log")

	// A malformed raw command is stored (the log is opaque) but its result
	// is a clear error, on every replica alike.
	_, err = cl.Write(ctx, []byte{0xff, 1, 2})
	require.ErrorIs(t, err, ErrBadCommand)

	// A deadline while waiting for a sync follower is covered by
	// TestSyncLossBlock. After Close everything says ErrClosed.
	require.NoError(t, cl.Close())
	for name, call := range map[string]func() error{
		"put":     func() error { _, err := cl.Put(ctx, "k", []byte("v")); return err },
		"stats":   func() error { _, err := cl.Stats(ctx); return err },
		"crash":   func() error { return cl.Crash("n2") },
		"close":   cl.Close,
		"tick":    func() error { return cl.Tick(ctx) },
		"store":   func() error { _, err := cl.Store("n1"); return err },
		"leader":  func() error { _, err := cl.Leader(); return err },
		"applied": func() error { return cl.WaitApplied(ctx, "n1", 1) },
	} {
		assert.ErrorIs(t, call(), ErrClosed, name)
	}
}

// TestConfigValidate names the bad field.
func TestConfigValidate(t *testing.T) {
	base := DefaultConfig
	cases := []struct {
		field string
		edit  func(*Config)
	}{
		{"Leader", func(c *Config) { c.Leader = "" }},
		{"SyncFollowers", func(c *Config) { c.SyncFollowers = []NodeID{"n1"} }},
		{"AsyncFollowers", func(c *Config) { c.AsyncFollowers = []NodeID{""} }},
		{"SyncFollowers", func(c *Config) { c.SyncFollowers = nil }},
		{"SyncCount", func(c *Config) { c.SyncCount = 2 }},
		{"AckLevel", func(c *Config) { c.AckLevel = 9 }},
		{"Quorum", func(c *Config) { c.Quorum = 7 }},
		{"SyncLoss", func(c *Config) { c.SyncLoss = DegradeAfter(0) }},
		{"FollowerTimeoutTicks", func(c *Config) { c.FollowerTimeoutTicks = 1 }},
		{"MaxInflight", func(c *Config) { c.MaxInflight = 10; c.MaxBatch = 20 }},
		{"TickInterval", func(c *Config) { c.TickInterval = -1 }},
	}
	for _, tc := range cases {
		cfg := base()
		tc.edit(&cfg)
		err := cfg.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig, tc.field)
		assert.Contains(t, err.Error(), tc.field+":", "error %q does not name %s", err, tc.field)
		_, err = NewCluster(cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig)
	}
	require.NoError(t, base().Validate())
	async := Config{Leader: "a", AsyncFollowers: []NodeID{"b"}, AckLevel: Local}
	require.NoError(t, async.Validate(), "asynchronous replication needs no sync follower")
}

// A writer that hears "committed" finds the leader's published applied
// LSN (what the read router measures replicas by) at its write or past
// it: the leader publishes before it answers.
func TestLeaderPublishesAppliedBeforeAnswering(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	for i := range 500 {
		pos, err := cl.Put(ctx, fmt.Sprintf("k%d", i%7), []byte("v"))
		require.NoError(t, err)
		ldr := cl.leader.Load()
		require.NotNil(t, ldr)
		require.GreaterOrEqual(t, LSN(ldr.pub.appliedLSN.Load()), pos.LSN, "write %d at %v answered before the leader published it applied", i, pos)
	}
}
