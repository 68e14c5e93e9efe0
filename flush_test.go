package replstore

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// heldLog is a MemLog whose Sync the test can hold: a ConcurrentSyncLog,
// so a leader over it flushes off its node's goroutine, as over a disk.
// Sync touches none of the MemLog's state, so it may run concurrently
// with the node's appends.
type heldLog struct {
	*MemLog
	mu      sync.Mutex
	hold    chan struct{} // while non-nil, Sync waits until it is closed
	entered chan struct{} // a held Sync has started
}

func newHeldLog() *heldLog {
	return &heldLog{MemLog: NewMemLog(), entered: make(chan struct{}, 1)}
}

func (l *heldLog) ConcurrentSync() {}

func (l *heldLog) Sync() error {
	l.mu.Lock()
	h := l.hold
	l.mu.Unlock()
	if h != nil {
		l.entered <- struct{}{}
		<-h
	}
	return nil
}

// holdSyncs makes every later Sync wait until release.
func (l *heldLog) holdSyncs() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hold = make(chan struct{})
}

// release lets held Syncs finish; later ones run at once.
func (l *heldLog) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hold != nil {
		close(l.hold)
		l.hold = nil
	}
}

// TestLeaderStreamsWhileItsFlushRuns: over a log whose Sync may run while
// the node appends, the leader sends a batch to its followers before its
// own flush, and counts itself toward commit only when the flush is done:
// while the flush is held, the sync follower stores the write and
// acknowledges it Durable, and still the write is not committed.
func TestLeaderStreamsWhileItsFlushRuns(t *testing.T) {
	for _, level := range []AckLevel{Local, Durable} {
		t.Run(level.String(), func(t *testing.T) {
			leaderLog := newHeldLog()
			cl, _ := newTestCluster(t, func(c *Config) {
				c.AckLevel = level
				c.NewLogStore = func(id NodeID) (LogStore, error) {
					if id == c.Leader {
						return leaderLog, nil
					}
					return NewMemLog(), nil
				}
			})
			// Before the cluster closes (cleanups run last first): a
			// failed check must not leave a flush held.
			t.Cleanup(leaderLog.release)
			ctx := testCtx(t)
			require.NoError(t, cl.WaitApplied(ctx, "n1", 1)) // the epoch's first entry

			leaderLog.holdSyncs()
			w := startWrite(cl, ctx, "sat/ISS/elements", "a=6791km")
			<-leaderLog.entered // the leader's flush of the write's batch runs
			// The append left before the flush: the sync follower stores
			// the write and the leader hears its Durable acknowledgement.
			require.NoError(t, cl.waitUntil(ctx, "n2", func(c *core) bool { return c.last.LSN >= 2 }))
			var commit, durable LSN
			require.NoError(t, cl.waitUntil(ctx, "n1", func(c *core) bool {
				commit, durable = c.commit, c.progressOf("n2").durable
				return durable >= 2 || level == Local
			}))
			require.Less(t, commit, LSN(2), "the leader committed the write before its own flush completed (n2 durable %d)", durable)
			select {
			case r := <-w:
				t.Fatalf("the write returned (%v, %v) before the leader's flush completed", r.pos, r.err)
			default:
			}

			leaderLog.release()
			r := <-w
			require.NoError(t, r.err)
			require.Equal(t, LSN(2), r.pos.LSN)
			require.NoError(t, cl.waitUntil(ctx, "n1", func(c *core) bool { return c.synced >= 2 && c.commit >= 2 }))
		})
	}
}

// countingLog is a MemLog that counts its Syncs and remembers what the
// last one covered. Sync runs on the node's goroutine (it is not a
// ConcurrentSyncLog), like everything else the MemLog does; mu lets the
// test read the counts.
type countingLog struct {
	*MemLog
	mu     sync.Mutex
	syncs  int
	synced LSN
}

func (l *countingLog) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncs++
	l.synced = l.MemLog.Last().LSN
	return nil
}

func (l *countingLog) counts() (syncs int, synced LSN) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncs, l.synced
}

// TestAsyncFollowerSyncsOnlyBeforeItAnswers: the asynchronous follower
// syncs its log before an answer that reports it and once a tick, not on
// every append (driver.followerMustSync); the sync follower, asked for
// an answer on every append, syncs on every one. Whatever the async
// follower's answers said it holds Durable is on its disk, and a tick
// puts the rest there.
func TestAsyncFollowerSyncsOnlyBeforeItAnswers(t *testing.T) {
	logs := map[NodeID]*countingLog{}
	cl, _ := newTestCluster(t, func(c *Config) {
		for _, id := range c.nodes() {
			logs[id] = &countingLog{MemLog: NewMemLog()}
		}
		c.NewLogStore = func(id NodeID) (LogStore, error) { return logs[id], nil }
	})
	ctx := testCtx(t)
	require.NoError(t, cl.WaitApplied(ctx, "n1", 1)) // the epoch's first entry
	syncs2, _ := logs["n2"].counts()
	syncs3, _ := logs["n3"].counts()

	const writes = 40
	for i := range writes {
		pos, err := cl.Put(ctx, fmt.Sprintf("sensor/%d", i), []byte("v"))
		require.NoError(t, err)
		// n3 takes each append in a batch of its own.
		require.NoError(t, cl.waitUntil(ctx, "n3", func(c *core) bool { return c.last.LSN >= pos.LSN }))
	}
	last := LSN(1 + writes)
	after2, _ := logs["n2"].counts()
	after3, synced3 := logs["n3"].counts()
	require.GreaterOrEqual(t, after2-syncs2, writes, "the sync follower syncs before each Durable acknowledgement")
	// Without ticks the leader asks n3 for an answer once (the first
	// append of the tick, core.sendTo) and n3's window is far from a
	// quarter full: one answer, so at most one sync (two for slack). The
	// build before synced on every batch: 41 times here.
	require.LessOrEqual(t, after3-syncs3, 2, "the async follower synced on appends it did not answer")
	var durable3 LSN
	require.NoError(t, cl.waitUntil(ctx, "n1", func(c *core) bool { durable3 = c.progressOf("n3").durable; return true }))
	require.LessOrEqual(t, durable3, synced3, "the leader credits n3 with LSN %d Durable, but n3 synced only through %d", durable3, synced3)

	require.NoError(t, cl.Tick(ctx))
	require.NoError(t, cl.waitUntil(ctx, "n3", func(c *core) bool { return true })) // n3 has ended its tick's batch
	_, synced3 = logs["n3"].counts()
	require.Equal(t, last, synced3, "a tick syncs what the async follower appended")
}
