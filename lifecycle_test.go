package replstore_test

import (
	"context"
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
