package tcpnet

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wire"
	"github.com/stretchr/testify/require"
)

// smallFrames is a two-node cluster's configuration (n1 leads, n2 is
// its sync follower) whose input limits and snapshot chunks fit frames
// of 4096 bytes.
func smallFrames() replstore.Config {
	cfg := replstore.DefaultConfig()
	cfg.AsyncFollowers = nil
	cfg.ManualFailover = true
	cfg.TickInterval = 5 * time.Millisecond
	cfg.MaxKeyBytes = 64
	cfg.MaxValueBytes = 1024
	cfg.SnapshotChunkBytes = 1024
	return cfg
}

// startNode starts node id of cfg on a tcpnet Transport with frames of
// at most maxFrame bytes; both are closed when the test ends.
func startNode(t *testing.T, cfg replstore.Config, id replstore.NodeID, ln net.Listener, peers map[replstore.NodeID]string, maxFrame int, queueLen int) (*replstore.Node, *Transport, error) {
	t.Helper()
	tcfg := fastConfig(id, ln, peers)
	tcfg.MaxFrameBytes, tcfg.QueueLen = maxFrame, queueLen
	tr, err := New(tcfg)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	nd, err := replstore.NewNode(cfg, id, tr)
	if err == nil {
		t.Cleanup(func() { nd.Close() })
	}
	return nd, tr, err
}

func twoPeers(t *testing.T) (net.Listener, net.Listener, map[replstore.NodeID]string) {
	ln1, ln2 := listen(t), listen(t)
	return ln1, ln2, map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String()}
}

// A Config whose largest value cannot fit the transport's frames is
// refused by NewNode, saying both limits, instead of stalling
// replication on the first large write (its append would be dropped and
// resent forever).
func TestNewNodeRefusesValuesOverFrameLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*replstore.Config)
	}{
		{"default MaxValueBytes", func(c *replstore.Config) { *c = replstore.DefaultConfig(); c.ManualFailover = true }},
		{"MaxValueBytes", func(c *replstore.Config) { c.MaxValueBytes = 4096 }},
		{"MaxKeyBytes", func(c *replstore.Config) { c.MaxKeyBytes = 4096 }},
		{"SnapshotChunkBytes", func(c *replstore.Config) { c.SnapshotChunkBytes = 4096 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallFrames()
			tc.edit(&cfg)
			ln1, _, peers := twoPeers(t)
			_, _, err := startNode(t, cfg, "n1", ln1, peers, 4096, 0)
			require.ErrorIs(t, err, replstore.ErrInvalidConfig)
			for _, says := range []string{tc.name[strings.LastIndex(tc.name, " ")+1:], "MaxMessageBytes", "frame"} {
				require.Contains(t, err.Error(), says)
			}
		})
	}
}

// A follower that missed many small writes catches up over frames far
// smaller than the batch it lacks: the leader fills each append with
// only as many entries as fit.
func TestCatchUpBatchesFitFrameLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cfg := smallFrames()
	cfg.AckLevel = replstore.Local // the leader commits alone while n2 is away
	ln1, ln2, peers := twoPeers(t)
	// n1 keeps only a few messages for n2 while n2 is away: it will have
	// to resend the rest from n2's answer, in batches.
	n1, tr1, err := startNode(t, cfg, "n1", ln1, peers, 4096, 1)
	require.NoError(t, err)
	var last replstore.Position
	for i := range 300 { // 300 entries of 100 bytes: about 40 KB
		last, err = n1.Put(ctx, fmt.Sprintf("k%03d", i), []byte(strings.Repeat("v", 100)))
		require.NoError(t, err)
	}
	n2, _, err := startNode(t, cfg, "n2", ln2, peers, 4096, 0)
	require.NoError(t, err)
	require.NoError(t, n2.WaitApplied(ctx, last.LSN))
	require.Zero(t, tr1.Stats().Dropped.TooLarge, "the leader sent no append its transport refused")
}

// MaxMessageBytes is a safe bound: a message of each kind that carries
// data, with that much data and every other field at its longest, fits
// MaxFrameBytes; so does an append of several entries whose Data plus
// AppendEntryOverhead per entry after the first add up to it.
func TestMaxMessageBytesBound(t *testing.T) {
	const big = ^uint64(0)
	pos := replstore.Position{Epoch: replstore.Epoch(big), LSN: replstore.LSN(big)}
	entry := func(n int) replstore.Entry {
		return replstore.Entry{Pos: pos, Kind: 255, Time: -1 << 63, Data: make([]byte, n)}
	}
	for _, tc := range []struct {
		frame int
		ids   []replstore.NodeID
	}{
		{1024, []replstore.NodeID{"n1", "n2"}},
		{4096, []replstore.NodeID{"n1", "n2", "n3", replstore.CoordinatorID}},
		{4096, []replstore.NodeID{"a", replstore.NodeID(strings.Repeat("x", 200)), "c", "d", "e"}},
		{1 << 20, []replstore.NodeID{"n1", "n2", "n3"}},
	} {
		peers := map[replstore.NodeID]string{}
		for _, id := range tc.ids {
			peers[id] = "127.0.0.1:1"
		}
		tr := &Transport{cfg: Config{Self: tc.ids[0], Peers: peers, MaxFrameBytes: tc.frame}}
		limit := tr.MaxMessageBytes()
		require.Positive(t, limit, "frames of %d bytes, nodes %v", tc.frame, tc.ids)
		var long replstore.NodeID // the longest ID
		for _, id := range tc.ids {
			if len(id) > len(long) {
				long = id
			}
		}
		replicas := make([]replstore.ReplicaState, len(tc.ids))
		for i := range replicas {
			replicas[i] = replstore.ReplicaState{ID: long, Leader: true, Epoch: pos.Epoch, Applied: pos, LagEntries: big,
				LagTime: -1 << 63, Down: true, CaughtUp: true}
		}
		appendMsg := func(ents ...replstore.Entry) replstore.Message {
			return replstore.Message{Kind: replstore.MsgAppend, From: long, To: long, Epoch: pos.Epoch, Prev: pos, Entries: ents,
				Commit: pos.LSN, Time: -1 << 63, WantAck: true, ReadSeq: big, Replicas: replicas, MemberVersion: big, Incarnation: big}
		}
		batch := []replstore.Entry{entry(limit - 3*(replstore.AppendEntryOverhead+1))}
		for range 3 {
			batch = append(batch, entry(1))
		}
		var smallest []replstore.Entry // Data of 0 bytes: the overhead alone
		for range limit/replstore.AppendEntryOverhead + 1 {
			smallest = append(smallest, entry(0))
		}
		for name, m := range map[string]replstore.Message{
			"one entry": appendMsg(entry(limit)),
			"batch":     appendMsg(batch...),
			"smallest":  appendMsg(smallest...),
			"forward": {Kind: replstore.MsgForward, From: long, To: long, Epoch: pos.Epoch, Time: -1 << 63, ReqID: big,
				Data: make([]byte, limit)},
			"snapshot": {Kind: replstore.MsgSnapshot, From: long, To: long, Epoch: pos.Epoch, Time: -1 << 63, MemberVersion: big,
				Incarnation: big, Snapshot: &replstore.SnapshotChunk{Pos: pos, Offset: -1 << 63, Total: -1 << 63, Data: make([]byte, limit), Reseed: true}},
		} {
			payload, err := wire.AppendMessage(nil, &m)
			require.NoError(t, err)
			require.LessOrEqual(t, len(payload), tc.frame, "%s: frames of %d bytes, nodes %v, MaxMessageBytes %d", name, tc.frame, tc.ids, limit)
		}
	}
}

// A write of exactly the largest command the Config allows, with
// MaxValueBytes and MaxKeyBytes at what the transport's MaxMessageBytes
// permits, replicates over frames of 4096 bytes, through the leader and
// forwarded by the follower; one byte more of MaxValueBytes is refused.
func TestLargestWriteReplicatesAtFrameLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ln1, ln2, peers := twoPeers(t)
	limit := (&Transport{cfg: Config{Self: "n1", Peers: peers, MaxFrameBytes: 4096}}).MaxMessageBytes()
	cfg := smallFrames()
	cfg.MaxValueBytes = limit - cfg.MaxKeyBytes - 32 // the largest command: a whole message
	n1, tr1, err := startNode(t, cfg, "n1", ln1, peers, 4096, 0)
	require.NoError(t, err)
	require.Equal(t, limit, tr1.MaxMessageBytes())
	n2, tr2, err := startNode(t, cfg, "n2", ln2, peers, 4096, 0)
	require.NoError(t, err)

	key := strings.Repeat("k", cfg.MaxKeyBytes)
	value := []byte(strings.Repeat("v", cfg.MaxValueBytes))
	pos, err := n1.Put(ctx, key, value)
	require.NoError(t, err)
	// A raw command of exactly the limit: a Put whose value is longer than
	// MaxValueBytes, which checks only the command's size.
	cmd := replstore.AppendPut(nil, key+"2", append(value, strings.Repeat("w", limit-replstore.PutSize(key+"2", value))...))
	require.Len(t, cmd, limit)
	pos2, err := n2.Write(ctx, cmd) // forwarded to n1, then appended to n2
	require.NoError(t, err)
	require.Greater(t, pos2.LSN, pos.LSN)
	require.NoError(t, n2.WaitApplied(ctx, pos2.LSN))
	rec, found, _, err := n2.Get(ctx, key, replstore.Via(replstore.AnyFollower{}))
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, value, rec.Value)
	require.Zero(t, tr1.Stats().Dropped.TooLarge+tr2.Stats().Dropped.TooLarge)

	cfg.MaxValueBytes++
	_, _, err = startNode(t, cfg, "n1", listen(t), peers, 4096, 0)
	require.ErrorIs(t, err, replstore.ErrInvalidConfig)
}

// NewNode refuses a transport made for another node: tcpnet would ignore
// the node's Register, and the node would hear nothing and wait for a
// leader forever.
func TestNewNodeRefusesAnotherNodesTransport(t *testing.T) {
	ln1, _, peers := twoPeers(t)
	tr, err := New(fastConfig("n1", ln1, peers))
	require.NoError(t, err)
	defer tr.Close()
	nd, err := replstore.NewNode(smallFrames(), "n2", tr)
	if err == nil {
		nd.Close()
	}
	require.ErrorIs(t, err, replstore.ErrInvalidConfig)
	require.ErrorContains(t, err, "serves node n1")
}

// A remote read whose result is larger than one message carries is
// answered with ErrValueTooLarge at once; the answer used to be dropped
// by the transport and the reader waited until its context ended.
func TestRemoteReadOverFrameLimitFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ln1, ln2, peers := twoPeers(t)
	cfg := smallFrames()
	n1, tr1, err := startNode(t, cfg, "n1", ln1, peers, 4096, 0)
	require.NoError(t, err)
	n2, _, err := startNode(t, cfg, "n2", ln2, peers, 4096, 0)
	require.NoError(t, err)
	keys := make([]string, 8)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
		_, err := n1.Put(ctx, keys[i], []byte(strings.Repeat("v", cfg.MaxValueBytes)))
		require.NoError(t, err)
	}
	// n2 is a follower: a Leader read goes to n1, whose answer (8 KiB) is
	// over the 4 KiB frames.
	_, _, err = n2.GetMany(ctx, keys, replstore.Via(replstore.Leader{}))
	require.ErrorIs(t, err, replstore.ErrValueTooLarge)
	require.ErrorContains(t, err, "MaxMessageBytes")
	require.NoError(t, ctx.Err(), "answered, not timed out")
	recs, _, err := n2.GetMany(ctx, keys[:2], replstore.Via(replstore.Leader{}))
	require.NoError(t, err, "a read that fits is served")
	require.Len(t, recs, 2)
	require.Zero(t, tr1.Stats().Dropped.TooLarge)
}

// A typed nil Transport is refused like a nil one (it used to panic in
// Register).
func TestNewNodeRefusesTypedNilTransport(t *testing.T) {
	var tr *Transport
	nd, err := replstore.NewNode(smallFrames(), "n1", tr)
	if err == nil {
		nd.Close()
	}
	require.ErrorIs(t, err, replstore.ErrInvalidConfig)
	require.ErrorContains(t, err, "nil Transport")
}
