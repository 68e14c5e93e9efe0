package replstore_test

import (
	"context"
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
	require.EqualError(t, err, "replstore: closed: wal "+dir+" is closed")
}
