// Package tcpnet is a replstore.Transport over TCP, optionally TLS: one
// replica per process.
//
// Each node keeps one long-lived outbound connection to every peer and
// accepts one from each: messages flow from dialer to acceptor only, so
// a pair of nodes talks over two connections. A connection opens with a
// handshake (wire.Hello, wire.HelloAnswer) that checks the cluster ID,
// that the dialer is a configured peer, that it reached the node it meant
// to, and the protocol version; nothing is delivered from a connection
// that has not passed it.
//
// Send never blocks. Each peer has two bounded queues, one for snapshot
// chunks and one for everything else; a writer goroutine per peer drains
// them into a buffered writer (snapshot chunks only when the other queue
// is empty, or one per Config.SnapshotRatio messages), flushes once per
// batch and never waits for answers. A full queue drops the message, as a
// network may: the protocol retries. Messages queued while a peer is
// unreachable wait in its queue until it is reached again.
//
// Messages arriving from a peer are handed to the handler given to
// Register on that connection's reader goroutine, in the order the peer
// sent them; handlers must not block.
package tcpnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"

	"github.com/replstore/replstore"
)

// Transport is a TCP replstore.Transport. Use New; Close releases it.
// All methods are safe for concurrent use.
type Transport struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	peers  map[replstore.NodeID]*peer  // immutable after New
	names  map[string]replstore.NodeID // Self and the peers: decoded NodeIDs reuse these strings
	ctx    context.Context             // cancelled by Close: aborts dials and handshakes
	cancel context.CancelFunc
	done   chan struct{} // closed by Close

	handler atomic.Pointer[func(replstore.Message)] // nil: nothing registered
	closed  atomic.Bool                             // set once by Close, before done closes

	noHandlerReported atomic.Bool // a drop for want of a handler was reported; Register clears it
	close             sync.Once
	wg                sync.WaitGroup // every goroutine the Transport starts

	mu      sync.Mutex
	conns   map[net.Conn]struct{}         // every open connection (the raw TCP one); Close closes them
	inbound map[replstore.NodeID]net.Conn // the accepted connection from each peer, if any

	unknownLogged sync.Map // NodeID -> struct{}: Send to an unknown peer was logged

	delivered                                       atomic.Uint64
	dropUnknown, dropClosed, dropNoHandler          atomic.Uint64
	dropMisaddressed, dropTooLarge, dropWriteFailed atomic.Uint64
}

var _ replstore.DedicatedTransport = (*Transport)(nil)

// errClosed is what the Transport's goroutines see once Close started.
var errClosed = errors.New("tcpnet: transport closed")

// New validates cfg, starts listening and starts dialing every peer.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		if cfg.Listener != nil {
			cfg.Listener.Close()
		}
		return nil, err
	}
	cfg.setDefaults()
	ln := cfg.Listener
	if ln == nil {
		lc := net.ListenConfig{KeepAlive: cfg.KeepAlive}
		var err error
		if ln, err = lc.Listen(context.Background(), "tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("tcpnet: listen on %s: %w", cfg.Listen, err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.Self)
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t := &Transport{
		cfg:     cfg,
		log:     log,
		ln:      ln,
		peers:   make(map[replstore.NodeID]*peer),
		done:    make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
		inbound: make(map[replstore.NodeID]net.Conn),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.names = map[string]replstore.NodeID{string(cfg.Self): cfg.Self}
	for id, addr := range cfg.Peers {
		if id == cfg.Self {
			continue
		}
		p := &peer{
			id:     id,
			addr:   addr,
			queue:  make(chan replstore.Message, cfg.QueueLen),
			snaps:  make(chan replstore.Message, cfg.SnapshotQueueLen),
			rng:    rand.New(rand.NewPCG(seed, maphash.Comparable(maphash.Seed{}, id))),
			tlsCfg: clientTLS(cfg.TLS, addr),
		}
		t.peers[id] = p
		t.names[string(id)] = id
	}
	t.log.Info("tcpnet: listening", "addr", ln.Addr().String(), "peers", len(t.peers), "tls", cfg.TLS != nil)
	t.wg.Go(t.acceptLoop)
	for _, p := range t.peers {
		t.wg.Go(func() { t.runPeer(p) })
	}
	return t, nil
}

// clientTLS returns the config to dial addr with: cfg with ServerName
// set to addr's host when it is empty.
func clientTLS(cfg *tls.Config, addr string) *tls.Config {
	if cfg == nil || cfg.ServerName != "" {
		return cfg
	}
	c := cfg.Clone()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		c.ServerName = host
	}
	return c
}

// Addr is the address the Transport accepts connections on.
func (t *Transport) Addr() net.Addr { return t.ln.Addr() }

// Serves implements replstore.DedicatedTransport: this Transport delivers
// to Config.Self only, and NewNode refuses to start another node on it.
func (t *Transport) Serves() replstore.NodeID { return t.cfg.Self }

// Register sets the handler for messages to Config.Self; it replaces any
// earlier one. Other IDs are refused with a log line: a Transport serves
// one node.
func (t *Transport) Register(id replstore.NodeID, deliver func(replstore.Message)) {
	if id != t.cfg.Self {
		t.log.Error("tcpnet: Register for a node this transport does not serve; ignored", "id", id)
		return
	}
	if deliver == nil {
		t.handler.Store(nil)
		return
	}
	t.handler.Store(&deliver)
	t.noHandlerReported.Store(false)
}

// Unregister stops delivery to Config.Self: arriving messages are dropped
// until the next Register.
func (t *Transport) Unregister(id replstore.NodeID) {
	if id == t.cfg.Self {
		t.handler.Store(nil)
	}
}

// Send queues msg for msg.To and returns at once. It drops the message
// (and counts it) when the Transport is closed, msg.To is not a
// configured peer, or msg.To's queue is full. A message to Config.Self is
// handed to the handler directly.
func (t *Transport) Send(msg replstore.Message) {
	if t.closed.Load() {
		t.dropClosed.Add(1)
		return
	}
	if msg.To == t.cfg.Self {
		t.deliver(msg)
		return
	}
	p := t.peers[msg.To]
	if p == nil {
		t.dropUnknown.Add(1)
		if _, logged := t.unknownLogged.LoadOrStore(msg.To, struct{}{}); !logged {
			t.log.Warn("tcpnet: dropping messages to a node not in Config.Peers (logged once per node)", "to", msg.To, "kind", msg.Kind)
			t.event(Event{Kind: EventDropping, Peer: msg.To, Reason: "unknown peer"})
		}
		return
	}
	q := p.queue
	if msg.Kind == replstore.MsgSnapshot {
		q = p.snaps
	}
	select {
	case q <- msg:
	default:
		p.dropFull.Add(1)
		if p.dropping.CompareAndSwap(false, true) {
			t.log.Warn("tcpnet: queue full, dropping messages (logged again once it drains)", "to", p.id, "kind", msg.Kind, "connected", p.connected.Load())
			t.event(Event{Kind: EventDropping, Peer: p.id, Addr: p.addr, Reason: "queue full"})
		}
	}
}

// deliver hands msg to the registered handler, or drops it.
func (t *Transport) deliver(msg replstore.Message) {
	h := t.handler.Load()
	if h == nil {
		t.dropNoHandler.Add(1)
		if t.noHandlerReported.CompareAndSwap(false, true) {
			t.log.Info("tcpnet: dropping messages: no handler registered (logged once until Register)", "from", msg.From, "kind", msg.Kind)
			t.event(Event{Kind: EventDropping, Peer: msg.From, Reason: "no handler"})
		}
		return
	}
	(*h)(msg)
	t.delivered.Add(1)
}

func (t *Transport) event(e Event) {
	if t.cfg.OnEvent != nil {
		t.cfg.OnEvent(e)
	}
}

// Close stops the listener, every connection and every goroutine of the
// Transport, and returns once they are all gone. Send after Close drops.
// Messages still queued are discarded. Close may be called more than once.
func (t *Transport) Close() error {
	t.close.Do(func() {
		t.closed.Store(true)
		t.cancel()
		close(t.done)
		t.ln.Close()
		t.mu.Lock()
		for c := range t.conns {
			c.Close()
		}
		t.mu.Unlock()
	})
	t.wg.Wait()
	return nil
}

// track records an open connection so that Close closes it; it reports
// false (and the caller must close c) once Close has started.
func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (t *Transport) untrack(c net.Conn) {
	c.Close()
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}
