package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/stretchr/testify/require"
)

// newTrioAPI serves n1's API in a cluster of three nodes on a MemNet
// (n1 leads, n2 sync, n3 async, manual failover). With coordinator, a
// coordinator runs on the MemNet too; without it, the cluster has none,
// and noCoordinator says whether the API knows (-peers names none) or
// takes it for down.
func newTrioAPI(t *testing.T, coordinator, noCoordinator bool) *httptest.Server {
	cfg := replstore.DefaultConfig()
	cfg.ManualFailover = true
	net := replstore.NewMemNet()
	t.Cleanup(func() { net.Close() })
	if coordinator {
		ctr, err := replstore.NewCoordinatorNode(cfg, net)
		require.NoError(t, err)
		t.Cleanup(func() { ctr.Close() })
	}
	var n1 *replstore.Node
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		nd, err := replstore.NewNode(cfg, id, net)
		require.NoError(t, err)
		t.Cleanup(func() { nd.Close() })
		if id == "n1" {
			n1 = nd
		}
	}
	a := newAPI(n1, cfg, 2*time.Second, slog.New(slog.DiscardHandler))
	a.noCoordinator = noCoordinator
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	return srv
}

// TestAPISyncWithoutCoordinator: a sync-list change needs the
// coordinator to record it; with none configured it is refused at once,
// like failover and switchover, and a retry is refused alike (no change
// is left pending on the leader).
func TestAPISyncWithoutCoordinator(t *testing.T) {
	srv := newTrioAPI(t, false, true)
	for range 2 {
		res, m := call(t, "POST", srv.URL+"/v1/admin/sync?id=n3&sync=true", "")
		require.Equal(t, 503, res.StatusCode, "%v", m)
		require.Equal(t, "no_coordinator", m["code"], "%v", m)
	}
	// A wrong request is still answered as one.
	res, m := call(t, "POST", srv.URL+"/v1/admin/sync?id=n3&sync=maybe", "")
	require.Equal(t, 400, res.StatusCode, "%v", m)
	require.Equal(t, "bad_flag", m["code"], "%v", m)
}
