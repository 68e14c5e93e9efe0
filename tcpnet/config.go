package tcpnet

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wire"
)

// Config configures a Transport. Zero fields take the defaults below.
type Config struct {
	// ClusterID names the cluster. Both ends of a connection must have
	// the same one. Required.
	ClusterID string
	// Self is this node. Required; Register accepts only this ID.
	Self replstore.NodeID
	// Listen is the address to accept peers on ("127.0.0.1:0" picks a
	// port; Addr reports it). Ignored when Listener is set; one of the two
	// is required.
	Listen string
	// Listener, when set, is used instead of listening on Listen. The
	// Transport owns it: Close closes it, and so does New when it fails.
	Listener net.Listener
	// Peers maps every other node (coordinator included) to the address
	// to dial. Only these nodes may connect, and only they are sent to.
	// Self may be listed; it is ignored.
	Peers map[replstore.NodeID]string

	// TLS, when set, wraps both ends of every connection. The same config
	// serves as client and server: for mutual TLS set Certificates,
	// RootCAs, ClientCAs and ClientAuth = tls.RequireAndVerifyClientCert.
	// When ServerName is empty, the host of the peer's address is used.
	TLS *tls.Config

	// VerifyPeer, when set with TLS, binds certificates to node IDs: it is
	// called after the handshake on both ends, with the node the other end
	// claims to be (acceptor) or was dialed as (dialer) and the TLS state;
	// an error refuses the connection. Without it, any certificate the CAs
	// accept may claim any configured node ID. VerifyCommonName checks the
	// leaf certificate's subject common name or DNS names.
	VerifyPeer func(id replstore.NodeID, state tls.ConnectionState) error

	// Logger receives connection and refusal lines. Nil discards.
	Logger *slog.Logger
	// OnEvent, when set, is called for connects, disconnects, refusals,
	// bad input and drops. It is called from the Transport's goroutines
	// and from Send, possibly concurrently, and must not block or call
	// the Transport.
	OnEvent func(Event)

	// QueueLen bounds each peer's queue of ordinary messages; a message
	// sent to a full queue is dropped. Default 4096.
	QueueLen int
	// SnapshotQueueLen bounds each peer's queue of MsgSnapshot chunks,
	// sent only when the ordinary queue is empty, or one for every
	// SnapshotRatio ordinary messages. Default 16.
	SnapshotQueueLen int
	// SnapshotRatio is how many ordinary messages may go ahead of a
	// waiting snapshot chunk. Default 16.
	SnapshotRatio int
	// MaxFrameBytes bounds a frame's payload, in both directions: a
	// larger message is dropped, a larger incoming frame closes the
	// connection. Default wire.DefaultMaxFrame (64 MiB).
	MaxFrameBytes int
	// MaxBatchBytes is the size of each connection's write buffer: a
	// batch is flushed when the queue is empty or the buffer is full.
	// Default 256 KiB.
	MaxBatchBytes int

	// DialTimeout bounds a dial plus the TLS and replstore handshakes, on
	// both ends. Default 5s.
	DialTimeout time.Duration
	// IdleTimeout closes a connection that has received nothing for this
	// long (between 3/4 of it and all of it), and bounds each write; the
	// sender pings a connection it has written nothing to for
	// IdleTimeout/4, so only a dead or stalled peer hits it. Both ends
	// should use the same value. Default 5s.
	IdleTimeout time.Duration
	// KeepAlive is the TCP keepalive period. Default 15s; negative
	// disables it.
	KeepAlive time.Duration
	// BackoffMin and BackoffMax bound the wait between failed dials to a
	// peer; it doubles from BackoffMin up to BackoffMax, and each wait is
	// drawn uniformly from [wait/2, wait]. Defaults 50ms and 2s.
	BackoffMin, BackoffMax time.Duration
	// Seed seeds the backoff jitter. 0 draws a random seed.
	Seed uint64

	// wrapConn, set by tests, wraps each outbound connection after the
	// handshake (to count writes).
	wrapConn func(net.Conn) net.Conn
}

func (c *Config) setDefaults() {
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&c.QueueLen, 4096)
	setInt(&c.SnapshotQueueLen, 16)
	setInt(&c.SnapshotRatio, 16)
	setInt(&c.MaxFrameBytes, wire.DefaultMaxFrame)
	setInt(&c.MaxBatchBytes, 256<<10)
	setDur(&c.DialTimeout, 5*time.Second)
	setDur(&c.IdleTimeout, 5*time.Second)
	setDur(&c.KeepAlive, 15*time.Second)
	setDur(&c.BackoffMin, 50*time.Millisecond)
	setDur(&c.BackoffMax, 2*time.Second)
}

// Validate reports the first bad field of c, after defaults are applied
// to zero fields (c is not modified).
func (c Config) Validate() error {
	c.setDefaults()
	switch {
	case c.ClusterID == "":
		return fmt.Errorf("tcpnet: Config.ClusterID is empty; both ends need the same cluster ID")
	case c.Self == "":
		return fmt.Errorf("tcpnet: Config.Self is empty; set this node's ID")
	case c.Listen == "" && c.Listener == nil:
		return fmt.Errorf("tcpnet: Config.Listen is empty and Config.Listener is nil; set one")
	}
	for id, addr := range c.Peers {
		if id == "" {
			return fmt.Errorf("tcpnet: Config.Peers has an empty node ID (address %q)", addr)
		}
		if id == c.Self {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("tcpnet: Config.Peers[%q] = %q is not host:port: %w", id, addr, err)
		}
	}
	ints := []struct {
		name string
		v    int
	}{{"QueueLen", c.QueueLen}, {"SnapshotQueueLen", c.SnapshotQueueLen}, {"SnapshotRatio", c.SnapshotRatio}, {"MaxBatchBytes", c.MaxBatchBytes}}
	for _, f := range ints {
		if f.v < 1 {
			return fmt.Errorf("tcpnet: Config.%s = %d; it must be at least 1", f.name, f.v)
		}
	}
	if c.MaxFrameBytes < 1024 || uint64(c.MaxFrameBytes) > 1<<32-1 {
		return fmt.Errorf("tcpnet: Config.MaxFrameBytes = %d; it must be in [1024, 4 GiB)", c.MaxFrameBytes)
	}
	durs := []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", c.DialTimeout}, {"IdleTimeout", c.IdleTimeout}, {"BackoffMin", c.BackoffMin}, {"BackoffMax", c.BackoffMax}}
	for _, f := range durs {
		if f.v <= 0 {
			return fmt.Errorf("tcpnet: Config.%s = %v; it must be positive", f.name, f.v)
		}
	}
	if c.BackoffMax < c.BackoffMin {
		return fmt.Errorf("tcpnet: Config.BackoffMax = %v is below BackoffMin = %v", c.BackoffMax, c.BackoffMin)
	}
	return nil
}
