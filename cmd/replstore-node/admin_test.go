package main

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestAPISyncConflicts: sync-list changes the leader refuses for what
// the cluster is now are 409 Conflict with a code, not 500: naming the
// leader, emptying the sync set under the Block policy, and a change
// while another waits for the coordinator.
func TestAPISyncConflicts(t *testing.T) {
	t.Run("leader or too few sync followers", func(t *testing.T) {
		srv := newTrioAPI(t, true, false)
		res, m := call(t, "POST", srv.URL+"/v1/admin/sync?id=n1&sync=true", "")
		require.Equal(t, 409, res.StatusCode, "%v", m)
		require.Equal(t, "already_leader", m["code"], "%v", m)
		require.Contains(t, m["error"], "use Switchover")

		res, m = call(t, "POST", srv.URL+"/v1/admin/sync?id=n2&sync=false", "")
		require.Equal(t, 409, res.StatusCode, "%v", m)
		require.Equal(t, "sync_set_too_small", m["code"], "%v", m)

		res, m = call(t, "POST", srv.URL+"/v1/admin/sync?id=n3&sync=true", "")
		require.Equal(t, 200, res.StatusCode, "%v", m)
	})
	t.Run("change pending", func(t *testing.T) {
		// The coordinator is named but down: the leader keeps the first
		// change pending until it answers. Of two requests, the one the
		// leader takes second is refused at once; the other waits until
		// the test cancels it.
		srv := newTrioAPI(t, false, false)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		type answer struct {
			status int
			body   map[string]any
			err    error
		}
		answers := make(chan answer, 2)
		for range 2 {
			go func() {
				req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/admin/sync?id=n3&sync=true", nil)
				if err != nil {
					answers <- answer{err: err}
					return
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					answers <- answer{err: err}
					return
				}
				defer res.Body.Close()
				var m map[string]any
				err = json.NewDecoder(res.Body).Decode(&m)
				answers <- answer{status: res.StatusCode, body: m, err: err}
			}()
		}
		first := <-answers
		cancel()
		<-answers
		require.NoError(t, first.err)
		require.Equal(t, 409, first.status, "%v", first.body)
		require.Equal(t, "change_pending", first.body["code"], "%v", first.body)
	})
}

// newLeaderlessAPI serves the API of n2, a follower whose leader n1 has
// never run: n2 knows no leader, and with manual failover nothing will
// promote one.
func newLeaderlessAPI(t *testing.T, manualFailover bool) *httptest.Server {
	cfg := replstore.DefaultConfig()
	cfg.ManualFailover = manualFailover
	net := replstore.NewMemNet()
	t.Cleanup(func() { net.Close() })
	nd, err := replstore.NewNode(cfg, "n2", net)
	require.NoError(t, err)
	t.Cleanup(func() { nd.Close() })
	require.Empty(t, nd.Leader())
	// The request timeout bounds the wait for a leader; the test does not
	// time it.
	a := newAPI(nd, cfg, 100*time.Millisecond, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	return srv
}

// TestAPIWriteWithoutLeader: a write waits for a leader up to the
// request timeout (a failover may be under way); if none was ever
// known, the answer is 503 no_leader, as README says, not 504 timeout.
func TestAPIWriteWithoutLeader(t *testing.T) {
	srv := newLeaderlessAPI(t, true)
	res, m := call(t, "PUT", srv.URL+"/v1/kv/k", "v")
	require.Equal(t, 503, res.StatusCode, "%v", m)
	require.Equal(t, "no_leader", m["code"], "%v", m)
	require.Contains(t, m["error"], "knows no leader")
	require.Contains(t, m["error"], "POST /v1/admin/failover")
}

// TestAPIReadyzSaysWhatBringsALeaderBack: with manual failover (the
// command's default) a node without a live leader is not told to wait,
// which never helps: only an operator's failover promotes one. With
// automatic failover, waiting is an answer.
func TestAPIReadyzSaysWhatBringsALeaderBack(t *testing.T) {
	for _, manual := range []bool{true, false} {
		t.Run(fmt.Sprintf("manual=%v", manual), func(t *testing.T) {
			requireHint := func(t *testing.T, m map[string]any) {
				t.Helper()
				require.Contains(t, m["error"], "POST /v1/admin/failover")
				if manual {
					require.NotContains(t, m["error"], "wait")
				} else {
					require.Contains(t, m["error"], "wait")
				}
			}

			// No leader known.
			srv := newLeaderlessAPI(t, manual)
			res, m := call(t, "GET", srv.URL+"/readyz", "")
			require.Equal(t, 503, res.StatusCode, "%v", m)
			require.Equal(t, "no_leader", m["code"], "%v", m)
			requireHint(t, m)

			// A leader known but not heard from: n2 has applied n1's
			// write, and its API reads a record of arrivals that holds
			// none from n1 (as after a restart, or a long silence).
			cfg := replstore.DefaultConfig()
			cfg.ManualFailover = manual
			net := replstore.NewMemNet()
			defer net.Close()
			nodes := map[replstore.NodeID]*replstore.Node{}
			for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
				nd, err := replstore.NewNode(cfg, id, net)
				require.NoError(t, err)
				defer nd.Close()
				nodes[id] = nd
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pos, err := nodes["n1"].Put(ctx, "k", []byte("v"))
			require.NoError(t, err)
			require.NoError(t, nodes["n2"].WaitApplied(ctx, pos.LSN))
			require.Equal(t, replstore.NodeID("n1"), nodes["n2"].Leader())
			a := newAPI(nodes["n2"], cfg, time.Second, slog.New(slog.DiscardHandler))
			a.heard = newHeardTransport(net)
			srv2 := httptest.NewServer(a)
			defer srv2.Close()
			res, m = call(t, "GET", srv2.URL+"/readyz", "")
			require.Equal(t, 503, res.StatusCode, "%v", m)
			require.Equal(t, "leader_silent", m["code"], "%v", m)
			requireHint(t, m)
		})
	}
}
