package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/stretchr/testify/require"
)

// newSoloAPI serves the API of a one-node cluster on a MemNet, without
// a coordinator.
func newSoloAPI(t *testing.T) *httptest.Server {
	cfg := replstore.Config{Leader: "n1", AckLevel: replstore.Local, ManualFailover: true}
	nd, err := replstore.NewNode(cfg, "n1", replstore.NewMemNet())
	require.NoError(t, err)
	t.Cleanup(func() { nd.Close() })
	a := newAPI(nd, cfg, 2*time.Second, slog.New(slog.DiscardHandler))
	a.noCoordinator = true
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, url, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var m map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	}
	return res, m
}

func TestAPIOneNode(t *testing.T) {
	srv := newSoloAPI(t)
	defer http.DefaultClient.CloseIdleConnections()

	res, m := call(t, "PUT", srv.URL+"/v1/kv/a/b", "\xff\x00binary")
	require.Equal(t, 200, res.StatusCode, "%v", m)
	tok := res.Header.Get(headerToken)
	require.Equal(t, m["position"], tok)
	require.Equal(t, "n1", res.Header.Get(headerServedBy))

	res, m = call(t, "GET", srv.URL+"/v1/kv/a/b?mode=any", "")
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, "/wBiaW5hcnk=", m["value"]) // base64 of the bytes
	require.Nil(t, m["text"], "not UTF-8: no text")
	require.Equal(t, tok, res.Header.Get(headerApplied))

	// CAS with the right version, then the stale one.
	res, m = call(t, "POST", srv.URL+"/v1/cas/a/b?version="+strings.Split(tok, ":")[1], "new")
	require.Equal(t, 200, res.StatusCode, "%v", m)
	res, m = call(t, "POST", srv.URL+"/v1/cas/a/b?version="+strings.Split(tok, ":")[1], "newer")
	require.Equal(t, 409, res.StatusCode, "%v", m)
	require.Equal(t, "version_mismatch", m["code"])

	// Series: RFC 3339 and Unix ns times; range and latest.
	for _, body := range []string{`{"time": "2026-01-01T00:00:00Z", "value": 1.5}`, `{"time": 1767225601000000000, "value": 2.5}`} {
		res, m = call(t, "POST", srv.URL+"/v1/series/temp", body)
		require.Equal(t, 200, res.StatusCode, "%v", m)
	}
	res, m = call(t, "GET", srv.URL+"/v1/series/temp?from=2026-01-01T00:00:00Z&to=1767225602000000000", "")
	require.Equal(t, 200, res.StatusCode, "%v", m)
	require.Len(t, m["samples"], 2)
	res, m = call(t, "GET", srv.URL+"/v1/series/temp/latest?mode=session", "")
	require.Equal(t, 200, res.StatusCode, "%v", m)
	require.Equal(t, 2.5, m["sample"].(map[string]any)["value"])

	res, m = call(t, "DELETE", srv.URL+"/v1/kv/a/b", "")
	require.Equal(t, 200, res.StatusCode, "%v", m)
	res, m = call(t, "GET", srv.URL+"/v1/kv/a/b", "", headerToken, res.Header.Get(headerToken))
	require.Equal(t, 404, res.StatusCode, "%v", m)

	// Operator calls without a coordinator say so at once.
	res, m = call(t, "POST", srv.URL+"/v1/admin/failover", "")
	require.Equal(t, 503, res.StatusCode, "%v", m)
	require.Equal(t, "no_coordinator", m["code"])
	res, m = call(t, "POST", srv.URL+"/v1/admin/failover?allow_data_loss=perhaps", "")
	require.Equal(t, 503, res.StatusCode, "%v", m)

	res, _ = call(t, "GET", srv.URL+"/readyz", "")
	require.Equal(t, 200, res.StatusCode)
	res, _ = call(t, "GET", srv.URL+"/metrics", "")
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", res.Header.Get("Content-Type"))
}
