package tcpnet

import (
	"bytes"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor is how long a test waits for something that should happen
// promptly before it fails: a bound so that nothing hangs, not a speed
// check (10 s was too little under -race on a 2-core machine running
// other suites: TestThreeNodesPerLinkOrder had 2,946 of its 4,000
// messages at n1 when it gave up).
const waitFor = 60 * time.Second

// recorder keeps what a node saw, in order, and wakes waiters on each
// new item. It is a handler and an OnEvent function.
type recorder[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{} // closed and replaced on every append
}

func newRecorder[T any]() *recorder[T] { return &recorder[T]{changed: make(chan struct{})} }

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	r.items = append(r.items, v)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder[T]) snapshot() ([]T, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items), r.changed
}

// wait returns the items once done(items) holds, or fails the test after
// waitFor, saying what it waited for.
func (r *recorder[T]) wait(t testing.TB, what string, done func([]T) bool) []T {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		items, changed := r.snapshot()
		if done(items) {
			return items
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; have %d items: %v", waitFor, what, len(items), tail(items))
		}
	}
}

func tail[T any](items []T) []T {
	if len(items) > 20 {
		return items[len(items)-20:]
	}
	return items
}

// waitEvent waits for an event of kind (from peer, when peer != "").
func waitEvent(t testing.TB, r *recorder[Event], kind EventKind, peer replstore.NodeID) Event {
	t.Helper()
	var found Event
	r.wait(t, kind.String()+" event from "+string(peer), func(es []Event) bool {
		for _, e := range es {
			if e.Kind == kind && (peer == "" || e.Peer == peer) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// count counts r's events of kind so far.
func (r *recorder[T]) count(match func(T) bool) int {
	items, _ := r.snapshot()
	n := 0
	for _, v := range items {
		if match(v) {
			n++
		}
	}
	return n
}

func countEvents(es []Event, kind EventKind) int {
	n := 0
	for _, e := range es {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// node is one Transport under test with what it received and reported.
type node struct {
	*Transport
	id     replstore.NodeID
	addr   string
	inbox  *recorder[replstore.Message]
	events *recorder[Event]
}

// listen opens a loopback listener on a free port.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// freeAddr returns a loopback address nothing listens on (now).
func freeAddr(t testing.TB) string {
	ln := listen(t)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// fastConfig is a Config with quick retries, for tests.
func fastConfig(self replstore.NodeID, ln net.Listener, peers map[replstore.NodeID]string) Config {
	return Config{ClusterID: "test", Self: self, Listener: ln, Peers: peers,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Seed: 1}
}

// start starts a node with cfg (Listener set), closed when the test ends.
func start(t testing.TB, cfg Config) *node {
	t.Helper()
	n := &node{id: cfg.Self, addr: cfg.Listener.Addr().String(), inbox: newRecorder[replstore.Message](), events: newRecorder[Event]()}
	cfg.OnEvent = n.events.add
	// New accepts at once; a peer that dials in before Register would have
	// its first messages dropped for want of a handler (as a network may
	// drop them), and a test waiting for them would wait forever. That
	// happened under load to TestPeerRestartReconnects, whose restarted
	// node was dialed by a peer holding a queued message. The gate opens
	// the listener once the handler is in place.
	gate := &gatedListener{Listener: cfg.Listener, open: make(chan struct{})}
	cfg.Listener = gate
	tr, err := New(cfg)
	require.NoError(t, err)
	tr.Register(cfg.Self, n.inbox.add)
	close(gate.open)
	n.Transport = tr
	t.Cleanup(func() { tr.Close() })
	return n
}

// gatedListener accepts only once open is closed.
type gatedListener struct {
	net.Listener
	open chan struct{}
}

func (g *gatedListener) Accept() (net.Conn, error) {
	<-g.open
	return g.Listener.Accept()
}

// startCluster starts one node per id, each a peer of every other.
func startCluster(t testing.TB, ids ...replstore.NodeID) []*node {
	t.Helper()
	lns := make([]net.Listener, len(ids))
	peers := make(map[replstore.NodeID]string)
	for i, id := range ids {
		lns[i] = listen(t)
		peers[id] = lns[i].Addr().String()
	}
	nodes := make([]*node, len(ids))
	for i, id := range ids {
		nodes[i] = start(t, fastConfig(id, lns[i], peers))
	}
	return nodes
}

// appendMsg is a MsgAppend with one 64-byte command; seq goes in ReadSeq
// so that receivers can check order.
func appendMsg(from, to replstore.NodeID, seq uint64) replstore.Message {
	return replstore.Message{Kind: replstore.MsgAppend, From: from, To: to, Epoch: 1, ReadSeq: seq, Commit: replstore.LSN(seq),
		Entries: []replstore.Entry{{Pos: replstore.Position{Epoch: 1, LSN: replstore.LSN(seq)}, Data: make([]byte, 64)}}}
}

// fromCount counts the messages from a sender.
func fromCount(ms []replstore.Message, from replstore.NodeID) int {
	n := 0
	for _, m := range ms {
		if m.From == from {
			n++
		}
	}
	return n
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
