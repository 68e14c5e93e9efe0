package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wire"
	"github.com/stretchr/testify/require"
)

// The process test: three replstore-node processes on loopback (the
// coordinator in n3's process, so that it survives the leader's kill -9),
// driven over their HTTP APIs.

const (
	pollEvery = 20 * time.Millisecond
	waitLong  = 20 * time.Second
)

// cluster is the test's view of the node processes.
type cluster struct {
	t       *testing.T
	bin     string
	dir     string
	repl    map[replstore.NodeID]string // replication addresses
	http    map[replstore.NodeID]string
	coord   string
	procs   map[replstore.NodeID]*exec.Cmd
	waited  map[replstore.NodeID]chan struct{}
	client  *http.Client
	restart map[replstore.NodeID]int
}

// freeAddrs reserves n loopback ports by listening on :0, then frees
// them for the processes (a port taken in between fails the start,
// which the test reports).
func freeAddrs(t *testing.T, n int) []string {
	var lns []net.Listener
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "replstore-node")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func newCluster(t *testing.T) *cluster {
	addrs := freeAddrs(t, 7)
	c := &cluster{t: t, bin: buildBinary(t), dir: t.TempDir(),
		repl:    map[replstore.NodeID]string{"n1": addrs[0], "n2": addrs[1], "n3": addrs[2]},
		http:    map[replstore.NodeID]string{"n1": addrs[3], "n2": addrs[4], "n3": addrs[5]},
		coord:   addrs[6],
		procs:   map[replstore.NodeID]*exec.Cmd{},
		waited:  map[replstore.NodeID]chan struct{}{},
		client:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second},
		restart: map[replstore.NodeID]int{},
	}
	t.Cleanup(func() {
		for id := range c.procs {
			c.kill(id, syscall.SIGKILL)
		}
		c.client.CloseIdleConnections()
		if t.Failed() {
			c.dumpLogs()
		}
	})
	return c
}

func (c *cluster) peers() string {
	var ps []string
	for id, a := range c.repl {
		ps = append(ps, string(id)+"="+a)
	}
	return strings.Join(append(ps, "coordinator="+c.coord), ",")
}

// start runs node id's process with the topology flags given.
func (c *cluster) start(id replstore.NodeID, topo ...string) {
	c.t.Helper()
	args := append([]string{"-id", string(id), "-listen", c.repl[id], "-http", c.http[id], "-peers", c.peers(),
		"-cluster-id", "proc-test", "-request-timeout", "1s", "-log-level", "debug", "-dir", filepath.Join(c.dir, "data-"+string(id))}, topo...)
	if id == "n3" {
		args = append(args, "-coordinator", "-coordinator-listen", c.coord)
	}
	c.restart[id]++
	logf, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("%s.%d.log", id, c.restart[id])))
	require.NoError(c.t, err)
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(c.t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	c.procs[id], c.waited[id] = cmd, done
}

// kill signals node id's process and waits for it to exit.
func (c *cluster) kill(id replstore.NodeID, sig syscall.Signal) {
	cmd := c.procs[id]
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-c.waited[id]:
	case <-time.After(waitLong):
		_ = cmd.Process.Kill()
		<-c.waited[id]
		c.t.Errorf("%s did not exit on %v", id, sig)
	}
	delete(c.procs, id)
}

func (c *cluster) dumpLogs() {
	files, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		c.t.Logf("---- %s (tail) ----\n%s", filepath.Base(f), b)
	}
}

// resp is an HTTP answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
}

// do sends one request to node id.
func (c *cluster) do(id replstore.NodeID, method, path string, body []byte, hdr ...string) (resp, error) {
	req, err := http.NewRequest(method, "http://"+c.http[id]+path, bytes.NewReader(body))
	if err != nil {
		return resp{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.client.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}, err
}

func (c *cluster) must(id replstore.NodeID, method, path string, body []byte, hdr ...string) resp {
	c.t.Helper()
	r, err := c.do(id, method, path, body, hdr...)
	require.NoError(c.t, err, "%s %s on %s", method, path, id)
	return r
}

// eventually polls cond until it holds or waitLong passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollEvery) // a poll interval, not a wait for an event
	}
}

func (c *cluster) waitReady(id replstore.NodeID) {
	c.t.Helper()
	var last string
	c.t.Cleanup(func() {
		if c.t.Failed() && last != "" {
			c.t.Logf("%s's last /readyz answer: %s", id, last)
		}
	})
	eventually(c.t, string(id)+" /readyz", func() bool {
		r, err := c.do(id, "GET", "/readyz", nil)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%d %s", r.status, r.body)
		return r.status == http.StatusOK
	})
}

// acked is a write the test saw acknowledged.
type acked struct {
	key, value string
	pos        replstore.Position
}

// put writes key=value through node id; ok only on 200.
func (c *cluster) put(id replstore.NodeID, key, value string, hdr ...string) (acked, resp, bool) {
	r, err := c.do(id, "PUT", "/v1/kv/"+key, []byte(value), hdr...)
	if err != nil || r.status != http.StatusOK {
		return acked{}, r, false
	}
	var w struct {
		Version replstore.LSN
		Epoch   replstore.Epoch
	}
	if json.Unmarshal(r.body, &w) != nil {
		return acked{}, r, false
	}
	return acked{key: key, value: value, pos: replstore.Position{Epoch: w.Epoch, LSN: w.Version}}, r, true
}

// checkRead reads a.key from node id with the query and headers given
// and requires a's value and version.
func (c *cluster) checkRead(id replstore.NodeID, a acked, query string, hdr ...string) {
	c.t.Helper()
	r := c.must(id, "GET", "/v1/kv/"+a.key+query, nil, hdr...)
	require.Equal(c.t, http.StatusOK, r.status, "GET %s%s on %s: %s", a.key, query, id, r.body)
	m := r.json(c.t)
	require.Equal(c.t, a.value, m["text"], "value of %s on %s (%s)", a.key, id, query)
	require.EqualValues(c.t, a.pos.LSN, m["version"], "version of %s on %s (%s)", a.key, id, query)
	require.EqualValues(c.t, a.pos.Epoch, m["epoch"], "epoch of %s on %s (%s)", a.key, id, query)
}

func TestProcessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	c := newCluster(t)
	topo := []string{"-leader", "n1", "-sync", "n2", "-async", "n3", "-ack", "durable"}
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		c.start(id, topo...)
	}
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		c.waitReady(id)
	}

	var mu sync.Mutex
	var seen []acked
	record := func(a acked) {
		mu.Lock()
		seen = append(seen, a)
		mu.Unlock()
	}

	// Writes through every node.
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		a, r, ok := c.put(id, "via-"+string(id), "written through "+string(id))
		require.True(t, ok, "PUT via %s: %d %s", id, r.status, r.body)
		require.Equal(t, "n1", r.header.Get(headerServedBy))
		record(a)
	}

	// A session token carried from n3 to n2.
	a, r, ok := c.put("n3", "session-key", "read your writes")
	require.True(t, ok, "%d %s", r.status, r.body)
	record(a)
	tok := r.header.Get(headerToken)
	require.NotEmpty(t, tok)
	parsed, err := replstore.ParseToken(tok)
	require.NoError(t, err)
	require.GreaterOrEqual(t, parsed.LSN, a.pos.LSN)
	r = c.must("n2", "GET", "/v1/kv/session-key?mode=session", nil, headerToken, tok)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "read your writes", r.json(t)["text"])
	back, err := replstore.ParseToken(r.header.Get(headerToken))
	require.NoError(t, err)
	require.True(t, back.SatisfiedBy(replstore.Position(back)) && back.LSN >= parsed.LSN, "token went back: %v < %v", back, parsed)
	require.NotEmpty(t, r.header.Get(headerServedBy))
	require.NotEmpty(t, r.header.Get(headerApplied))

	t.Run("stats and metrics", func(t *testing.T) {
		r := c.must("n2", "GET", "/stats", nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, "n1", r.json(t)["Leader"])
		r = c.must("n1", "GET", "/metrics", nil)
		require.Equal(t, http.StatusOK, r.status)
		for _, want := range []string{"replstore_commit_lsn ", "replstore_applied_lsn ", "replstore_epoch 1\n", "replstore_is_leader 1\n",
			"replstore_degraded 0\n", `replstore_follower_lag_entries{follower="n2"} `, `replstore_follower_lag_seconds{follower="n3"} `,
			`replstore_writes_total{result="ok"} `, "# TYPE replstore_reads_total counter\n"} {
			require.Contains(t, string(r.body), want)
		}
		r = c.must("n2", "GET", "/metrics", nil)
		require.Contains(t, string(r.body), `replstore_reads_total{mode="session",result="ok"} 1`)
		require.Contains(t, string(r.body), "replstore_is_leader 0\n")
	})
	t.Run("bad HTTP input", func(t *testing.T) { c.badHTTPInput(t) })
	t.Run("bad replication input", func(t *testing.T) { c.badReplicationInput(t, "n2") })

	// Writers through every node; the leader is killed in the middle.
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		count    atomic.Int64
		failures atomic.Int64
		n1Dead   atomic.Bool
	)
	for w := range 6 {
		id := []replstore.NodeID{"n1", "n2", "n3"}[w%3]
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if a, _, ok := c.put(id, fmt.Sprintf("loop-%d-%d", w, i), fmt.Sprintf("value %d.%d via %s", w, i, id)); ok {
					record(a)
					count.Add(1)
				} else {
					failures.Add(1)
					if id == "n1" && n1Dead.Load() {
						return
					}
				}
			}
		})
	}
	stopWriters := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	t.Cleanup(stopWriters)
	eventually(t, "60 acknowledged writes before the kill", func() bool { return count.Load() >= 60 })
	n1Dead.Store(true)
	c.kill("n1", syscall.SIGKILL)
	beforeFailover := count.Load()
	t.Logf("killed n1 after %d acknowledged loop writes", beforeFailover)

	eventually(t, "n2's /readyz to report the silent leader", func() bool {
		r, err := c.do("n2", "GET", "/readyz", nil)
		return err == nil && r.status == http.StatusServiceUnavailable && strings.Contains(string(r.body), "leader_silent")
	})

	var d replstore.Decision
	eventually(t, "an operator failover through n2", func() bool {
		r, err := c.do("n2", "POST", "/v1/admin/failover", nil)
		if err != nil || r.status != http.StatusOK {
			t.Logf("failover: %v %d %s", err, r.status, r.body)
			return false
		}
		return json.Unmarshal(r.body, &d) == nil
	})
	t.Logf("failover decision: %+v", d)
	c.waitReady("n2")
	require.NotEqual(t, replstore.NodeID("n1"), d.Promote)
	eventually(t, "60 acknowledged writes after the failover", func() bool { return count.Load() >= beforeFailover+60 })
	stopWriters()
	t.Logf("loop: %d acknowledged, %d not", count.Load(), failures.Load())

	// The old leader comes back empty (in-memory storage) with the
	// topology in force, and is repaired from the new leader.
	newTopo := []string{"-leader", string(d.Topology.Leader), "-ack", "durable",
		"-sync", joinIDs(d.Topology.Sync), "-async", joinIDs(d.Topology.Async)}
	c.start("n1", newTopo...)
	c.waitReady("n1")

	mu.Lock()
	all := append([]acked(nil), seen...)
	mu.Unlock()
	var high replstore.Token
	for _, a := range all {
		high = high.Merge(replstore.Token(a.pos))
	}
	for _, a := range all {
		c.checkRead(d.Promote, a, "?mode=leader")
	}
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		for _, a := range all {
			c.checkRead(id, a, "?mode=local", headerToken, high.String())
		}
	}
	t.Logf("%d acknowledged writes all readable on the leader and on every replica", len(all))

	// Graceful stop: SIGTERM ends every process with status 0.
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		cmd := c.procs[id]
		c.kill(id, syscall.SIGTERM)
		require.Equal(t, 0, cmd.ProcessState.ExitCode(), "%s's exit status after SIGTERM", id)
	}
}

func joinIDs(ids []replstore.NodeID) string {
	var s []string
	for _, id := range ids {
		s = append(s, string(id))
	}
	return strings.Join(s, ",")
}

// badHTTPInput sends malformed requests: each gets a 4xx with a JSON
// error, and the node keeps serving.
func (c *cluster) badHTTPInput(t *testing.T) {
	big := bytes.Repeat([]byte("x"), replstore.DefaultConfig().MaxValueBytes+1)
	cases := []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
		code               string
	}{
		{"malformed JSON", "POST", "/v1/series/temp", []byte(`{"time": "2026-01-01T00:00:00Z", "value": `), nil, 400, "bad_json"},
		{"unknown JSON field", "POST", "/v1/series/temp", []byte(`{"time": 1, "value": 2, "unit": "C"}`), nil, 400, "bad_json"},
		{"bad sample time", "POST", "/v1/series/temp", []byte(`{"time": "yesterday", "value": 2}`), nil, 400, "bad_time"},
		{"unknown switchover target", "POST", "/v1/admin/switchover?to=n9", nil, nil, 400, "unknown_node"},
		{"switchover without target", "POST", "/v1/admin/switchover", nil, nil, 400, "bad_target"},
		{"unknown sync target", "POST", "/v1/admin/sync?id=n9&sync=true", nil, nil, 400, "unknown_node"},
		{"malformed token", "GET", "/v1/kv/via-n1?mode=session", nil, []string{headerToken, "12-34"}, 400, "bad_token"},
		{"malformed token on a write", "PUT", "/v1/kv/x", []byte("v"), []string{headerToken, "1:2:3"}, 400, "bad_token"},
		{"oversized value", "PUT", "/v1/kv/big", big, nil, 413, "value_too_large"},
		{"oversized key", "PUT", "/v1/kv/" + strings.Repeat("k", 2000), []byte("v"), nil, 413, "key_too_large"},
		{"empty key", "PUT", "/v1/kv/", []byte("v"), nil, 400, "empty_key"},
		{"empty key read", "GET", "/v1/kv/", nil, nil, 400, "empty_key"},
		{"absent key", "GET", "/v1/kv/never-written", nil, nil, 404, "not_found"},
		{"bad mode", "GET", "/v1/kv/via-n1?mode=fastest", nil, nil, 400, "bad_mode"},
		{"bad CAS version", "POST", "/v1/cas/via-n1?version=abc", []byte("v"), nil, 400, "bad_version"},
		{"CAS version mismatch", "POST", "/v1/cas/via-n1?version=999999", []byte("v"), nil, 409, "version_mismatch"},
	}
	for _, tc := range cases {
		for _, id := range []replstore.NodeID{"n1", "n2"} {
			r := c.must(id, tc.method, tc.path, tc.body, tc.hdr...)
			require.Equal(t, tc.status, r.status, "%s on %s: %s", tc.name, id, r.body)
			m := r.json(t)
			require.Equal(t, tc.code, m["code"], "%s on %s: %s", tc.name, id, r.body)
			require.NotEmpty(t, m["error"], "%s on %s", tc.name, id)
		}
	}
	_, r, ok := c.put("n2", "after-bad-http", "still serving")
	require.True(t, ok, "%d %s", r.status, r.body)
	require.Equal(t, http.StatusOK, c.must("n1", "GET", "/healthz", nil).status)
}

// badReplicationInput sends bad bytes to node id's replication port:
// each connection is refused or closed, and the node keeps replicating
// and serving.
func (c *cluster) badReplicationInput(t *testing.T, id replstore.NodeID) {
	hello := func(cluster string) []byte {
		h := wire.Hello{ClusterID: cluster, Version: wire.Version, From: "n3", Want: id}
		return wire.AppendFrame(nil, wire.FrameHello, wire.AppendHello(nil, &h))
	}
	good := hello("proc-test")
	cases := []struct {
		name      string
		send      []byte
		halfClose bool
		refusal   bool // expect a refusing HelloAnswer before the close
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, false},
		{"truncated frame", good[:len(good)-3], true, false},
		{"oversized frame", wire.AppendHeader(nil, wire.FrameHello, wire.DefaultMaxFrame+1), false, false},
		{"wrong cluster ID", hello("another-cluster"), false, true},
	}
	for i, tc := range cases {
		conn, err := net.DialTimeout("tcp", c.repl[id], 5*time.Second)
		require.NoError(t, err, tc.name)
		require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = conn.Write(tc.send)
		require.NoError(t, err, tc.name)
		if tc.halfClose {
			require.NoError(t, conn.(*net.TCPConn).CloseWrite())
		}
		br := bufio.NewReader(conn)
		if tc.refusal {
			kind, p, err := wire.ReadFrame(br, 0, nil)
			require.NoError(t, err, tc.name)
			require.Equal(t, wire.FrameHelloAnswer, kind, tc.name)
			ans, err := wire.DecodeHelloAnswer(p)
			require.NoError(t, err, tc.name)
			require.False(t, ans.Accepted, tc.name)
			require.Contains(t, ans.Reason, "cluster", tc.name)
		}
		_, err = io.Copy(io.Discard, br)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "%s: the node did not close the connection", tc.name)
		conn.Close()

		// Still serving: a write through id, replicated to n3.
		a, r, ok := c.put(id, fmt.Sprintf("after-bad-repl-%d", i), tc.name)
		require.True(t, ok, "%s: %d %s", tc.name, r.status, r.body)
		c.checkRead("n3", a, "?mode=local", headerToken, replstore.Token(a.pos).String())
	}
}

// check the flags: errors name the flag; environment variables fill
// what the flags do not say.
func TestFlags(t *testing.T) {
	base := []string{"-id", "n1", "-listen", "127.0.0.1:7001", "-cluster-id", "c", "-leader", "n1", "-sync", "n2",
		"-http", "127.0.0.1:8001", "-peers", "n2=127.0.0.1:7002"}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // "" = valid
	}{
		{"valid", base, nil, ""},
		{"missing id", base[2:], nil, "-id is required"},
		{"id from env", base[2:], map[string]string{"REPLSTORE_ID": "n1"}, ""},
		{"flag wins over env", base, map[string]string{"REPLSTORE_ID": "zz"}, ""},
		{"bad env value", base, map[string]string{"REPLSTORE_MANUAL_FAILOVER": "maybe"}, "REPLSTORE_MANUAL_FAILOVER"},
		{"bad ack", append(base, "-ack", "quorum"), nil, "-ack"},
		{"bad sync-loss", append(base, "-sync-loss", "degrade=x"), nil, "-sync-loss"},
		{"degrade", append(base, "-sync-loss", "degrade=2s"), nil, ""},
		{"bad peers", append(base, "-peers", "n2:7002"), nil, "-peers"},
		{"peer without address", append(base, "-async", "n3"), nil, "-peers: node n3"},
		{"not a member", append(base, "-id", "n7"), nil, "-id n7"},
		{"coordinator id", append(base, "-id", "coordinator"), nil, "reserved"},
		{"coordinator without listen", append(base, "-coordinator"), nil, "-coordinator-listen"},
		{"half TLS", append(base, "-tls-cert", "a.pem"), nil, "-tls-cert, -tls-key and -tls-ca"},
		{"bad listen", append(base, "-listen", "nowhere"), nil, "-listen"},
		{"port not a number", append(base, "-peers", "n2=127.0.0.1:abc"), nil, `-peers: n2="127.0.0.1:abc": port "abc"`},
		{"port too big", append(base, "-peers", "n2=:99999"), nil, `-peers: n2=":99999": port "99999"`},
		{"port zero", append(base, "-http", "127.0.0.1:0"), nil, `-http "127.0.0.1:0": port "0"`},
		{"listen port not a number", append(base, "-listen", "127.0.0.1:http"), nil, `-listen "127.0.0.1:http": port`},
		{"two peers on one address", append(base, "-async", "n3", "-peers", "n2=127.0.0.1:7002,n3=127.0.0.1:07002"), nil, "-peers: n2 and n3 have the same address"},
		{"peer on own listen", append(base, "-peers", "n2=127.0.0.1:7001"), nil, "-peers: n2=127.0.0.1:7001 is this process's own -listen address"},
		{"peer on own http", append(base, "-peers", "n2=127.0.0.1:8001"), nil, "-peers: n2=127.0.0.1:8001 is this process's own -http address"},
		{"coordinator on own listen", append(base, "-peers", "n2=127.0.0.1:7002,coordinator=127.0.0.1:7001"), nil, "-peers: coordinator=127.0.0.1:7001 is this process's own -listen"},
		{"listen equals http", append(base, "-http", "127.0.0.1:7001"), nil, "-http 127.0.0.1:7001: the same address as -listen"},
		{"self in peers at -listen", append(base, "-peers", "n1=127.0.0.1:7001,n2=127.0.0.1:7002"), nil, ""},
		{"self in peers elsewhere", append(base, "-peers", "n1=127.0.0.1:7009,n2=127.0.0.1:7002"), nil, "-peers: n1=127.0.0.1:7009 names this node (-id n1) at an address other than -listen"},
		{"own coordinator in peers", append(base, "-coordinator", "-coordinator-listen", "127.0.0.1:7000", "-peers", "n2=127.0.0.1:7002,coordinator=127.0.0.1:7000"), nil, ""},
		{"own coordinator elsewhere in peers", append(base, "-coordinator", "-coordinator-listen", "127.0.0.1:7000", "-peers", "n2=127.0.0.1:7002,coordinator=127.0.0.1:7100"), nil, "-peers: coordinator=127.0.0.1:7100 but this process runs the coordinator on -coordinator-listen 127.0.0.1:7000"},
		{"coordinator-listen on listen", append(base, "-coordinator", "-coordinator-listen", "127.0.0.1:7001"), nil, "-coordinator-listen 127.0.0.1:7001: the same address as -listen"},
		{"automatic failover without coordinator", append(base, "-manual-failover=false"), nil, "-manual-failover"},
		{"bad log level", append(base, "-log-level", "loud"), nil, "-log-level"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseArgs(tc.args, env(tc.env))
			if err == nil {
				_, err = check(o)
			}
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, "n1", o.id)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// A follower whose process dies and comes back from its -dir while the
// same leader leads catches up. (One that comes back EMPTY, its disk
// lost, is not repaired: the leader keeps crediting the old
// incarnation's progress; a library bug recorded in README's known
// limitations: messages need a replica incarnation.)
func TestProcessFollowerRestartIsRepaired(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	c := newCluster(t)
	topo := []string{"-leader", "n1", "-sync", "n2", "-async", "n3"}
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		c.start(id, topo...)
	}
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		c.waitReady(id)
	}
	var all []acked
	for i := range 5 {
		a, r, ok := c.put("n1", fmt.Sprintf("k%d", i), "v")
		require.True(t, ok, "%d %s", r.status, r.body)
		all = append(all, a)
	}
	c.kill("n3", syscall.SIGKILL)
	c.start("n3", topo...)
	a, r, ok := c.put("n1", "after-restart", "v")
	require.True(t, ok, "%d %s", r.status, r.body)
	all = append(all, a)
	c.waitReady("n3")
	for _, a := range all {
		c.checkRead("n3", a, "?mode=local", headerToken, replstore.Token(a.pos).String())
	}
}

// SIGTERM lets an in-flight request finish: a write the leader holds
// (its sync follower is gone, policy Block) still gets its answer, 504
// with the position the leader appended it at, and the process exits 0.
func TestProcessGracefulStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	c := newCluster(t)
	topo := []string{"-leader", "n1", "-sync", "n2", "-request-timeout", "3s"}
	c.start("n1", topo...)
	c.start("n2", topo...)
	c.waitReady("n1")
	c.waitReady("n2")
	c.kill("n2", syscall.SIGKILL)

	done := make(chan answer, 1)
	go func() {
		r, err := c.do("n1", "PUT", "/v1/kv/held", []byte("v"))
		done <- answer{r, err}
	}()
	// The write is in flight once the leader's log holds more than it
	// has committed.
	eventually(t, "the write to be appended and held", func() bool {
		r, err := c.do("n1", "GET", "/stats", nil)
		if err != nil || r.status != http.StatusOK {
			return false
		}
		var st replstore.Stats
		return json.Unmarshal(r.body, &st) == nil && len(st.Nodes) > 0 && st.Nodes[0].Last.LSN > st.Commit
	})
	cmd := c.procs["n1"]
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	a := <-done
	require.NoError(t, a.err, "the in-flight request must get its answer")
	require.Equal(t, http.StatusGatewayTimeout, a.r.status, "%s", a.r.body)
	m := a.r.json(t)
	require.Equal(t, "not_acknowledged", m["code"])
	require.NotEmpty(t, m["position"])
	st := c.waitExit(t, "n1", waitLong) // a second signal would exit at once
	require.Equal(t, 0, st.ExitCode())
}

// startHeld starts n1 alone as the leader of a cluster whose sync
// follower n2 never starts (policy Block), with the flags given, and
// sends a write that the leader appends and holds. It returns the held
// write's answer channel and where the leader appended it.
func (c *cluster) startHeld(t *testing.T, flags ...string) (<-chan answer, replstore.Position) {
	c.start("n1", append([]string{"-leader", "n1", "-sync", "n2"}, flags...)...)
	c.waitReady("n1")
	// The leader's log may already hold an entry it cannot commit (its
	// epoch's first); the write is held once the log grows past it.
	stats := func() (st replstore.Stats, ok bool) {
		r, err := c.do("n1", "GET", "/stats", nil)
		ok = err == nil && r.status == http.StatusOK && json.Unmarshal(r.body, &st) == nil && len(st.Nodes) > 0
		return st, ok
	}
	var before replstore.Stats
	eventually(t, "n1's stats", func() bool { st, ok := stats(); before = st; return ok })
	done := make(chan answer, 1)
	go func() {
		r, err := c.do("n1", "PUT", "/v1/kv/held", []byte("v"))
		done <- answer{r, err}
	}()
	var last replstore.Position
	eventually(t, "the write to be appended and held", func() bool {
		st, ok := stats()
		if !ok {
			return false
		}
		last = st.Nodes[0].Last
		return last.LSN > before.Nodes[0].Last.LSN && last.LSN > st.Commit
	})
	return done, last
}

// answer is an HTTP answer or the error that came instead.
type answer struct {
	r   resp
	err error
}

// waitExit waits up to within for node id's process to exit.
func (c *cluster) waitExit(t *testing.T, id replstore.NodeID, within time.Duration) *os.ProcessState {
	t.Helper()
	cmd := c.procs[id]
	select {
	case <-c.waited[id]:
		delete(c.procs, id)
		return cmd.ProcessState
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v", id, within)
		return nil
	}
}

// Shutdown ends the requests still waiting with an answer, before
// -shutdown-timeout: a held write answers 504 with its position (or
// 503), a read waiting for a token the node has not applied answers 503;
// the process exits 0 within the timeout.
func TestProcessShutdownAnswersWaitingRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	c := newCluster(t)
	const shutdownTimeout = 3 * time.Second
	held, pos := c.startHeld(t, "-request-timeout", "60s", "-shutdown-timeout", shutdownTimeout.String())

	// A local read waiting for the held write to be applied.
	read := make(chan answer, 1)
	wrote := make(chan struct{})
	go func() {
		req, err := http.NewRequest("GET", "http://"+c.http["n1"]+"/v1/kv/held?mode=local", nil)
		if err != nil {
			read <- answer{err: err}
			return
		}
		req.Header.Set(headerToken, replstore.Token(pos).String())
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) }}))
		res, err := c.client.Do(req)
		if err != nil {
			read <- answer{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		read <- answer{resp{status: res.StatusCode, header: res.Header, body: b}, err}
	}()
	<-wrote

	cmd := c.procs["n1"]
	begin := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	w := <-held
	require.NoError(t, w.err, "the held write must get an answer")
	require.Contains(t, []int{http.StatusGatewayTimeout, http.StatusServiceUnavailable}, w.r.status, "%s", w.r.body)
	if w.r.status == http.StatusGatewayTimeout {
		require.Equal(t, pos.String(), w.r.json(t)["position"], "the held write's answer says where it is")
	}
	r := <-read
	require.NoError(t, r.err, "the waiting read must get an answer")
	require.Equal(t, http.StatusServiceUnavailable, r.r.status, "%s", r.r.body)
	require.Equal(t, "shutting_down", r.r.json(t)["code"])
	require.Less(t, time.Since(begin), shutdownTimeout, "answered within -shutdown-timeout")
	st := c.waitExit(t, "n1", shutdownTimeout+5*time.Second)
	require.Equal(t, 0, st.ExitCode())
}

// A second signal during the graceful shutdown exits at once, with a
// non-zero status and a log line, instead of waiting -shutdown-timeout.
func TestProcessSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	c := newCluster(t)
	held, _ := c.startHeld(t, "-request-timeout", "120s", "-shutdown-timeout", "120s")
	logFile := filepath.Join(c.dir, "n1.1.log")
	logHas := func(s string) bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), s)
	}
	require.NoError(t, c.procs["n1"].Process.Signal(syscall.SIGTERM))
	eventually(t, "the graceful shutdown to begin", func() bool { return logHas("stopping: no new HTTP requests") })
	require.NoError(t, c.procs["n1"].Process.Signal(syscall.SIGINT))
	st := c.waitExit(t, "n1", 5*time.Second)
	require.NotEqual(t, 0, st.ExitCode())
	require.True(t, logHas("second signal during shutdown"), "the log says why it exited")
	<-held // the process is gone: the write's connection ended
}

// A node without a live leader (here: its leader never started) says at
// WARN, with the default manual failover, what brings one back.
func TestProcessWarnsWithoutLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	c := newCluster(t)
	c.start("n2", "-leader", "n1", "-sync", "n2")
	logFile := filepath.Join(c.dir, "n2.1.log")
	eventually(t, "the WARN that no leader is live", func() bool {
		b, _ := os.ReadFile(logFile)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "no live leader") &&
				strings.Contains(line, "POST /v1/admin/failover on any node") {
				return true
			}
		}
		return false
	})
}

// A node started on a copy of another node's -dir (another -id and
// -cluster-id) exits non-zero at once with a line naming both
// identities, instead of opening the other's log and waiting for a
// leader.
func TestProcessRefusesAnotherNodesDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes; skipped with -short")
	}
	c := newCluster(t)
	c.start("n1", "-leader", "n1", "-ack", "local")
	c.waitReady("n1")
	c.kill("n1", syscall.SIGTERM)
	copied := filepath.Join(c.dir, "copy-of-n1")
	require.NoError(t, os.CopyFS(copied, os.DirFS(filepath.Join(c.dir, "data-n1"))))

	addrs := freeAddrs(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "-id", "n9", "-listen", addrs[0], "-http", addrs[1],
		"-cluster-id", "other", "-leader", "n9", "-ack", "local", "-dir", copied)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	begin := time.Now()
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "n9 did not exit within 10s; stderr:\n%s", stderr.String())
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "n9 must exit non-zero; stderr:\n%s", stderr.String())
	require.NotEqual(t, 0, exit.ExitCode())
	require.Less(t, time.Since(begin), 5*time.Second)
	out := stderr.String()
	require.Contains(t, out, "node n1 of cluster proc-test")
	require.Contains(t, out, "-id n9 -cluster-id other")
	require.NotContains(t, out, "node running", "refused before the node starts")
}
