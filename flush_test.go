package replstore

import (
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
