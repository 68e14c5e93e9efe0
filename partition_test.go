package replstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The failure stories, each deterministic: time moves only
// with Cluster.Tick, faults come from the in-memory network and Crash.

// writerPool runs closed-loop writers of unique keys and records what was
// acknowledged.
type writerPool struct {
	mu     sync.Mutex
	acked  map[string]Position
	failed map[string]error
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startWriters(t *testing.T, cl *Cluster, n int) *writerPool {
	w := &writerPool{acked: map[string]Position{}, failed: map[string]error{}, stop: make(chan struct{})}
	ctx := testCtx(t)
	for i := 0; i < n; i++ {
		w.wg.Add(1)
		go func(i int) {
			defer w.wg.Done()
			for j := 0; ; j++ {
				select {
				case <-w.stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", i, j)
				pos, err := cl.Put(ctx, key, []byte(key))
				w.mu.Lock()
				if err == nil {
					w.acked[key] = pos
				} else {
					w.failed[key] = err
				}
				w.mu.Unlock()
				if errors.Is(err, ErrClosed) {
					return
				}
			}
		}(i)
	}
	return w
}

func (w *writerPool) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitAcked waits until at least n writes were acknowledged, ticking so
// heartbeats flow.
func (w *writerPool) waitAcked(t *testing.T, cl *Cluster, n int) {
	for i := 0; w.count() < n; i++ {
		require.Less(t, i, 100000, "writers made no progress")
		require.NoError(t, cl.Tick(testCtx(t)))
	}
}

func (w *writerPool) halt() {
	close(w.stop)
	w.wg.Wait()
}

// nodeLog reads node id's whole log on its goroutine.
func nodeLog(t *testing.T, cl *Cluster, id NodeID) []Entry {
	n, err := cl.running(id)
	require.NoError(t, err)
	var out []Entry
	require.NoError(t, n.do(testCtx(t), func() {
		var err error
		out, err = n.core.entriesFrom(n.core.log.First())
		require.NoError(t, err)
	}))
	return out
}

// tickUntilLeader ticks until a leader other than old runs, and returns it
// and the ticks it took.
func tickUntilLeader(t *testing.T, cl *Cluster, old NodeID) (NodeID, int) {
	for i := 1; ; i++ {
		require.NoError(t, cl.Tick(testCtx(t)))
		if id, err := cl.Leader(); err == nil && id != old {
			return id, i
		}
		require.Less(t, i, 1000, "no new leader after %d ticks", i)
	}
}

// requireAckedOn checks that every acknowledged write is in id's log at
// the Position it was acknowledged with, and readable there.
func requireAckedOn(t *testing.T, cl *Cluster, id NodeID, acked map[string]Position) {
	log := nodeLog(t, cl, id)
	at := map[LSN]Entry{}
	for _, e := range log {
		at[e.Pos.LSN] = e
	}
	first := lastOf(t, cl, id).LSN + 1
	if len(log) > 0 {
		first = log[0].Pos.LSN
	}
	for key, pos := range acked {
		if pos.LSN < first {
			continue // compacted into the node's snapshot: the store check below covers it
		}
		e, ok := at[pos.LSN]
		require.True(t, ok, "acknowledged write %s at %v is not in %s's log", key, pos, id)
		require.Equal(t, pos, e.Pos, "acknowledged write %s moved", key)
		require.Equal(t, AppendPut(nil, key, []byte(key)), e.Data, "LSN %d holds another write", pos.LSN)
	}
	require.NoError(t, cl.WaitApplied(testCtx(t), id, first-1+LSN(len(log))))
	st := storeOf(t, cl, id)
	for key, pos := range acked {
		r, ok := st.Get(key)
		require.True(t, ok, "acknowledged write %s is not readable on %s", key, id)
		require.Equal(t, pos, r.Pos)
	}
}

func rolledBack(ev *eventLog, node NodeID) []Entry {
	var out []Entry
	for _, e := range ev.of(EventRolledBack) {
		if e.Node == node {
			out = append(out, e.Entries...)
		}
	}
	return out
}

// (a) The leader crashes while writers run, with one sync follower: the
// sync follower is promoted and holds every acknowledged write at the same
// Position; the old leader comes back, rolls back only unacknowledged
// entries, and follows.
func TestFailoverLeaderCrashSync(t *testing.T) {
	cl, ev := newTestCluster(t, nil)
	w := startWriters(t, cl, 8)
	w.waitAcked(t, cl, 200)
	require.NoError(t, cl.Crash("n1"))
	leader, took := tickUntilLeader(t, cl, "n1")
	assert.Equal(t, NodeID("n2"), leader, "the sync follower holds every acknowledged write")
	t.Logf("promoted %s after %d ticks", leader, took)
	before := w.count()
	w.waitAcked(t, cl, before+100) // writes flow again
	w.halt()
	requireAckedOn(t, cl, leader, w.acked)
	assert.Empty(t, ev.of(EventDataLoss))

	require.NoError(t, cl.Restart("n1"))
	ticks(t, cl, 3)
	last := nodeLog(t, cl, leader)
	require.NoError(t, cl.WaitApplied(testCtx(t), "n1", last[len(last)-1].Pos.LSN))
	assert.Equal(t, last, nodeLog(t, cl, "n1"), "the old leader's log differs from the new leader's")
	for _, e := range rolledBack(ev, "n1") {
		for key, pos := range w.acked {
			require.NotEqual(t, pos, e.Pos, "rolled back the acknowledged write %s", key)
		}
	}
	requireSameState(t, cl, leader, "n1")
}

// (b) Only async followers: the leader acknowledges writes no follower
// has; when it dies they are lost, and the failover says exactly which
// LSNs before it promotes.
func TestFailoverAsyncLosesReportedRange(t *testing.T) {
	cl, ev := newTestCluster(t, func(c *Config) {
		c.AckLevel, c.SyncFollowers, c.AsyncFollowers = Local, nil, []NodeID{"n2", "n3"}
	})
	ctx := testCtx(t)
	for i := 0; i < 10; i++ {
		_, err := cl.Put(ctx, fmt.Sprint("kept", i), []byte("x"))
		require.NoError(t, err)
	}
	ticks(t, cl, 1)
	require.NoError(t, cl.WaitApplied(ctx, "n2", 11))
	require.NoError(t, cl.WaitApplied(ctx, "n3", 11))
	require.NoError(t, cl.Net().PauseLink("n1", "n2"))
	require.NoError(t, cl.Net().PauseLink("n1", "n3"))
	var lost []Position
	for i := 0; i < 5; i++ {
		pos, err := cl.Put(ctx, fmt.Sprint("lost", i), []byte("x"))
		require.NoError(t, err, "Local acknowledges without followers")
		lost = append(lost, pos)
	}
	ticks(t, cl, 1) // the leader reports its commit LSN to the coordinator
	require.NoError(t, cl.Crash("n1"))
	leader, _ := tickUntilLeader(t, cl, "n1")
	loss := ev.of(EventDataLoss)
	require.Len(t, loss, 1, "the loss was not reported")
	// From the first lost write on, open (the old leader may have
	// acknowledged more than it reported), with the commit LSN it last
	// reported: the last lost write.
	assert.Equal(t, lost[0].LSN, loss[0].LSN)
	assert.Contains(t, loss[0].Detail, fmt.Sprintf("LSNs %d..:", lost[0].LSN))
	assert.Contains(t, loss[0].Detail, fmt.Sprintf("commit LSN %d", lost[len(lost)-1].LSN))
	st, err := cl.Store(leader)
	require.NoError(t, err)
	for i := range lost {
		_, ok := st.Get(fmt.Sprint("lost", i))
		assert.False(t, ok, "a write the report calls lost is on the new leader")
	}
	_, ok := st.Get("kept9")
	assert.True(t, ok)

	// The old leader returns: it rolls back the lost writes and says so.
	cl.Net().Heal()
	require.NoError(t, cl.Restart("n1"))
	pos, err := cl.Put(ctx, "after", []byte("x"))
	require.NoError(t, err)
	ticks(t, cl, 2)
	require.NoError(t, cl.WaitApplied(ctx, "n1", pos.LSN))
	requireSameState(t, cl, leader, "n1")
	rb := rolledBack(ev, "n1")
	require.Len(t, rb, len(lost), "rolled-back entries reported")
	for i, e := range rb {
		assert.Equal(t, lost[i], e.Pos)
	}
}

// (c) The leader is cut off from its followers and the coordinator: it
// acknowledges nothing after the cut, a follower is promoted, and when the
// partition heals the old leader is fenced, rolls back, and follows. At no
// time do two nodes commit in the same epoch.
func TestFailoverPartitionedLeaderIsFenced(t *testing.T) {
	cl, ev := newTestCluster(t, nil)
	ctx := testCtx(t)
	_, err := cl.Put(ctx, "before", []byte("x"))
	require.NoError(t, err)
	require.NoError(t, cl.Net().Partition([]NodeID{"n1"}, []NodeID{"n2", "n3", CoordinatorID}))
	cut := startWrite(cl, ctx, "during-cut", "x")
	waitAppended(t, cl, 3)
	leader, _ := tickUntilLeader(t, cl, "n1")
	require.Equal(t, NodeID("n2"), leader)
	ns, err := cl.NodeStats(ctx, "n1")
	require.NoError(t, err)
	assert.Equal(t, "leader", ns.Role, "the cut-off leader cannot know yet")
	assert.Less(t, ns.Commit, LSN(3), "the cut-off leader committed a write")
	pos, err := cl.Put(ctx, "new-leader", []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, Epoch(2), pos.Epoch)

	cl.Net().Heal()
	ticks(t, cl, 3)
	r := <-cut
	require.ErrorIs(t, r.err, ErrNotLeader, "the write sent to the cut-off leader must fail clearly")
	ns, err = cl.NodeStats(ctx, "n1")
	require.NoError(t, err)
	assert.Equal(t, "follower", ns.Role)
	assert.Equal(t, Epoch(2), ns.Epoch)
	rb := rolledBack(ev, "n1")
	require.Len(t, rb, 1)
	assert.Equal(t, LSN(3), rb[0].Pos.LSN)
	require.NoError(t, cl.WaitApplied(ctx, "n1", pos.LSN))
	requireSameState(t, cl, "n2", "n1")
	assert.NotEmpty(t, ev.of(EventSteppedDown))
}

// (d) A zombie leader, paused through a promotion and then resumed: its
// writes and its leader reads are refused.
func TestFailoverZombieLeaderRefused(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	_, err := cl.Put(ctx, "before", []byte("x"))
	require.NoError(t, err)
	zombie, err := cl.running("n1")
	require.NoError(t, err)
	require.NoError(t, cl.Net().PauseNode("n1"))
	leader, _ := tickUntilLeader(t, cl, "n1")
	require.Equal(t, NodeID("n2"), leader)

	// Still paused: the zombie believes it leads, but can neither commit
	// nor confirm a read.
	w := make(chan error, 1)
	go func() { _, err, _ := cl.writeTo(ctx, zombie, AppendPut(nil, "zombie", []byte("x"))); w <- err }()
	read := make(chan error, 1)
	require.True(t, zombie.mbox.call(func() { zombie.startRead(func(err error) { read <- err }) }))
	require.NoError(t, cl.Net().ResumeNode("n1"))
	ticks(t, cl, 2)
	require.ErrorIs(t, <-w, ErrNotLeader)
	rerr := <-read
	require.ErrorIs(t, rerr, ErrNotLeader)
	require.ErrorIs(t, rerr, ErrStaleEpoch, "the refusal says a newer epoch fenced it")
	_, err, _ = cl.writeTo(ctx, zombie, AppendPut(nil, "zombie2", []byte("x")))
	require.ErrorIs(t, err, ErrNotLeader, "a deposed leader took a write")
	st, err := cl.Store(leader)
	require.NoError(t, err)
	_, ok := st.Get("zombie")
	assert.False(t, ok)
	_, err = cl.confirmLeaderNode(ctx)
	require.NoError(t, err, "the new leader confirms reads")
}

// (e) A follower crashes during writes and catches up after restart while
// writes continue.
func TestFailoverFollowerCrashDuringWrites(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) {
		c.SyncFollowers, c.AsyncFollowers, c.Quorum = []NodeID{"n2", "n3"}, nil, Any
	})
	w := startWriters(t, cl, 4)
	w.waitAcked(t, cl, 100)
	require.NoError(t, cl.Crash("n3"))
	w.waitAcked(t, cl, w.count()+100)
	require.NoError(t, cl.Restart("n3"))
	w.waitAcked(t, cl, w.count()+100)
	w.halt()
	ticks(t, cl, 1)
	requireAckedOn(t, cl, "n1", w.acked)
	requireAckedOn(t, cl, "n3", w.acked)
	requireSameState(t, cl, "n1", "n3")
}

// (g) Switchover under load: leadership moves to n3 (async until now), no
// acknowledged write is lost, and every write either commits or is refused
// before being appended (and then retried by Write on the new leader):
// none ends in "maybe".
func TestSwitchoverUnderLoad(t *testing.T) {
	cl, ev := newTestCluster(t, nil)
	ctx := testCtx(t)
	w := startWriters(t, cl, 8)
	w.waitAcked(t, cl, 200)
	done := make(chan error, 1)
	var d Decision
	go func() {
		var err error
		d, err = cl.Switchover(ctx, "n3")
		done <- err
	}()
	for i := 0; len(done) == 0; i++ {
		require.Less(t, i, 1000, "the switchover did not finish")
		require.NoError(t, cl.Tick(ctx))
	}
	require.NoError(t, <-done)
	leader, err := cl.Leader()
	require.NoError(t, err)
	assert.Equal(t, NodeID("n3"), leader)
	assert.Equal(t, NodeID("n3"), d.Promote)
	assert.True(t, d.MayLose.Empty())
	w.waitAcked(t, cl, w.count()+100)
	w.halt()
	w.mu.Lock()
	for key, err := range w.failed {
		t.Errorf("write %s failed during a switchover: %v", key, err)
	}
	w.mu.Unlock()
	requireAckedOn(t, cl, "n3", w.acked)
	ticks(t, cl, 2)
	requireAckedOn(t, cl, "n1", w.acked)
	assert.Empty(t, rolledBack(ev, "n1"), "a switchover rolled back entries")
	assert.Empty(t, ev.of(EventDataLoss))
}

// (h) Flapping: a leader that misses heartbeats briefly, again and again,
// causes no promotion.
func TestFlappingLeaderNoPromotionStorm(t *testing.T) {
	cl, ev := newTestCluster(t, nil)
	ctx := testCtx(t)
	suspect := cl.Config().SuspectTicks
	for round := 0; round < 10; round++ {
		require.NoError(t, cl.Net().PauseNode("n1"))
		ticks(t, cl, suspect-2)
		require.NoError(t, cl.Net().ResumeNode("n1"))
		ticks(t, cl, 3)
		_, err := cl.Put(ctx, fmt.Sprint("k", round), []byte("x"))
		require.NoError(t, err)
	}
	assert.Empty(t, ev.of(EventFailoverStarted), "a brief silence started a failover")
	st, err := cl.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, Epoch(1), st.Epoch)
}

// A failover that cannot reach the sync follower promotes nobody, unless
// the operator allows data loss, and then it reports what may be lost.
func TestFailoverRefusesWithoutSyncQuorum(t *testing.T) {
	cl, ev := newTestCluster(t, func(c *Config) { c.ManualFailover = true })
	ctx := testCtx(t)
	put := func(k string) Position {
		pos, err := cl.Put(ctx, k, []byte("x"))
		require.NoError(t, err)
		return pos
	}
	for i := 0; i < 5; i++ {
		put(fmt.Sprint("everywhere", i))
	}
	ticks(t, cl, 1)
	require.NoError(t, cl.WaitApplied(ctx, "n3", 6))
	require.NoError(t, cl.Net().PauseLink("n1", "n3")) // the async follower misses what follows
	var missed []Position
	for i := 0; i < 4; i++ {
		missed = append(missed, put(fmt.Sprint("n2-only", i)))
	}
	ticks(t, cl, 1) // the leader reports its commit LSN
	require.NoError(t, cl.Crash("n1"))
	require.NoError(t, cl.Crash("n2")) // the only node with every acknowledged write
	errc := make(chan error, 1)
	go func() { _, err := cl.Failover(ctx, FailoverOptions{}); errc <- err }()
	// Tick until the round ends; it must end within a few fencing
	// timeouts of starting (the goroutine may start it late). The round
	// has ended when it reports EventFailoverBlocked: the goroutine's
	// answer needs no more ticks, and may come a little later on a
	// loaded machine.
	for after := 0; len(errc) == 0 && len(ev.of(EventFailoverBlocked)) == 0; {
		require.NoError(t, cl.Tick(ctx))
		if len(ev.of(EventFailoverStarted)) > 0 {
			after++
			require.LessOrEqual(t, after, 3*cl.Config().FenceTicks, "the fencing round did not end")
		}
	}
	require.ErrorIs(t, <-errc, ErrNoSafeCandidate)
	_, err := cl.Leader()
	require.ErrorIs(t, err, ErrNodeDown, "promoted without a safe candidate")
	require.Len(t, ev.of(EventFailoverBlocked), 1)
	assert.Empty(t, ev.of(EventPromoted))

	dc := make(chan Decision, 1)
	go func() {
		d, err := cl.Failover(ctx, FailoverOptions{AllowDataLoss: true})
		assert.NoError(t, err)
		dc <- d
	}()
	leader, _ := tickUntilLeader(t, cl, "n1")
	d := <-dc
	assert.Equal(t, NodeID("n3"), leader)
	assert.Equal(t, leader, d.Promote)
	// The range starts at the first write n3 missed and is open: the old
	// leader might have acknowledged more after it last reported (it
	// reported a commit LSN up to the last write n3 missed).
	want := LSNRange{From: missed[0].LSN, To: MaxLSN}
	assert.Equal(t, want, d.MayLose, "the reported range does not start at the first write n3 missed")
	assert.Equal(t, missed[len(missed)-1].LSN, d.LeaderCommit)
	loss := ev.of(EventDataLoss)
	require.Len(t, loss, 1)
	assert.Contains(t, loss[0].Detail, want.String())
	assert.Contains(t, loss[0].Detail, fmt.Sprintf("commit LSN %d", d.LeaderCommit))
}

// Tokens across failover: a token whose entry the new leader holds stays
// valid; one naming a write the failover lost (asynchronous commit) fails
// with ErrTokenLost instead of waiting forever.
func TestTokensAcrossFailover(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) {
		c.AckLevel, c.SyncFollowers, c.AsyncFollowers = Local, nil, []NodeID{"n2", "n3"}
	})
	ctx := testCtx(t)
	kept := cl.NewSession(SessionConsistent{})
	_, err := kept.Put(ctx, "sat/ISS/elements", []byte("kept"))
	require.NoError(t, err)
	ticks(t, cl, 1)
	require.NoError(t, cl.Net().PauseLink("n1", "n2"))
	require.NoError(t, cl.Net().PauseLink("n1", "n3"))
	lost := cl.NewSession(SessionConsistent{})
	_, err = lost.Put(ctx, "sat/HST/elements", []byte("lost"))
	require.NoError(t, err, "Local acknowledges without followers")
	ticks(t, cl, 1)
	require.NoError(t, cl.Crash("n1"))
	tickUntilLeader(t, cl, "n1")
	cl.Net().Heal()
	ticks(t, cl, 1)

	rec, found, served, err := kept.Get(ctx, "sat/ISS/elements")
	require.NoError(t, err, "a token the new leader holds must stay valid")
	assert.True(t, found)
	assert.Equal(t, "kept", string(rec.Value))
	assert.GreaterOrEqual(t, served.Applied.LSN, LSN(2))

	_, _, _, err = lost.Get(ctx, "sat/HST/elements")
	require.ErrorIs(t, err, ErrTokenLost)
}

// A token naming a write that a failover lost stays lost after the new
// leader has written past its LSN and compacted its log there: the
// leader's history of epochs outlives the entries, so it still sees that
// another epoch's entry stands at the token's LSN instead of taking every
// compacted LSN for the token's.
func TestTokenLostAfterLeaderCompactsPastIt(t *testing.T) {
	cl, ev := newTestCluster(t, func(c *Config) {
		c.AckLevel, c.SyncFollowers, c.AsyncFollowers = Local, nil, []NodeID{"n2", "n3"}
		c.RetainEntries = 4
	})
	ctx := testCtx(t)
	_, err := cl.Put(ctx, "before", []byte("x"))
	require.NoError(t, err)
	ticks(t, cl, 1)
	require.NoError(t, cl.Net().PauseLink("n1", "n2"))
	require.NoError(t, cl.Net().PauseLink("n1", "n3"))
	lost := cl.NewSession(SessionConsistent{})
	lostAt, err := lost.Put(ctx, "sat/HST/elements", []byte("lost"))
	require.NoError(t, err, "Local acknowledges without followers")
	ticks(t, cl, 1)
	require.NoError(t, cl.Crash("n1"))
	leader, _ := tickUntilLeader(t, cl, "n1")
	cl.Net().Heal()
	for i := 0; i < 20; i++ {
		_, err := cl.Put(ctx, fmt.Sprint("after", i), []byte("y"))
		require.NoError(t, err)
	}
	// Snapshots are written off the node's goroutine: tick until the
	// compaction has landed.
	var st NodeStats
	for i := 0; i <= 100; i++ {
		ticks(t, cl, 1)
		st, err = cl.NodeStats(ctx, leader)
		require.NoError(t, err)
		if st.First > lostAt.LSN {
			break
		}
	}
	require.Greater(t, st.First, lostAt.LSN, "the new leader must have compacted past the lost write's LSN")
	require.NotEmpty(t, ev.of(EventCompacted))

	_, _, _, err = lost.Get(ctx, "sat/HST/elements")
	require.ErrorIs(t, err, ErrTokenLost)
}
