package replstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wal"
	"github.com/stretchr/testify/require"
)

// Constructors and Close: bad hooks are refused, a failed start leaves
// nothing open, and a Node's Close agrees with the Cluster that owns it.

// lifecycleConfig is a three-node configuration with manual failover and
// a fast ticker.
func lifecycleConfig() replstore.Config {
	cfg := replstore.DefaultConfig()
	cfg.ManualFailover = true
	cfg.TickInterval = 2 * time.Millisecond
	return cfg
}

// walStorage points cfg's storage hooks at package wal files under root,
// one log and one hard state directory per node, the same on every open.
func walStorage(cfg *replstore.Config, root string) {
	cfg.NewLogStore = func(id replstore.NodeID) (replstore.LogStore, error) {
		return wal.Open(filepath.Join(root, string(id), "log"), wal.Options{SegmentBytes: 1 << 20, NoPreallocate: true})
	}
	cfg.NewHardState = func(id replstore.NodeID) (replstore.HardStateStore, error) {
		return wal.OpenHardState(filepath.Join(root, string(id), "hard"))
	}
}

// nilAfter returns hooks that behave until *broken is set, then return
// nil (and no error): one per Config hook.
func nilAfter(broken *atomic.Bool) map[string]func(*replstore.Config) {
	return map[string]func(*replstore.Config){
		"Config.NewStateMachine": func(cfg *replstore.Config) {
			cfg.NewStateMachine = func() replstore.StateMachine {
				if broken.Load() {
					return nil
				}
				return replstore.NewStore()
			}
		},
		"Config.NewLogStore": func(cfg *replstore.Config) {
			cfg.NewLogStore = func(replstore.NodeID) (replstore.LogStore, error) {
				if broken.Load() {
					return nil, nil
				}
				return replstore.NewMemLog(), nil
			}
		},
		"Config.NewHardState": func(cfg *replstore.Config) {
			cfg.NewHardState = func(replstore.NodeID) (replstore.HardStateStore, error) {
				if broken.Load() {
					return nil, nil
				}
				return replstore.NewMemHardState(), nil
			}
		},
	}
}

// A hook that returns nil is refused with ErrInvalidConfig naming it, by
// every path that opens a node: NewCluster, NewNode, Cluster.Restart
// (which makes a new state machine) and Cluster.AddFollower; nothing
// panics, and a cluster that refused a restart or an addition still works.
func TestNilHooksRefused(t *testing.T) {
	ctx := t.Context()
	for _, hook := range []string{"Config.NewStateMachine", "Config.NewLogStore", "Config.NewHardState"} {
		t.Run(hook, func(t *testing.T) {
			broken := new(atomic.Bool)
			broken.Store(true)
			set := nilAfter(broken)[hook]
			want := func(t *testing.T, err error) {
				t.Helper()
				require.ErrorIs(t, err, replstore.ErrInvalidConfig)
				require.ErrorContains(t, err, hook+" returned nil")
			}
			cfg := lifecycleConfig()
			set(&cfg)

			cl, err := replstore.NewCluster(cfg)
			if err == nil {
				cl.Close()
			}
			want(t, err)

			net := replstore.NewMemNet()
			defer net.Close()
			nd, err := replstore.NewNode(cfg, "n1", net)
			if err == nil {
				nd.Close()
			}
			want(t, err)

			broken.Store(false)
			cl, err = replstore.NewCluster(cfg)
			require.NoError(t, err)
			defer cl.Close()
			broken.Store(true)
			if hook == "Config.NewStateMachine" { // the only hook a restart calls
				require.NoError(t, cl.Crash("n3"))
				want(t, cl.Restart("n3"))
			}
			want(t, cl.AddFollower(ctx, "n4"))
			broken.Store(false)
			if hook == "Config.NewStateMachine" {
				require.NoError(t, cl.Restart("n3"))
			}
			_, err = cl.Put(ctx, "k", []byte("v"))
			require.NoError(t, err)
			require.NoError(t, cl.Close())
		})
	}
}

// breakHardState makes node id's hard state file under root unreadable
// (it fails its checksum); the returned func removes it again.
func breakHardState(t *testing.T, root string, id replstore.NodeID) func() {
	t.Helper()
	dir := filepath.Join(root, string(id), "hard")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "HARDSTATE")
	require.NoError(t, os.WriteFile(path, []byte("not a hard state"), 0o644))
	return func() { require.NoError(t, os.Remove(path)) }
}

// nilOnCall makes cfg's state machine hook return nil on its k-th call
// (counting from 1) only.
func nilOnCall(cfg *replstore.Config, k int64) {
	var calls atomic.Int64
	cfg.NewStateMachine = func() replstore.StateMachine {
		if calls.Add(1) == k {
			return nil
		}
		return replstore.NewStore()
	}
}

// A NewCluster or NewNode that fails closes every store it opened, so
// that once the cause is fixed the same call over the same directories
// succeeds instead of finding them locked.
func TestRetryAfterFailedStart(t *testing.T) {
	ctx := t.Context()
	// Each start closes what it started; the error is the constructor's.
	startCluster := func(cfg replstore.Config) error {
		cl, err := replstore.NewCluster(cfg)
		if err != nil {
			return err
		}
		defer cl.Close()
		if _, err := cl.Put(ctx, "k", []byte("v")); err != nil {
			return err
		}
		return cl.Close()
	}
	startNode := func(cfg replstore.Config) error {
		net := replstore.NewMemNet()
		defer net.Close()
		nd, err := replstore.NewNode(cfg, "n1", net)
		if err != nil {
			return err
		}
		return nd.Close()
	}
	for _, tc := range []struct {
		name  string
		start func(replstore.Config) error
		// breakIt makes the first start fail; the func it returns
		// repairs what it broke.
		breakIt func(t *testing.T, cfg *replstore.Config, root string) func()
	}{
		{"NewCluster/the last node's hard state is damaged", startCluster,
			func(t *testing.T, _ *replstore.Config, root string) func() { return breakHardState(t, root, "n3") }},
		{"NewCluster/the second node's runtime is refused", startCluster,
			func(t *testing.T, cfg *replstore.Config, _ string) func() { nilOnCall(cfg, 2); return func() {} }},
		{"NewNode/its hard state is damaged", startNode,
			func(t *testing.T, _ *replstore.Config, root string) func() { return breakHardState(t, root, "n1") }},
		{"NewNode/its runtime is refused", startNode,
			func(t *testing.T, cfg *replstore.Config, _ string) func() { nilOnCall(cfg, 1); return func() {} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			cfg := lifecycleConfig()
			walStorage(&cfg, root)
			repair := tc.breakIt(t, &cfg, root)
			require.Error(t, tc.start(cfg), "the first start")
			repair()
			require.NoError(t, tc.start(cfg), "the retry")
		})
	}
}

// Close on a Node that a Cluster runs is refused, and the cluster goes on
// as if it had not been called: the node still serves, crashes and
// restarts, and the cluster closes cleanly.
func TestClusterNodeCloseRefused(t *testing.T) {
	ctx := t.Context()
	cl, err := replstore.NewCluster(lifecycleConfig())
	require.NoError(t, err)
	defer cl.Close()
	nd, err := cl.Node("n2")
	require.NoError(t, err)

	err = nd.Close()
	require.Error(t, err)
	require.NotErrorIs(t, err, replstore.ErrClosed)
	require.ErrorContains(t, err, "Cluster.Crash")

	pos, err := nd.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	require.NoError(t, cl.Crash("n2"))
	require.NoError(t, cl.Restart("n2"))
	require.NoError(t, nd.WaitApplied(ctx, pos.LSN))
	_, err = nd.NodeStats(ctx)
	require.NoError(t, err)
	require.NoError(t, cl.Close())
}

// countedLog and countedHard count how often their store is closed.
type countedLog struct {
	replstore.LogStore
	closes *atomic.Int64
}

func (l countedLog) Close() error { l.closes.Add(1); return nil }

type countedHard struct {
	replstore.HardStateStore
	closes *atomic.Int64
}

func (h countedHard) Close() error { h.closes.Add(1); return nil }

// countedStorage is lifecycleConfig with in-memory stores that count
// their Close calls in closes.
func countedStorage(closes *atomic.Int64) replstore.Config {
	cfg := lifecycleConfig()
	cfg.NewLogStore = func(replstore.NodeID) (replstore.LogStore, error) {
		return countedLog{replstore.NewMemLog(), closes}, nil
	}
	cfg.NewHardState = func(replstore.NodeID) (replstore.HardStateStore, error) {
		return countedHard{replstore.NewMemHardState(), closes}, nil
	}
	return cfg
}

// After Cluster.Close, a Node the cluster handed out says ErrClosed (not
// ErrNodeDown, which invites a retry) to every call, and its Close
// neither succeeds nor closes the storage a second time.
func TestClusterNodeAfterClusterClose(t *testing.T) {
	ctx := t.Context()
	var closes atomic.Int64
	cfg := countedStorage(&closes)
	cl, err := replstore.NewCluster(cfg)
	require.NoError(t, err)
	nd, err := cl.Node("n2")
	require.NoError(t, err)
	pos, err := nd.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	require.NoError(t, cl.Close())
	require.Equal(t, int64(6), closes.Load(), "three logs and three hard states closed")

	calls := map[string]error{}
	_, calls["Put"] = nd.Put(ctx, "k", []byte("w"))
	_, _, _, calls["Get"] = nd.Get(ctx, "k")
	_, calls["Stats"] = nd.Stats(ctx)
	_, calls["NodeStats"] = nd.NodeStats(ctx)
	calls["WaitApplied"] = nd.WaitApplied(ctx, pos.LSN)
	calls["SetSync"] = nd.SetSync(ctx, "n3", true)
	_, calls["Failover"] = nd.Failover(ctx, replstore.FailoverOptions{})
	for call, err := range calls {
		require.ErrorIs(t, err, replstore.ErrClosed, call)
		require.NotErrorIs(t, err, replstore.ErrNodeDown, call)
	}
	require.ErrorIs(t, nd.Close(), replstore.ErrClosed)
	require.Equal(t, int64(6), closes.Load(), "Node.Close after Cluster.Close closes nothing again")
}

// ErrClosed reads as what it is for a Node and a wal store as much as a
// Cluster.
func TestErrClosedText(t *testing.T) {
	require.EqualError(t, replstore.ErrClosed, "replstore: closed")

	net := replstore.NewMemNet()
	defer net.Close()
	nd, err := replstore.NewNode(lifecycleConfig(), "n1", net)
	require.NoError(t, err)
	require.NoError(t, nd.Close())
	_, err = nd.Put(context.Background(), "k", []byte("v"))
	require.EqualError(t, err, "replstore: closed")

	dir := t.TempDir()
	log, err := wal.Open(dir, wal.Options{NoPreallocate: true})
	require.NoError(t, err)
	require.NoError(t, log.Close())
	err = log.Append([]replstore.Entry{{Pos: replstore.Position{Epoch: 1, LSN: 1}}})
	require.ErrorIs(t, err, replstore.ErrClosed)
	require.EqualError(t, err, "replstore: closed: wal "+dir)
}

// An AddFollower whose node fails to start closes the storage it opened
// for it, so the same AddFollower over the same directory succeeds once
// the cause is gone (it used to find the directory locked).
func TestRetryAfterFailedAddFollower(t *testing.T) {
	ctx := t.Context()
	cfg := lifecycleConfig()
	walStorage(&cfg, t.TempDir())
	nilOnCall(&cfg, 4) // n1..n3 start; n4's first runtime is refused
	cl, err := replstore.NewCluster(cfg)
	require.NoError(t, err)
	defer cl.Close()
	err = cl.AddFollower(ctx, "n4")
	require.ErrorIs(t, err, replstore.ErrInvalidConfig)
	require.NoError(t, cl.AddFollower(ctx, "n4"), "the retry")
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	require.NoError(t, cl.WaitApplied(ctx, "n4", pos.LSN))
	require.NoError(t, cl.Close())
}

// A removed node's handle is closed with it: its calls say ErrClosed, its
// Close does not refuse (it is no longer the cluster's to stop) and does
// not close the storage a second time.
func TestRemovedNodeHandleIsClosed(t *testing.T) {
	ctx := t.Context()
	var closes atomic.Int64
	cfg := countedStorage(&closes)
	cl, err := replstore.NewCluster(cfg)
	require.NoError(t, err)
	defer cl.Close()
	nd, err := cl.Node("n3")
	require.NoError(t, err)
	require.NoError(t, cl.RemoveFollower(ctx, "n3"))
	require.Equal(t, int64(2), closes.Load(), "the removed node's log and hard state are closed")
	_, err = nd.Put(ctx, "k", []byte("v"))
	require.ErrorIs(t, err, replstore.ErrClosed)
	_, err = nd.NodeStats(ctx)
	require.ErrorIs(t, err, replstore.ErrClosed)
	require.ErrorIs(t, nd.Close(), replstore.ErrClosed)
	require.Equal(t, int64(2), closes.Load(), "nothing is closed twice")
	require.NoError(t, cl.Close())
}

// Config.NewStateMachine is called again after start, for a snapshot
// install or a rollback; a nil there stops that node with an error naming
// the hook (it used to panic on the node's goroutine, ending the process),
// and the others go on.
func TestNilStateMachineAtSnapshotInstallStopsTheNode(t *testing.T) {
	ctx := t.Context()
	cfg := lifecycleConfig()
	cfg.RetainEntries = 8 // the leader compacts: n4 is seeded by a snapshot
	nilOnCall(&cfg, 5)    // n1..n3 and n4 start; n4's install gets nil
	cl, err := replstore.NewCluster(cfg)
	require.NoError(t, err)
	defer cl.Close()
	for i := range 40 {
		_, err := cl.Put(ctx, fmt.Sprint("k", i), []byte("v"))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		st, err := cl.NodeStats(ctx, "n1")
		return err == nil && st.First > 1
	}, 10*time.Second, time.Millisecond, "the leader compacts")
	_ = cl.AddFollower(ctx, "n4") // may return before or after n4 stops
	nd, err := cl.Node("n4")
	require.NoError(t, err)
	var stopped error
	require.Eventually(t, func() bool {
		_, stopped = nd.NodeStats(ctx)
		return stopped != nil
	}, 10*time.Second, time.Millisecond, "n4 stops")
	require.ErrorIs(t, stopped, replstore.ErrInvalidConfig)
	require.ErrorContains(t, stopped, "Config.NewStateMachine returned nil")
	_, err = cl.Put(ctx, "after", []byte("v"))
	require.NoError(t, err, "the others go on")
}
