package tcpnet

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wire"
)

// peer is the outbound side of one other node: its queues and the state
// of the writer goroutine (runPeer) that drains them.
type peer struct {
	id     replstore.NodeID
	addr   string
	tlsCfg *tls.Config // with ServerName; nil for plain TCP

	queue chan replstore.Message // everything but snapshot chunks
	snaps chan replstore.Message // MsgSnapshot; lower priority

	connected atomic.Bool // an outbound connection passed the handshake
	dropping  atomic.Bool // a drop was reported; cleared when the writer finds the queues empty
	sent      atomic.Uint64
	dropFull  atomic.Uint64

	rng *rand.Rand // backoff jitter; only runPeer uses it
}

// backoff is the wait between dials to a peer: none after a success,
// then doubling from min to max with each failure. Each delay is drawn
// uniformly from [wait/2, wait], so that nodes restarted together do not
// dial in lockstep.
type backoff struct {
	min, max time.Duration
	wait     time.Duration // 0 until a failure
}

func (b *backoff) fail()  { b.wait = min(max(2*b.wait, b.min), b.max) }
func (b *backoff) reset() { b.wait = 0 }

// delay draws the next wait from rng.
func (b *backoff) delay(rng *rand.Rand) time.Duration {
	if b.wait <= 0 {
		return 0
	}
	return b.wait/2 + time.Duration(rng.Int64N(int64(b.wait/2)+1))
}

// refusedError is a HelloAnswer that refused us.
type refusedError struct{ reason string }

func (e *refusedError) Error() string { return "refused by peer: " + e.reason }

// runPeer keeps a connection to p open and drains p's queues into it,
// until Close.
func (t *Transport) runPeer(p *peer) {
	b := backoff{min: t.cfg.BackoffMin, max: t.cfg.BackoffMax}
	failures := 0
	for {
		if d := b.delay(p.rng); d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-t.done:
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		raw, c, br, err := t.dial(p)
		if err != nil {
			if t.closed.Load() {
				return
			}
			failures++
			b.fail()
			var refused *refusedError
			switch {
			case errors.As(err, &refused):
				level := slog.LevelError
				if failures > 1 {
					level = slog.LevelDebug // reported on the first refusal of a run; events report each
				}
				t.log.Log(t.ctx, level, "tcpnet: peer refused our connection", "peer", p.id, "addr", p.addr, "reason", refused.reason)
				t.event(Event{Kind: EventRefusedByPeer, Peer: p.id, Addr: p.addr, Reason: refused.reason})
			default:
				level := slogDebugAfterFirst(failures)
				t.log.Log(t.ctx, level, "tcpnet: dial failed; retrying", "peer", p.id, "addr", p.addr, "err", err, "backoff", b.wait, "failures", failures)
				t.event(Event{Kind: EventDialFailed, Peer: p.id, Addr: p.addr, Err: err})
			}
			continue
		}
		failures = 0
		b.reset()
		if t.cfg.wrapConn != nil {
			c = t.cfg.wrapConn(c)
		}
		p.connected.Store(true)
		t.log.Info("tcpnet: connected", "peer", p.id, "addr", p.addr)
		t.event(Event{Kind: EventConnected, Peer: p.id, Addr: p.addr})
		err = t.writeLoop(p, c, br)
		p.connected.Store(false)
		t.untrack(raw)
		if t.closed.Load() {
			return
		}
		t.log.Warn("tcpnet: connection lost; reconnecting", "peer", p.id, "addr", p.addr, "err", err)
		t.event(Event{Kind: EventDisconnected, Peer: p.id, Addr: p.addr, Err: err})
	}
}

// dial connects to p and runs the handshake. raw is the TCP connection
// (tracked for Close), c the one to use (TLS over raw, or raw), br its
// reader.
func (t *Transport) dial(p *peer) (net.Conn, net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: t.cfg.DialTimeout, KeepAlive: t.cfg.KeepAlive}
	raw, err := d.DialContext(t.ctx, "tcp", p.addr)
	if err != nil {
		return nil, nil, nil, err
	}
	if !t.track(raw) {
		raw.Close()
		return nil, nil, nil, errClosed
	}
	c, br, err := t.clientHandshake(p, raw)
	if err != nil {
		t.untrack(raw)
		return nil, nil, nil, err
	}
	return raw, c, br, nil
}

// clientHandshake runs TLS (if configured) and the dialer's side of the
// replstore handshake on raw.
func (t *Transport) clientHandshake(p *peer, raw net.Conn) (net.Conn, *bufio.Reader, error) {
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	raw.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	c := raw
	if p.tlsCfg != nil {
		tc := tls.Client(raw, p.tlsCfg)
		if err := tc.HandshakeContext(t.ctx); err != nil {
			return nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	hello := wire.Hello{ClusterID: t.cfg.ClusterID, Version: wire.Version, From: t.cfg.Self, Want: p.id}
	if _, err := c.Write(wire.AppendFrame(nil, wire.FrameHello, wire.AppendHello(nil, &hello))); err != nil {
		return nil, nil, fmt.Errorf("send hello: %w", err)
	}
	br := bufio.NewReaderSize(c, 4096)
	kind, payload, err := wire.ReadFrame(br, 64<<10, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("read hello answer: %w", err)
	}
	if kind != wire.FrameHelloAnswer {
		return nil, nil, fmt.Errorf("read hello answer: got a %s frame", kind)
	}
	ans, err := wire.DecodeHelloAnswer(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("read hello answer: %w", err)
	}
	if !ans.Accepted {
		return nil, nil, &refusedError{ans.Reason}
	}
	if ans.From != p.id {
		return nil, nil, fmt.Errorf("the node at %s is %q, not %q", p.addr, ans.From, p.id)
	}
	if err := t.verifyPeer(p.id, c); err != nil {
		return nil, nil, err
	}
	raw.SetDeadline(time.Time{})
	return c, br, nil
}

// writeLoop drains p's queues into c until a write fails, the peer closes
// the connection, or Close. Each batch (what is queued when the writer
// looks) goes into one buffered writer, flushed when the queues are empty
// or the buffer fills.
func (t *Transport) writeLoop(p *peer, c net.Conn, br *bufio.Reader) error {
	// Nothing flows back on an outbound connection after the handshake:
	// a read returns only when the peer closes it (or Close closes c).
	dead := make(chan error, 1)
	t.wg.Go(func() {
		_, err := br.ReadByte()
		if err == nil {
			err = errors.New("peer sent data on an outbound connection")
		}
		dead <- err
	})

	bw := bufio.NewWriterSize(c, t.cfg.MaxBatchBytes)
	idle := t.cfg.IdleTimeout
	// A ping goes out when nothing was written for a whole pingEvery, so
	// the gap between frames stays under idle/2: the reader's idle timer
	// fires after at least 3/4 idle.
	pingEvery := idle / 4
	ping := time.NewTimer(pingEvery)
	defer ping.Stop()
	wrote := false // since the ping timer was last reset
	batch := 0     // messages in bw, not yet flushed
	sinceSnap := 0 // ordinary messages since the last snapshot chunk
	var frame []byte
	var m replstore.Message // one per connection: &m escapes to the encoder

	next := func() (replstore.Message, bool) {
		if sinceSnap < t.cfg.SnapshotRatio {
			select {
			case m := <-p.queue:
				sinceSnap++
				return m, true
			default:
			}
		}
		select {
		case m := <-p.snaps:
			sinceSnap = 0
			return m, true
		default:
		}
		select {
		case m := <-p.queue:
			sinceSnap++
			return m, true
		default:
		}
		return replstore.Message{}, false
	}
	fail := func(err error) error {
		t.dropWriteFailed.Add(uint64(batch))
		return err
	}

	for {
		var ok bool
		m, ok = next()
		if !ok {
			if batch > 0 {
				c.SetWriteDeadline(time.Now().Add(idle))
				if err := bw.Flush(); err != nil {
					return fail(fmt.Errorf("write: %w", err))
				}
				p.sent.Add(uint64(batch))
				batch = 0
				p.dropping.Store(false)
			}
			select {
			case m = <-p.queue:
				sinceSnap++
			case m = <-p.snaps:
				sinceSnap = 0
			case <-ping.C:
				if !wrote {
					c.SetWriteDeadline(time.Now().Add(idle))
					if _, err := c.Write(wire.AppendHeader(frame[:0], wire.FramePing, 0)); err != nil {
						return fmt.Errorf("write ping: %w", err)
					}
				}
				wrote = false
				ping.Reset(pingEvery)
				continue
			case err := <-dead:
				return fmt.Errorf("read: %w", err)
			case <-t.done:
				return errClosed
			}
		}
		var err error
		frame, err = wire.AppendMessageFrame(frame[:0], &m)
		if err == nil && len(frame)-wire.HeaderLen > t.cfg.MaxFrameBytes {
			err = fmt.Errorf("%w: %d bytes, MaxFrameBytes %d", wire.ErrFrameTooLarge, len(frame)-wire.HeaderLen, t.cfg.MaxFrameBytes)
		}
		if err != nil {
			t.dropTooLarge.Add(1)
			t.log.Error("tcpnet: cannot send message; dropped", "to", p.id, "kind", m.Kind, "err", err)
			continue
		}
		if bw.Available() < len(frame) && bw.Buffered() > 0 {
			// The frame does not fit: send what is buffered first, so that
			// batch counts exactly the messages bw holds.
			c.SetWriteDeadline(time.Now().Add(idle))
			if err := bw.Flush(); err != nil {
				batch++ // and m, which will not be written
				return fail(fmt.Errorf("write: %w", err))
			}
			p.sent.Add(uint64(batch))
			batch = 0
		}
		if bw.Available() < len(frame) {
			c.SetWriteDeadline(time.Now().Add(idle)) // bw writes it straight to c
		}
		batch++
		if _, err := bw.Write(frame); err != nil {
			return fail(fmt.Errorf("write: %w", err))
		}
		wrote = true
		if cap(frame) > 1<<20 {
			frame = nil // do not keep a snapshot-sized buffer for heartbeats
		}
	}
}

// slogDebugAfterFirst logs the first of a run of failures at Info, the
// rest at Debug.
func slogDebugAfterFirst(failures int) slog.Level {
	if failures == 1 {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
