package replstore

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// A sync follower that comes back EMPTY (its process restarted with
// storage in memory, or its disk lost) under the same leader is
// repaired: it starts with a new StorageIncarnation, the leader resets
// its progress instead of crediting it with the entries its old
// incarnation acknowledged, and streams the log again. Before storage
// incarnations the leader kept resending from past the follower's end
// and writes blocked for good (README's old "Known bug").
func TestNodeRestartedEmptyUnderSameLeaderIsRepaired(t *testing.T) {
	ctx := testCtx(t)
	var cfg Config
	nodes, net := newTestNodes(t, func(c *Config) { cfg = *c })
	var last Position
	for i := range 20 {
		pos, err := nodes["n1"].Put(ctx, fmt.Sprint("before/", i), []byte("v"))
		require.NoError(t, err)
		last = pos
	}
	require.NoError(t, nodes["n2"].WaitApplied(ctx, last.LSN))
	require.NoError(t, nodes["n2"].Close())
	n2, err := NewNode(cfg, "n2", net) // fresh in-memory storage: an empty node
	require.NoError(t, err)
	nodes["n2"] = n2
	// The sync follower must hold a write before it is acknowledged: it
	// can only if the leader repairs it from LSN 1.
	for i := range 5 {
		pos, err := nodes["n3"].Put(ctx, fmt.Sprint("after/", i), []byte("w"))
		require.NoError(t, err, "write %d after n2 came back empty", i)
		last = pos
	}
	require.NoError(t, n2.WaitApplied(ctx, last.LSN))
	for _, k := range []string{"before/0", "before/19", "after/4"} {
		rec, found, sv, err := n2.Get(ctx, k, Via(atNode("n2")))
		require.NoError(t, err)
		require.True(t, found, "the repaired n2 holds %s", k)
		require.Equal(t, NodeID("n2"), sv.Node)
		require.NotEmpty(t, rec.Value)
	}
	st, err := nodes["n1"].Stats(ctx)
	require.NoError(t, err)
	for _, f := range st.Followers {
		if f.ID == "n2" {
			require.GreaterOrEqual(t, f.Durable, last.LSN, "the leader's view of n2")
		}
	}
}

// A crash after an installed snapshot was stored and before the log was
// reset to it leaves the new snapshot and the old log; the node finishes
// the install when it starts (its log continues from the snapshot, its
// state is the snapshot's), never the new snapshot over the old log. A
// snapshot stored by a build before snapshots carried their history of
// epochs (the state alone) loads the same way.
func TestNodeFinishesInterruptedSnapshotInstall(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%t", legacy), func(t *testing.T) { testNodeFinishesInterruptedSnapshotInstall(t, legacy) })
	}
}

func testNodeFinishesInterruptedSnapshotInstall(t *testing.T, legacy bool) {
	ctx := testCtx(t)
	snapAt := Position{Epoch: 1, LSN: 5}
	st := NewStore()
	for l := LSN(1); l <= snapAt.LSN; l++ {
		require.NoError(t, st.Apply(Entry{Pos: Position{Epoch: 1, LSN: l}, Kind: EntryCommand, Data: AppendPut(nil, fmt.Sprint("k", l), []byte("v"))}))
	}
	var snap bytes.Buffer
	require.NoError(t, st.Snapshot(&snap))
	hard := NewMemHardState()
	require.NoError(t, hard.Save(HardState{Epoch: 1, StorageIncarnation: 7, Topology: Topology{Leader: "n1", Sync: []NodeID{"n2"}, Async: []NodeID{"n3"}}}))
	// As a node stores it: its history of epochs (epoch 1 from LSN 1),
	// then the state machine's snapshot; or, as builds before the
	// history did, the state alone.
	data := append(appendNodeSnapshotHeader(nil, epochStarts{{Epoch: 1, LSN: 1}}), snap.Bytes()...)
	if legacy {
		data = snap.Bytes()
	}
	require.NoError(t, hard.SaveSnapshot(snapAt, data))
	log := NewMemLog() // the old log: two entries, behind the snapshot
	require.NoError(t, log.Append([]Entry{{Pos: Position{Epoch: 1, LSN: 1}, Kind: EntryEpoch}, {Pos: Position{Epoch: 1, LSN: 2}, Kind: EntryCommand, Data: AppendPut(nil, "k1", []byte("old"))}}))
	cfg := DefaultConfig()
	cfg.ManualTicks, cfg.ManualFailover = true, true
	cfg.NewLogStore = func(NodeID) (LogStore, error) { return log, nil }
	cfg.NewHardState = func(NodeID) (HardStateStore, error) { return hard, nil }
	net := NewMemNet()
	defer net.Close()
	nd, err := NewNode(cfg, "n2", net)
	require.NoError(t, err)
	defer nd.Close()
	ns, err := nd.NodeStats(ctx)
	require.NoError(t, err)
	require.Equal(t, snapAt, ns.Last, "the log continues from the snapshot")
	require.Equal(t, snapAt.LSN, ns.Applied, "the state is the snapshot's")
	// Below the compaction point, the node answers from the history it
	// loaded with the snapshot: epoch 1 wrote LSN 3, epoch 2 did not. A
	// snapshot without the history knows no better than to take both.
	var heldOwn, heldOther bool
	n := nd.node.Load()
	require.NoError(t, n.do(ctx, func() {
		heldOwn, heldOther = n.core.holds(Position{Epoch: 1, LSN: 3}), n.core.holds(Position{Epoch: 2, LSN: 3})
	}))
	require.True(t, heldOwn)
	require.Equal(t, legacy, heldOther, "an entry of another epoch at a compacted LSN")
	hs, err := hard.Load()
	require.NoError(t, err)
	require.Equal(t, uint64(7), hs.StorageIncarnation, "finishing an install loses nothing: same incarnation")
}
