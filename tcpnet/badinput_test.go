package tcpnet

import (
	"bufio"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wire"
	"github.com/stretchr/testify/require"
)

func rawDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitFor)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(waitFor)))
	return c
}

func helloFrame(cluster string, from, want replstore.NodeID) []byte {
	h := wire.Hello{ClusterID: cluster, Version: wire.Version, From: from, Want: want}
	return wire.AppendFrame(nil, wire.FrameHello, wire.AppendHello(nil, &h))
}

func readAnswer(t testing.TB, c net.Conn) wire.HelloAnswer {
	t.Helper()
	kind, p, err := wire.ReadFrame(bufio.NewReader(c), 0, nil)
	require.NoError(t, err)
	require.Equal(t, wire.FrameHelloAnswer, kind)
	a, err := wire.DecodeHelloAnswer(p)
	require.NoError(t, err)
	return a
}

// requireClosed waits until the other end closes c (a read returns EOF
// or a reset), failing on c's deadline.
func requireClosed(t testing.TB, c net.Conn) {
	t.Helper()
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the connection was not closed: %v", err)
}

// handshake dials addr as from and passes the handshake.
func handshake(t testing.TB, addr string, from, want replstore.NodeID) net.Conn {
	t.Helper()
	c := rawDial(t, addr)
	_, err := c.Write(helloFrame("test", from, want))
	require.NoError(t, err)
	require.True(t, readAnswer(t, c).Accepted)
	return c
}

// Bad bytes on one connection close that connection, with an event; the
// transport keeps serving a good peer.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	ln1, ln2 := listen(t), listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String(), "n3": freeAddr(t)}
	n1 := start(t, fastConfig("n1", ln1, peers))
	n2 := start(t, fastConfig("n2", ln2, peers))

	good, _ := wire.AppendMessageFrame(nil, &replstore.Message{Kind: replstore.MsgAppend, From: "n3", To: "n1", Epoch: 1})
	forged, _ := wire.AppendMessageFrame(nil, &replstore.Message{Kind: replstore.MsgAppend, From: "n2", To: "n1", Epoch: 1})
	oversized := wire.AppendHeader(nil, wire.FrameMessage, wire.DefaultMaxFrame+1)
	badPayload := wire.AppendFrame(nil, wire.FrameMessage, []byte{byte(replstore.MsgAppend), 0x10, 0xff, 0xff, 0xff, 0x0f})
	cases := []struct {
		name      string
		handshake bool
		send      []byte
		halfClose bool // close our write side after send
		want      string
	}{
		{"garbage instead of hello", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, "bad magic"},
		{"garbage", true, []byte("\x00\x01garbage garbage garbage"), false, "bad magic"},
		{"truncated frame", true, good[:len(good)-3], true, "unexpected EOF"},
		{"oversized frame", true, oversized, false, "frame too large"},
		{"undecodable payload", true, badPayload, false, "malformed"},
		{"From does not match the handshake", true, forged, false, `from "n2" on "n3"'s connection`},
		{"a second hello", true, helloFrame("test", "n3", "n1"), false, "unexpected hello frame"},
	}
	fromN2, fromN3 := 0, 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := n1.events.count(func(e Event) bool { return e.Kind == EventBadInput })
			var c net.Conn
			if tc.handshake {
				c = handshake(t, n1.addr, "n3", "n1")
				_, err := c.Write(good) // a valid message first: it is delivered
				require.NoError(t, err)
				fromN3++
				n1.inbox.wait(t, "n3's valid message", func(ms []replstore.Message) bool { return fromCount(ms, "n3") == fromN3 })
			} else {
				c = rawDial(t, n1.addr)
			}
			_, err := c.Write(tc.send)
			require.NoError(t, err)
			if tc.halfClose {
				require.NoError(t, c.(*net.TCPConn).CloseWrite())
			}
			requireClosed(t, c)
			es := n1.events.wait(t, "a bad-input event", func(es []Event) bool { return countEvents(es, EventBadInput) > before })
			var e Event
			for _, x := range es {
				if x.Kind == EventBadInput {
					e = x
				}
			}
			require.ErrorContains(t, e.Err, tc.want)

			// The good peer still gets through.
			fromN2++
			n2.Send(appendMsg("n2", "n1", uint64(fromN2)))
			n1.inbox.wait(t, "n2's message", func(ms []replstore.Message) bool { return fromCount(ms, "n2") == fromN2 })
		})
	}
	require.Equal(t, uint64(0), n1.Stats().Dropped.Total())
}

// stalledPeer accepts connections, passes the handshake as id, and then
// never reads: its socket buffers fill and the sender's writes block.
type stalledPeer struct {
	addr string
	ln   net.Listener
	mu   sync.Mutex
	cs   []net.Conn
	wg   sync.WaitGroup
}

func newStalledPeer(t testing.TB, id replstore.NodeID) *stalledPeer {
	s := &stalledPeer{ln: listen(t)}
	s.addr = s.ln.Addr().String()
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.cs = append(s.cs, c)
			s.mu.Unlock()
			// Small buffers: the sender blocks sooner.
			c.(*net.TCPConn).SetReadBuffer(4096)
			br := bufio.NewReader(c)
			if _, _, err := wire.ReadFrame(br, 0, nil); err != nil {
				continue
			}
			ans := wire.HelloAnswer{Accepted: true, Version: wire.Version, From: id}
			c.Write(wire.AppendFrame(nil, wire.FrameHelloAnswer, wire.AppendHelloAnswer(nil, &ans)))
		}
	})
	t.Cleanup(func() {
		s.ln.Close()
		s.mu.Lock()
		for _, c := range s.cs {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// A connection that passed the handshake and then goes silent (a peer
// that vanished without a FIN) is closed after IdleTimeout, while an idle
// but healthy connection survives it: its sender pings.
func TestIdleConnectionClosed(t *testing.T) {
	ln1, ln2 := listen(t), listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String(), "n3": freeAddr(t)}
	cfg1, cfg2 := fastConfig("n1", ln1, peers), fastConfig("n2", ln2, peers)
	cfg1.IdleTimeout, cfg2.IdleTimeout = time.Second, time.Second // pings every 250 ms: a healthy connection survives a loaded machine
	n1, n2 := start(t, cfg1), start(t, cfg2)
	n2.Send(appendMsg("n2", "n1", 1))
	n1.inbox.wait(t, "n2's message", func(ms []replstore.Message) bool { return len(ms) == 1 })

	// Two silent connections one after the other: by the time the second
	// is closed, n2's connections have carried no message for longer
	// than IdleTimeout.
	began := time.Now()
	for round := 1; round <= 2; round++ {
		silent := handshake(t, n1.addr, "n3", "n1")
		e := n1.events.wait(t, "the silent connection closed", func(es []Event) bool {
			return countPeerEvents(es, EventDisconnected, "n3") == round
		})
		i := slices.IndexFunc(e, func(e Event) bool { return e.Kind == EventDisconnected && e.Peer == "n3" })
		require.ErrorContains(t, e[i].Err, "nothing received for")
		requireClosed(t, silent)
	}
	require.GreaterOrEqual(t, time.Since(began), 2*3*cfg1.IdleTimeout/4)

	// n2's connection was idle as long, and is still up.
	require.Zero(t, n1.events.count(func(e Event) bool { return e.Kind == EventDisconnected && e.Peer == "n2" }))
	require.Zero(t, n2.events.count(func(e Event) bool { return e.Kind == EventDisconnected }))
	n2.Send(appendMsg("n2", "n1", 2))
	n1.inbox.wait(t, "n2's second message", func(ms []replstore.Message) bool { return len(ms) == 2 })
}

func countPeerEvents(es []Event, kind EventKind, peer replstore.NodeID) int {
	n := 0
	for _, e := range es {
		if e.Kind == kind && e.Peer == peer {
			n++
		}
	}
	return n
}

// A peer's new connection replaces its old one (left half-open by a
// restart, say): the old one is closed.
func TestNewConnectionReplacesOld(t *testing.T) {
	ln1 := listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": freeAddr(t)}
	n1 := start(t, fastConfig("n1", ln1, peers))
	old := handshake(t, n1.addr, "n2", "n1")
	waitEvent(t, n1.events, EventAccepted, "n2")
	fresh := handshake(t, n1.addr, "n2", "n1")
	requireClosed(t, old)
	m, err := wire.AppendMessageFrame(nil, &replstore.Message{Kind: replstore.MsgAppend, From: "n2", To: "n1", Epoch: 1})
	require.NoError(t, err)
	_, err = fresh.Write(m)
	require.NoError(t, err)
	n1.inbox.wait(t, "a message on the new connection", func(ms []replstore.Message) bool { return len(ms) == 1 })
}
