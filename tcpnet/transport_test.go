package tcpnet

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/stretchr/testify/require"
)

// Three nodes send each other numbered messages; each link delivers all
// of them, in order.
func TestThreeNodesPerLinkOrder(t *testing.T) {
	const perLink = 2000
	nodes := startCluster(t, "n1", "n2", "n3")
	for _, from := range nodes {
		for _, to := range nodes {
			if from != to {
				go func() {
					for seq := uint64(1); seq <= perLink; seq++ {
						from.Send(appendMsg(from.id, to.id, seq))
					}
				}()
			}
		}
	}
	for _, to := range nodes {
		ms := to.inbox.wait(t, fmt.Sprintf("%d messages from each peer at %s", perLink, to.id), func(ms []replstore.Message) bool {
			return len(ms) == 2*perLink
		})
		next := map[replstore.NodeID]uint64{}
		for _, m := range ms {
			require.Equal(t, to.id, m.To)
			next[m.From]++
			require.Equal(t, next[m.From], m.ReadSeq, "message from %s to %s out of order", m.From, to.id)
			require.Len(t, m.Entries, 1)
			require.Len(t, m.Entries[0].Data, 64)
		}
	}
	for _, n := range nodes {
		s := n.Stats()
		require.Equal(t, uint64(2*perLink), s.Delivered, "%s", n.id)
		require.Zero(t, s.Dropped.Total(), "%s: %+v", n.id, s.Dropped)
		require.Equal(t, uint64(2*perLink), s.Sent, "%s", n.id)
	}
}

func TestSendToSelfDelivers(t *testing.T) {
	n := startCluster(t, "n1")[0]
	n.Send(appendMsg("n1", "n1", 1))
	n.inbox.wait(t, "the message to self", func(ms []replstore.Message) bool { return len(ms) == 1 })
}

// A peer that goes away and comes back on the same address is dialed
// again; messages queued meanwhile arrive, and both directions flow.
func TestPeerRestartReconnects(t *testing.T) {
	ln1, ln2 := listen(t), listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String()}
	n1 := start(t, fastConfig("n1", ln1, peers))
	n2 := start(t, fastConfig("n2", ln2, peers))

	n1.Send(appendMsg("n1", "n2", 1))
	n2.inbox.wait(t, "first message", func(ms []replstore.Message) bool { return len(ms) == 1 })

	require.NoError(t, n2.Close())
	// Wait until n1's sending side noticed, so that the next message is
	// queued rather than written to the dead connection (and lost, as a
	// network may).
	n1.events.wait(t, "n1's connection to n2 lost", func(es []Event) bool {
		return slices.ContainsFunc(es, func(e Event) bool { return e.Kind == EventDisconnected && !e.Inbound })
	})
	n1.Send(appendMsg("n1", "n2", 2)) // queued while n2 is down

	ln2b, err := net.Listen("tcp", peers["n2"])
	require.NoError(t, err)
	n2b := start(t, fastConfig("n2", ln2b, peers))
	ms := n2b.inbox.wait(t, "the message queued while n2 was down", func(ms []replstore.Message) bool { return len(ms) >= 1 })
	require.Equal(t, uint64(2), ms[0].ReadSeq)
	n1.Send(appendMsg("n1", "n2", 3))
	n2b.inbox.wait(t, "a message after the restart", func(ms []replstore.Message) bool { return len(ms) == 2 })
	n2b.Send(appendMsg("n2", "n1", 1))
	n1.inbox.wait(t, "a message from the restarted n2", func(ms []replstore.Message) bool { return len(ms) == 1 })
	require.GreaterOrEqual(t, n1.events.count(func(e Event) bool { return e.Kind == EventConnected }), 2)
}

// A dialer from another cluster, or one the acceptor does not know, is
// refused on both sides, and nothing it sends is delivered.
func TestHandshakeRefusals(t *testing.T) {
	cases := []struct {
		name    string
		cluster string
		self    replstore.NodeID
		reason  string
	}{
		{"wrong cluster", "other", "n2", `cluster ID "other" does not match`},
		{"unknown node", "test", "intruder", `unknown node "intruder"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln1, ln2 := listen(t), listen(t)
			var logs syncBuffer
			cfg1 := fastConfig("n1", ln1, map[replstore.NodeID]string{"n2": freeAddr(t)})
			cfg1.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			n1 := start(t, cfg1)
			cfg := fastConfig(tc.self, ln2, map[replstore.NodeID]string{"n1": ln1.Addr().String()})
			cfg.ClusterID = tc.cluster
			bad := start(t, cfg)
			for i := range 10 {
				bad.Send(appendMsg(tc.self, "n1", uint64(i)))
			}
			e := waitEvent(t, n1.events, EventRefused, tc.self)
			require.Contains(t, e.Reason, tc.reason)
			e = waitEvent(t, bad.events, EventRefusedByPeer, "n1")
			require.Contains(t, e.Reason, tc.reason)
			// It redials and is refused again: the first connection is over.
			n1.events.wait(t, "a second refusal", func(es []Event) bool { return countEvents(es, EventRefused) >= 2 })
			items, _ := n1.inbox.snapshot()
			require.Empty(t, items)
			require.Zero(t, n1.Stats().Delivered)
			require.Zero(t, n1.events.count(func(e Event) bool { return e.Kind == EventAccepted }))
			require.Contains(t, logs.String(), `msg="tcpnet: refused connection" node=n1 claimed_peer=`+string(tc.self))
		})
	}
}

// A Hello of another protocol version, or for another node, is refused
// with an answer that says why.
func TestHandshakeVersionAndWant(t *testing.T) {
	n1 := start(t, fastConfig("n1", listen(t), map[replstore.NodeID]string{"n2": freeAddr(t)}))
	t.Run("version", func(t *testing.T) {
		c := rawDial(t, n1.addr)
		hello := helloFrame("test", "n2", "n1")
		hello[2] = 99 // the frame header's version
		_, err := c.Write(hello)
		require.NoError(t, err)
		ans := readAnswer(t, c)
		require.False(t, ans.Accepted)
		require.Contains(t, ans.Reason, "unsupported protocol version")
		requireClosed(t, c)
	})
	t.Run("want", func(t *testing.T) {
		c := rawDial(t, n1.addr)
		_, err := c.Write(helloFrame("test", "n2", "n7"))
		require.NoError(t, err)
		ans := readAnswer(t, c)
		require.False(t, ans.Accepted)
		require.Contains(t, ans.Reason, `this node is "n1", not "n7"`)
		requireClosed(t, c)
	})
	require.Equal(t, 2, n1.events.count(func(e Event) bool { return e.Kind == EventRefused }))
}

// Send returns at once while the peer does not read: the queue fills and
// messages are dropped and counted.
func TestFullQueueDropsInsteadOfBlocking(t *testing.T) {
	stalled := newStalledPeer(t, "n2")
	cfg := fastConfig("n1", listen(t), map[replstore.NodeID]string{"n2": stalled.addr})
	cfg.QueueLen = 64
	n1 := start(t, cfg)
	waitEvent(t, n1.events, EventConnected, "n2")

	big := appendMsg("n1", "n2", 0)
	big.Entries[0].Data = make([]byte, 256<<10)
	const sends = 2000 // 500 MiB: far beyond any socket buffer
	var slowest time.Duration
	begin := time.Now()
	for i := range sends {
		big.ReadSeq = uint64(i)
		t0 := time.Now()
		n1.Send(big)
		slowest = max(slowest, time.Since(t0))
	}
	elapsed := time.Since(begin)
	s := n1.Stats()
	t.Logf("%d sends in %v (slowest %v); stats %+v", sends, elapsed, slowest, s.Dropped)
	require.Less(t, slowest, 100*time.Millisecond, "a Send blocked")
	require.Greater(t, s.Dropped.QueueFull, uint64(sends/2))
	require.Equal(t, s.Dropped.QueueFull, s.Peers["n2"].QueueFull)
	e := waitEvent(t, n1.events, EventDropping, "n2")
	require.Equal(t, "queue full", e.Reason)

	n1.Send(appendMsg("n1", "nobody", 1))
	n1.Send(appendMsg("n1", "nobody", 2))
	require.Equal(t, uint64(2), n1.Stats().Dropped.UnknownPeer)
	require.Equal(t, 1, n1.events.count(func(e Event) bool { return e.Kind == EventDropping })-1, "unknown peer reported once")
}

// Snapshot chunks queued in bulk do not hold back ordinary messages: the
// queue is drained ordinary first, one chunk per SnapshotRatio messages.
func TestSnapshotChunksDoNotDelayHeartbeats(t *testing.T) {
	addr2 := freeAddr(t)
	ln1 := listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": addr2}
	cfg := fastConfig("n1", ln1, peers)
	cfg.SnapshotRatio = 4
	n1 := start(t, cfg)
	waitEvent(t, n1.events, EventDialFailed, "n2") // n2 is not there yet: everything below queues

	chunk := replstore.Message{Kind: replstore.MsgSnapshot, From: "n1", To: "n2", Epoch: 1,
		Snapshot: &replstore.SnapshotChunk{Total: 16 << 20, Data: make([]byte, 256<<10)}}
	for i := range 16 {
		chunk.Snapshot.Offset = int64(i) << 18
		n1.Send(chunk)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		n1.Send(appendMsg("n1", "n2", seq)) // heartbeats and appends behind 4 MiB of chunks
	}

	ln2, err := net.Listen("tcp", addr2)
	require.NoError(t, err)
	n2 := start(t, fastConfig("n2", ln2, peers))
	ms := n2.inbox.wait(t, "every message", func(ms []replstore.Message) bool { return len(ms) == 26 })
	var order strings.Builder
	for _, m := range ms {
		order.WriteString(map[replstore.MsgKind]string{replstore.MsgAppend: "a", replstore.MsgSnapshot: "S"}[m.Kind])
	}
	require.Equal(t, "aaaaSaaaaSaaSSSSSSSSSSSSSS", order.String(),
		"ordinary messages first, a chunk after every SnapshotRatio of them")
	require.Zero(t, n1.Stats().Dropped.Total())
}

func TestSendAfterCloseDrops(t *testing.T) {
	nodes := startCluster(t, "n1", "n2")
	require.NoError(t, nodes[0].Close())
	require.NoError(t, nodes[0].Close(), "Close twice")
	nodes[0].Send(appendMsg("n1", "n2", 1))
	require.Equal(t, uint64(1), nodes[0].Stats().Dropped.Closed)
}

func TestRegisterOnlySelf(t *testing.T) {
	n := startCluster(t, "n1")[0]
	n.Register("n2", func(replstore.Message) { t.Error("called") })
	n.Unregister("n1")
	n.Send(appendMsg("n1", "n1", 1))
	require.Equal(t, uint64(1), n.Stats().Dropped.NoHandler)
}

func TestConfigValidate(t *testing.T) {
	good := Config{ClusterID: "c", Self: "n1", Listen: "127.0.0.1:0", Peers: map[replstore.NodeID]string{"n2": "127.0.0.1:7000", "n1": "x"}}
	require.NoError(t, good.Validate())
	cases := []struct {
		field string
		edit  func(*Config)
	}{
		{"ClusterID", func(c *Config) { c.ClusterID = "" }},
		{"Self", func(c *Config) { c.Self = "" }},
		{"Listen", func(c *Config) { c.Listen = "" }},
		{`Peers["n2"]`, func(c *Config) { c.Peers = map[replstore.NodeID]string{"n2": "nohostport"} }},
		{"Peers has an empty node ID", func(c *Config) { c.Peers = map[replstore.NodeID]string{"": "a:1"} }},
		{"QueueLen", func(c *Config) { c.QueueLen = -1 }},
		{"SnapshotQueueLen", func(c *Config) { c.SnapshotQueueLen = -1 }},
		{"SnapshotRatio", func(c *Config) { c.SnapshotRatio = -1 }},
		{"MaxFrameBytes", func(c *Config) { c.MaxFrameBytes = 10 }},
		{"MaxBatchBytes", func(c *Config) { c.MaxBatchBytes = -1 }},
		{"DialTimeout", func(c *Config) { c.DialTimeout = -1 }},
		{"IdleTimeout", func(c *Config) { c.IdleTimeout = -1 }},
		{"BackoffMin", func(c *Config) { c.BackoffMin = -1 }},
		{"BackoffMax", func(c *Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }},
	}
	for _, tc := range cases {
		c := good
		tc.edit(&c)
		err := c.Validate()
		require.ErrorContains(t, err, tc.field)
		_, err = New(c)
		require.ErrorContains(t, err, tc.field)
	}
}

// Close while senders are busy and connections are mid-batch: Close
// returns, every goroutine is gone (goleak, in TestMain), and the
// counts add up: every Send is sent or dropped.
func TestCloseWhileBusy(t *testing.T) {
	nodes := startCluster(t, "n1", "n2", "n3")
	stop := make(chan struct{})
	sends := make([]int, len(nodes))
	done := make(chan int)
	for i, from := range nodes {
		go func() {
			n := 0
			defer func() { done <- i }()
			for seq := uint64(1); ; seq++ {
				select {
				case <-stop:
					sends[i] = n
					return
				default:
				}
				for _, to := range nodes {
					if to != from {
						from.Send(appendMsg(from.id, to.id, seq))
						n++
					}
				}
			}
		}()
	}
	nodes[2].inbox.wait(t, "traffic", func(ms []replstore.Message) bool { return len(ms) > 1000 })
	for _, n := range nodes {
		require.NoError(t, n.Close())
	}
	close(stop)
	for range nodes {
		<-done
	}
	for i, n := range nodes {
		s := n.Stats()
		queued := 0
		for _, p := range s.Peers {
			queued += p.Queued + p.QueuedSnapshots
			require.False(t, p.Connected)
		}
		require.Equal(t, uint64(sends[i]), s.Sent+s.Dropped.Total()-s.Dropped.NoHandler-s.Dropped.Misaddressed+uint64(queued),
			"%s: %d sends, stats %+v, %d still queued", n.id, sends[i], s, queued)
	}
}

// Messages that arrive while no handler is registered are dropped and
// counted; a new Register gets the next ones.
func TestUnregisteredDrops(t *testing.T) {
	nodes := startCluster(t, "n1", "n2")
	n1, n2 := nodes[0], nodes[1]
	n2.Unregister("n2")
	n1.Send(appendMsg("n1", "n2", 1))
	e := waitEvent(t, n2.events, EventDropping, "n1")
	require.Equal(t, "no handler", e.Reason)
	require.Equal(t, uint64(1), n2.Stats().Dropped.NoHandler)
	got := make(chan replstore.Message, 1)
	deadline := time.After(waitFor)
	n2.Register("n2", func(m replstore.Message) { got <- m })
	n1.Send(appendMsg("n1", "n2", 2))
	select {
	case m := <-got:
		require.Equal(t, uint64(2), m.ReadSeq)
	case <-deadline:
		t.Fatal("the message after Register did not arrive")
	}
}

// A message over MaxFrameBytes is dropped by the sender (the receiver
// would close the connection over it); the link goes on.
func TestTooLargeDroppedBySender(t *testing.T) {
	ln1, ln2 := listen(t), listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String()}
	cfg1 := fastConfig("n1", ln1, peers)
	cfg1.MaxFrameBytes = 4096
	n1, n2 := start(t, cfg1), start(t, fastConfig("n2", ln2, peers))
	big := appendMsg("n1", "n2", 1)
	big.Entries[0].Data = make([]byte, 8192)
	n1.Send(big)
	n1.Send(appendMsg("n1", "n2", 2))
	ms := n2.inbox.wait(t, "the small message", func(ms []replstore.Message) bool { return len(ms) == 1 })
	require.Equal(t, uint64(2), ms[0].ReadSeq)
	require.Equal(t, uint64(1), n1.Stats().Dropped.TooLarge)
	require.Zero(t, n1.events.count(func(e Event) bool { return e.Kind == EventDisconnected }))
}

// countingConn counts Write calls: system calls, for a TCP connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// Messages queued together go out in one write, not one per message.
func TestBatchesAreOneWrite(t *testing.T) {
	addr2 := freeAddr(t)
	ln1 := listen(t)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": addr2}
	var writes atomic.Int64
	cfg := fastConfig("n1", ln1, peers)
	cfg.wrapConn = func(c net.Conn) net.Conn { return countingConn{c, &writes} }
	cfg.IdleTimeout = time.Minute // no ping among the writes counted
	n1 := start(t, cfg)
	waitEvent(t, n1.events, EventDialFailed, "n2") // n2 is not there yet: everything below queues
	const queued = 1000                            // about 110 KB: less than one MaxBatchBytes
	for seq := uint64(1); seq <= queued; seq++ {
		n1.Send(appendMsg("n1", "n2", seq))
	}
	ln2, err := net.Listen("tcp", addr2)
	require.NoError(t, err)
	n2 := start(t, fastConfig("n2", ln2, peers))
	n2.inbox.wait(t, "every message", func(ms []replstore.Message) bool { return len(ms) == queued })
	require.Equal(t, int64(1), writes.Load(), "%d messages queued before the connection went out in %d writes", queued, writes.Load())
}
