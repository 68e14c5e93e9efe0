package main

import (
	"encoding/json"
	"fmt"
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

// counted returns the replstore_reads_total and replstore_writes_total
// samples of srv's /metrics, one line each, in the order served.
func counted(t *testing.T, srv *httptest.Server) []string {
	t.Helper()
	res, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "replstore_reads_total{") || strings.HasPrefix(l, "replstore_writes_total{") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestAPIReadAnswers pins what every read endpoint answers on each path
// (found, absent, a bad argument, a bad mode or token, a local read
// that cannot wait long enough): status, body, headers and the
// replstore_reads_total labels.
func TestAPIReadAnswers(t *testing.T) {
	srv := newSoloAPI(t)
	defer http.DefaultClient.CloseIdleConnections()

	res, m := call(t, "PUT", srv.URL+"/v1/kv/k", "v")
	require.Equal(t, 200, res.StatusCode, "%v", m)
	tok := res.Header.Get(headerToken)
	require.NotEmpty(t, tok)
	ahead := "1:1000000" // a token this node has not applied

	// Every answer from a read that reached a replica names it, in the
	// body and in the headers.
	requireServed := func(t *testing.T, res *http.Response, m map[string]any) {
		t.Helper()
		sv, ok := m["served"].(map[string]any)
		require.True(t, ok, "served in %v", m)
		require.Equal(t, "n1", sv["node"])
		require.Equal(t, true, sv["leader"])
		require.Equal(t, "n1", res.Header.Get(headerServedBy))
		require.Equal(t, sv["applied"], res.Header.Get(headerApplied))
		require.NotEmpty(t, res.Header.Get(headerToken))
	}
	// A read refused before it reached a replica names none; its token
	// header is the request's, if it got as far as reading it.
	requireNotServed := func(t *testing.T, res *http.Response, m map[string]any, code, token string) {
		t.Helper()
		require.Equal(t, code, m["code"], "%v", m)
		require.NotEmpty(t, m["error"])
		require.NotContains(t, m, "served")
		require.Empty(t, res.Header.Get(headerServedBy))
		require.Empty(t, res.Header.Get(headerApplied))
		require.Equal(t, token, res.Header.Get(headerToken))
	}

	t.Run("found", func(t *testing.T) {
		res, m := call(t, "GET", srv.URL+"/v1/kv/k?mode=local", "", headerToken, tok)
		require.Equal(t, 200, res.StatusCode, "%v", m)
		require.Equal(t, "v", m["text"])
		requireServed(t, res, m)
	})
	t.Run("absent key", func(t *testing.T) {
		res, m := call(t, "GET", srv.URL+"/v1/kv/absent", "")
		require.Equal(t, 404, res.StatusCode, "%v", m)
		require.Equal(t, map[string]any{"error": `key "absent" not found`, "code": "not_found", "served": m["served"]}, m)
		requireServed(t, res, m)
	})
	t.Run("series without samples", func(t *testing.T) {
		res, m := call(t, "GET", srv.URL+"/v1/series/empty/latest?mode=any", "")
		require.Equal(t, 404, res.StatusCode, "%v", m)
		require.Equal(t, map[string]any{"error": `series "empty" has no sample`, "code": "not_found", "served": m["served"]}, m)
		requireServed(t, res, m)

		res, m = call(t, "GET", srv.URL+"/v1/series/empty?mode=session", "")
		require.Equal(t, 200, res.StatusCode, "%v", m)
		require.Equal(t, map[string]any{"series": "empty", "samples": []any{}, "served": m["served"]}, m)
		requireServed(t, res, m)
	})
	t.Run("bad time", func(t *testing.T) {
		res, m := call(t, "GET", srv.URL+"/v1/series/s?from=yesterday", "")
		require.Equal(t, 400, res.StatusCode, "%v", m)
		require.Equal(t, `from="yesterday": want RFC 3339 or Unix nanoseconds`, m["error"])
		requireNotServed(t, res, m, "bad_time", "")

		res, m = call(t, "GET", srv.URL+"/v1/series/s?to=tomorrow", "", headerToken, tok)
		require.Equal(t, 400, res.StatusCode, "%v", m)
		requireNotServed(t, res, m, "bad_time", tok)
	})
	t.Run("bad time before waiting for the token", func(t *testing.T) {
		// A local read waits for its token; a bad argument is answered
		// first, not after the wait (which here would end in a timeout).
		res, m := call(t, "GET", srv.URL+"/v1/series/s?mode=local&from=x", "", headerToken, ahead)
		require.Equal(t, 400, res.StatusCode, "%v", m)
		requireNotServed(t, res, m, "bad_time", ahead)
	})
	t.Run("bad mode before bad time", func(t *testing.T) {
		res, m := call(t, "GET", srv.URL+"/v1/series/s?mode=fastest&from=x", "", headerToken, tok)
		require.Equal(t, 400, res.StatusCode, "%v", m)
		requireNotServed(t, res, m, "bad_mode", "")

		res, m = call(t, "GET", srv.URL+"/v1/series/s/latest?mode=maxlag-entries:many", "")
		require.Equal(t, 400, res.StatusCode, "%v", m)
		requireNotServed(t, res, m, "bad_mode", "")
	})
	t.Run("bad token", func(t *testing.T) {
		res, m := call(t, "GET", srv.URL+"/v1/kv/k", "", headerToken, "12-34")
		require.Equal(t, 400, res.StatusCode, "%v", m)
		requireNotServed(t, res, m, "bad_token", "")
	})
	t.Run("local read past the deadline", func(t *testing.T) {
		// The wait for a token this node never applies ends with the
		// request's deadline (newSoloAPI: 2 s).
		res, m := call(t, "GET", srv.URL+"/v1/kv/k?mode=local", "", headerToken, ahead)
		require.Equal(t, 504, res.StatusCode, "%v", m)
		requireNotServed(t, res, m, "timeout", ahead)
	})

	require.Equal(t, []string{
		`replstore_writes_total{result="ok"} 1`,
		`replstore_reads_total{mode="any",result="not_found"} 1`,
		`replstore_reads_total{mode="leader",result="bad_time"} 2`,
		`replstore_reads_total{mode="leader",result="not_found"} 1`,
		`replstore_reads_total{mode="local",result="bad_time"} 1`,
		`replstore_reads_total{mode="local",result="ok"} 1`,
		`replstore_reads_total{mode="local",result="timeout"} 1`,
		`replstore_reads_total{mode="session",result="ok"} 1`,
		`replstore_reads_total{mode="unknown",result="bad_mode"} 2`,
		`replstore_reads_total{mode="unknown",result="bad_token"} 1`,
	}, counted(t, srv))
}

// TestAPIWriteAnswers pins what the write endpoints answer on each path
// (written, refused before or by the leader): status, body, headers and
// the replstore_writes_total labels.
func TestAPIWriteAnswers(t *testing.T) {
	srv := newSoloAPI(t)
	defer http.DefaultClient.CloseIdleConnections()

	// A refused write names no server; its token header is the
	// request's, if it got as far as reading it.
	requireRefused := func(t *testing.T, res *http.Response, m map[string]any, status int, code, token string) {
		t.Helper()
		require.Equal(t, status, res.StatusCode, "%v", m)
		require.Equal(t, code, m["code"], "%v", m)
		require.NotEmpty(t, m["error"])
		require.Empty(t, res.Header.Get(headerServedBy))
		require.Equal(t, token, res.Header.Get(headerToken))
	}

	res, m := call(t, "PUT", srv.URL+"/v1/kv/k", "v")
	require.Equal(t, 200, res.StatusCode, "%v", m)
	tok := res.Header.Get(headerToken)
	require.Equal(t, map[string]any{"key": "k", "version": m["version"], "epoch": m["epoch"], "position": tok, "leader": "n1"}, m)
	require.Equal(t, "n1", res.Header.Get(headerServedBy))
	require.Equal(t, tok, res.Header.Get(headerApplied))
	version := strings.Split(tok, ":")[1]

	t.Run("bad token", func(t *testing.T) {
		res, m := call(t, "PUT", srv.URL+"/v1/kv/k", "v", headerToken, "1:2:3")
		requireRefused(t, res, m, 400, "bad_token", "")
		res, m = call(t, "DELETE", srv.URL+"/v1/kv/k?mode=fastest", "")
		requireRefused(t, res, m, 400, "bad_mode", "")
	})
	t.Run("bad input", func(t *testing.T) {
		big := strings.Repeat("x", replstore.DefaultConfig().MaxValueBytes+1)
		res, m := call(t, "PUT", srv.URL+"/v1/kv/k", big, headerToken, tok)
		requireRefused(t, res, m, 413, "value_too_large", tok)
		require.Empty(t, res.Header.Get(headerApplied))
		res, m = call(t, "POST", srv.URL+"/v1/cas/k?version=abc", "v")
		requireRefused(t, res, m, 400, "bad_version", "")
		res, m = call(t, "POST", srv.URL+"/v1/series/s", `{"time": 1}`)
		requireRefused(t, res, m, 400, "bad_json", "")
		res, m = call(t, "POST", srv.URL+"/v1/series/s", `{"time": true, "value": 1}`, headerToken, tok)
		requireRefused(t, res, m, 400, "bad_time", tok)
	})
	t.Run("version mismatch", func(t *testing.T) {
		// The leader applied the CAS and refused it: the answer says where.
		res, m := call(t, "POST", srv.URL+"/v1/cas/k?version=999", "w")
		requireRefused(t, res, m, 409, "version_mismatch", res.Header.Get(headerApplied))
		require.NotEmpty(t, res.Header.Get(headerApplied))
	})
	t.Run("written", func(t *testing.T) {
		res, m := call(t, "POST", srv.URL+"/v1/cas/k?version="+version, "w")
		require.Equal(t, 200, res.StatusCode, "%v", m)
		require.Equal(t, "k", m["key"])
		res, m = call(t, "POST", srv.URL+"/v1/series/s", `{"time": "2026-01-01T00:00:00Z", "value": 1}`)
		require.Equal(t, 200, res.StatusCode, "%v", m)
		require.Equal(t, "s", m["series"])
		require.NotContains(t, m, "key")
		res, m = call(t, "DELETE", srv.URL+"/v1/kv/k", "", headerToken, tok)
		require.Equal(t, 200, res.StatusCode, "%v", m)
		require.Equal(t, "n1", res.Header.Get(headerServedBy))
		require.Equal(t, m["position"], res.Header.Get(headerApplied))
		require.Equal(t, m["position"], res.Header.Get(headerToken))
	})

	require.Equal(t, []string{
		`replstore_writes_total{result="bad_json"} 1`,
		`replstore_writes_total{result="bad_mode"} 1`,
		`replstore_writes_total{result="bad_time"} 1`,
		`replstore_writes_total{result="bad_token"} 1`,
		`replstore_writes_total{result="bad_version"} 1`,
		`replstore_writes_total{result="ok"} 4`,
		`replstore_writes_total{result="value_too_large"} 1`,
		`replstore_writes_total{result="version_mismatch"} 1`,
	}, counted(t, srv))
}

// TestAPISeriesBodyIsOneSample: a series body holds one JSON object and
// nothing after it but white space; anything more is refused, not
// dropped with the first sample stored.
func TestAPISeriesBodyIsOneSample(t *testing.T) {
	srv := newSoloAPI(t)
	defer http.DefaultClient.CloseIdleConnections()

	for _, body := range []string{
		`{"time":"2026-01-01T00:00:00Z","value":1}{"time":5,"value":2}`,
		`{"time":"2026-01-01T00:00:00Z","value":1} garbage`,
		`{"time":"2026-01-01T00:00:00Z","value":1}]`,
	} {
		res, m := call(t, "POST", srv.URL+"/v1/series/s", body)
		require.Equal(t, 400, res.StatusCode, "%s: %v", body, m)
		require.Equal(t, "bad_json", m["code"], "%s: %v", body, m)
	}
	res, m := call(t, "GET", srv.URL+"/v1/series/s", "")
	require.Equal(t, 200, res.StatusCode, "%v", m)
	require.Empty(t, m["samples"], "a refused body stores nothing")

	res, m = call(t, "POST", srv.URL+"/v1/series/s", "{\"time\":\"2026-01-01T00:00:00Z\",\"value\":1}\n \t")
	require.Equal(t, 200, res.StatusCode, "trailing white space is fine: %v", m)
}

// TestAPIBodyLimitsSayWhichLimit: a body over its limit is a 413 whose
// message gives the limit that applies and where it comes from.
func TestAPIBodyLimitsSayWhichLimit(t *testing.T) {
	srv := newSoloAPI(t)
	defer http.DefaultClient.CloseIdleConnections()

	res, m := call(t, "POST", srv.URL+"/v1/series/s", strings.Repeat(" ", maxSampleBody+1))
	require.Equal(t, 413, res.StatusCode, "%v", m)
	require.Equal(t, "value_too_large", m["code"])
	require.Equal(t, "body larger than 65536 bytes (the limit of this API on a series sample's body)", m["error"])

	maxValue := replstore.DefaultConfig().MaxValueBytes
	res, m = call(t, "PUT", srv.URL+"/v1/kv/k", strings.Repeat("x", maxValue+1))
	require.Equal(t, 413, res.StatusCode, "%v", m)
	require.Equal(t, fmt.Sprintf("body larger than %d bytes (the node's MaxValueBytes)", maxValue), m["error"])
}

// TestAPIRoutingErrorsAreJSON: what the router itself refuses (no such
// endpoint, a method the endpoint does not take) is answered like every
// other error, as JSON with a code; a 405 keeps its Allow header.
func TestAPIRoutingErrorsAreJSON(t *testing.T) {
	srv := newSoloAPI(t)
	defer http.DefaultClient.CloseIdleConnections()

	for _, c := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/v1/nope", 404, "no_endpoint", ""},
		{"POST", "/v1/series/s/latest", 405, "method_not_allowed", "GET, HEAD"},
		{"PATCH", "/v1/kv/k", 405, "method_not_allowed", "DELETE, GET, HEAD, PUT"},
		{"DELETE", "/stats", 405, "method_not_allowed", "GET, HEAD"},
	} {
		res, m := call(t, c.method, srv.URL+c.path, "")
		require.Equal(t, c.status, res.StatusCode, "%s %s: %v", c.method, c.path, m)
		require.Equal(t, "application/json", res.Header.Get("Content-Type"), "%s %s", c.method, c.path)
		require.Equal(t, c.code, m["code"], "%s %s: %v", c.method, c.path, m)
		require.Contains(t, m["error"], c.path)
		require.Equal(t, c.allow, res.Header.Get("Allow"), "%s %s", c.method, c.path)
		require.Equal(t, "n1", res.Header.Get(headerNode))
	}
}
