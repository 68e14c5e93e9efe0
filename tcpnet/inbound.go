package tcpnet

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wire"
)

// acceptLoop accepts connections until Close and serves each on its own
// goroutine.
func (t *Transport) acceptLoop() {
	for {
		raw, err := t.ln.Accept()
		if err != nil {
			if t.closed.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: wait a little.
				t.log.Warn("tcpnet: accept failed; retrying", "err", err)
				timer := time.NewTimer(50 * time.Millisecond)
				select {
				case <-t.done:
					timer.Stop()
					return
				case <-timer.C:
				}
				continue
			}
			t.log.Error("tcpnet: accept failed; no longer accepting connections", "err", err)
			return
		}
		if !t.track(raw) {
			raw.Close()
			return
		}
		t.wg.Go(func() { t.serveInbound(raw) })
	}
}

func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// serveInbound runs the acceptor's side of the handshake on raw, then
// reads messages from it until it closes or sends something bad.
func (t *Transport) serveInbound(raw net.Conn) {
	defer t.untrack(raw)
	addr := raw.RemoteAddr().String()
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		// Config.Listener may not have been made with our keepalive.
		if t.cfg.KeepAlive > 0 {
			tc.SetKeepAlivePeriod(t.cfg.KeepAlive)
		}
		tc.SetKeepAlive(t.cfg.KeepAlive > 0)
	}
	raw.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	var c net.Conn = raw
	if t.cfg.TLS != nil {
		tc := tls.Server(raw, t.cfg.TLS)
		if err := tc.HandshakeContext(t.ctx); err != nil {
			if t.closed.Load() {
				return
			}
			t.refuse(nil, "", addr, fmt.Sprintf("TLS handshake failed: %v", err))
			return
		}
		c = tc
	}
	br := bufio.NewReaderSize(c, 64<<10)
	from, ok := t.acceptHello(c, br, addr)
	if !ok {
		return
	}
	raw.SetDeadline(time.Time{})

	t.mu.Lock()
	old := t.inbound[from]
	t.inbound[from] = raw
	t.mu.Unlock()
	if old != nil {
		// The peer reconnected; its old connection is dead or dying.
		old.Close()
	}
	t.log.Info("tcpnet: accepted", "peer", from, "addr", addr)
	t.event(Event{Kind: EventAccepted, Peer: from, Addr: addr, Inbound: true})

	err := t.readLoop(raw, br, from)

	t.mu.Lock()
	if t.inbound[from] == raw {
		delete(t.inbound, from)
	}
	t.mu.Unlock()
	var bad *badInputError
	switch {
	case t.closed.Load():
	case errors.As(err, &bad):
		t.log.Error("tcpnet: bad input; closing the connection", "peer", from, "addr", addr, "err", bad.err)
		t.event(Event{Kind: EventBadInput, Peer: from, Addr: addr, Err: bad.err, Inbound: true})
	default:
		t.log.Info("tcpnet: inbound connection closed", "peer", from, "addr", addr, "err", err)
		t.event(Event{Kind: EventDisconnected, Peer: from, Addr: addr, Err: err, Inbound: true})
	}
}

// acceptHello reads the dialer's Hello and answers it; it reports the
// dialer's ID and whether it was accepted.
func (t *Transport) acceptHello(c net.Conn, br *bufio.Reader, addr string) (replstore.NodeID, bool) {
	kind, payload, err := wire.ReadFrame(br, 64<<10, nil)
	if errors.Is(err, wire.ErrVersion) && kind == wire.FrameHello {
		t.refuse(c, "", addr, fmt.Sprintf("unsupported protocol version (%v)", err))
		return "", false
	}
	if err != nil {
		if t.closed.Load() {
			return "", false
		}
		t.log.Error("tcpnet: bad handshake; closing the connection", "addr", addr, "err", err)
		t.event(Event{Kind: EventBadInput, Addr: addr, Err: fmt.Errorf("handshake: %w", err), Inbound: true})
		return "", false
	}
	if kind != wire.FrameHello {
		t.refuse(c, "", addr, fmt.Sprintf("expected a hello frame, got %s", kind))
		return "", false
	}
	h, err := wire.DecodeHello(payload)
	if err != nil {
		t.refuse(c, "", addr, fmt.Sprintf("bad hello: %v", err))
		return "", false
	}
	var reason string
	switch {
	case h.Version != wire.Version:
		reason = fmt.Sprintf("unsupported protocol version %d (this node speaks %d)", h.Version, wire.Version)
	case h.ClusterID != t.cfg.ClusterID:
		reason = fmt.Sprintf("cluster ID %q does not match this node's %q", h.ClusterID, t.cfg.ClusterID)
	case t.peers[h.From] == nil:
		reason = fmt.Sprintf("unknown node %q (not in this node's peers)", h.From)
	case h.Want != "" && h.Want != t.cfg.Self:
		reason = fmt.Sprintf("this node is %q, not %q", t.cfg.Self, h.Want)
	default:
		if err := t.verifyPeer(h.From, c); err != nil {
			reason = err.Error()
		}
	}
	if reason != "" {
		t.refuse(c, h.From, addr, reason)
		return "", false
	}
	ans := wire.HelloAnswer{Accepted: true, Version: wire.Version, From: t.cfg.Self}
	if _, err := c.Write(wire.AppendFrame(nil, wire.FrameHelloAnswer, wire.AppendHelloAnswer(nil, &ans))); err != nil {
		t.log.Info("tcpnet: handshake answer failed", "peer", h.From, "addr", addr, "err", err)
		return "", false
	}
	return h.From, true
}

// refuse logs and reports a refused connection and, when c is not nil,
// tells the dialer why (best effort; the caller then closes it).
func (t *Transport) refuse(c net.Conn, from replstore.NodeID, addr, reason string) {
	t.log.Warn("tcpnet: refused connection", "claimed_peer", from, "addr", addr, "reason", reason)
	t.event(Event{Kind: EventRefused, Peer: from, Addr: addr, Reason: reason, Inbound: true})
	if c != nil {
		ans := wire.HelloAnswer{Version: wire.Version, From: t.cfg.Self, Reason: reason}
		c.Write(wire.AppendFrame(nil, wire.FrameHelloAnswer, wire.AppendHelloAnswer(nil, &ans)))
	}
}

// badInputError is something a peer sent that is not valid replstore
// traffic.
type badInputError struct{ err error }

func (e *badInputError) Error() string { return "bad input: " + e.err.Error() }

// maxKeptReadBuf bounds the read buffer a connection keeps between
// frames; a larger frame gets a buffer of its own.
const maxKeptReadBuf = 1 << 20

// readLoop reads frames from br and delivers their messages until the
// connection fails. Every returned error is either a *badInputError or a
// read error.
func (t *Transport) readLoop(raw net.Conn, br *bufio.Reader, from replstore.NodeID) error {
	idle := t.cfg.IdleTimeout
	var deadlineSet time.Time
	buf := make([]byte, 0, 64<<10)
	dec := wire.Decoder{Names: t.names}
	var m replstore.Message // reused: decoding into it allocates only what the handler keeps
	for {
		// Refresh the read deadline every idle/4: the connection is closed
		// after between 3/4 idle and idle without a byte.
		if now := time.Now(); now.Sub(deadlineSet) > idle/4 {
			raw.SetReadDeadline(now.Add(idle))
			deadlineSet = now
		}
		kind, payload, err := wire.ReadFrame(br, t.cfg.MaxFrameBytes, buf)
		switch {
		case err == nil:
		case err == io.EOF, errors.Is(err, net.ErrClosed):
			return err
		case errors.Is(err, wire.ErrBadMagic), errors.Is(err, wire.ErrVersion), errors.Is(err, wire.ErrFrameKind),
			errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, io.ErrUnexpectedEOF):
			return &badInputError{err}
		default:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("nothing received for %v: %w", idle, err)
			}
			return err
		}
		if cap(payload) > cap(buf) && cap(payload) <= maxKeptReadBuf {
			buf = payload[:0]
		}
		switch kind {
		case wire.FramePing:
			continue
		case wire.FrameMessage:
		default:
			return &badInputError{fmt.Errorf("unexpected %s frame after the handshake", kind)}
		}
		if err := dec.Decode(&m, payload); err != nil {
			return &badInputError{err}
		}
		if m.From != from {
			return &badInputError{fmt.Errorf("a %s message from %q on %q's connection", m.Kind, m.From, from)}
		}
		if m.To != t.cfg.Self {
			t.dropMisaddressed.Add(1)
			continue
		}
		t.deliver(m)
	}
}
