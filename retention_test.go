package replstore

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFollowerDownPastRetentionIsReseeded: while an async follower is
// down, the leader's log stays within its retention limit (it does not
// keep entries for a dead follower), and when the follower returns it is
// reseeded from a snapshot and then follows the log, ending with the
// leader's state.
func TestFollowerDownPastRetentionIsReseeded(t *testing.T) {
	cl, ev := newTestCluster(t, func(c *Config) { c.RetainEntries = 100 })
	ctx := testCtx(t)
	put := func(i int) Position {
		pos, err := cl.Put(ctx, fmt.Sprint("k", i%50), []byte(fmt.Sprint("v", i)))
		require.NoError(t, err)
		return pos
	}
	for i := 0; i < 20; i++ {
		put(i)
	}
	require.NoError(t, cl.Crash("n3"))
	for i := 20; i < 1000; i++ {
		put(i)
		if i%50 == 0 {
			ticks(t, cl, 1) // compaction runs on ticks
		}
	}
	ticks(t, cl, cl.Config().FollowerTimeoutTicks+1) // n3 is not live: it pins nothing
	// Snapshots are written off the node's goroutine: tick until the last
	// compaction has landed.
	var leaderLog []Entry
	for i := 0; ; i++ {
		leaderLog = nodeLog(t, cl, "n1")
		if len(leaderLog) <= 100+100/4+50 || i == 100 {
			break
		}
		ticks(t, cl, 1)
	}
	assert.LessOrEqual(t, len(leaderLog), 100+100/4+50, "the leader keeps entries for a dead follower")
	assert.Greater(t, leaderLog[0].Pos.LSN, LSN(20), "nothing was compacted")
	require.NotEmpty(t, ev.of(EventCompacted))

	require.NoError(t, cl.Restart("n3"))
	last := put(1000)
	ticks(t, cl, 2)
	require.NoError(t, cl.WaitApplied(ctx, "n3", last.LSN))
	requireSameState(t, cl, "n1", "n3")
	require.NotEmpty(t, ev.of(EventSnapshotSending))
	// Usually one install; two when a compaction the leader's background
	// snapshot job finished lands while the first is on its way (seen on
	// package wal's files: n3 installed 952, then 1001). Each is n3's.
	inst := ev.of(EventSnapshotInstalled)
	require.NotEmpty(t, inst)
	for i, e := range inst {
		assert.Equal(t, NodeID("n3"), e.Node)
		if i > 0 {
			assert.Greater(t, e.LSN, inst[i-1].LSN, "a later install goes back")
		}
	}

	// A node that restarts after compacting its own log rebuilds its state
	// from its snapshot plus its log.
	require.NoError(t, cl.Crash("n2"))
	require.NoError(t, cl.Restart("n2"))
	last = put(1001)
	ticks(t, cl, 1)
	require.NoError(t, cl.WaitApplied(ctx, "n2", last.LSN))
	requireSameState(t, cl, "n1", "n2")
}

// TestCorruptedSnapshotIsRejectedAndResent damages one snapshot chunk on
// the way: the follower's Restore rejects it, nothing of it is applied,
// the leader sends the snapshot again, and the second copy installs.
func TestCorruptedSnapshotIsRejectedAndResent(t *testing.T) {
	cfg := Config{Leader: "a", SyncFollowers: []NodeID{"b"}, AsyncFollowers: []NodeID{"c"},
		RetainEntries: 40, SnapshotChunkBytes: 64}
	n := newCoreNet(t, cfg, nil)
	leader := n.cores["a"]
	leader.becomeLeader(1, 0, topoOf(cfg))
	n.stabilize()
	// c misses everything from here on.
	n.drop = func(m Message) bool { return m.To == "c" || m.From == "c" }
	for i := 0; i < 200; i++ {
		leader.propose(AppendPut(nil, fmt.Sprint("k", i%30), []byte(fmt.Sprint("v", i))))
		n.stabilize()
		if i%10 == 0 {
			for j := 0; j < 11; j++ {
				n.tick()
			}
			n.stabilize()
		}
	}
	require.Greater(t, leader.log.First(), LSN(100), "the leader did not compact")
	before := smBytes(t, n.cores["c"].sm)

	corrupted := 0
	n.drop = func(m Message) bool {
		if m.Kind == MsgSnapshot && corrupted == 0 && len(m.Snapshot.Data) > 0 {
			corrupted++
			bad := append([]byte(nil), m.Snapshot.Data...)
			bad[len(bad)/2] ^= 0xff
			m.Snapshot = &SnapshotChunk{Pos: m.Snapshot.Pos, Offset: m.Snapshot.Offset, Total: m.Snapshot.Total, Data: bad}
			n.queue = append([]Message{m}, n.queue...) // deliver the damaged copy instead
			return true
		}
		return false
	}
	var rejected bool
	for i := 0; i < 50 && !rejected; i++ {
		n.tick()
		n.stabilize()
		for _, e := range n.events["c"] {
			rejected = rejected || e.Kind == EventSnapshotRejected
		}
	}
	require.Equal(t, 1, corrupted)
	require.True(t, rejected, "the damaged snapshot was not rejected")
	n.drop = nil
	for i := 0; i < 5; i++ {
		n.tick()
		n.stabilize()
	}
	assert.NotEqual(t, before, smBytes(t, n.cores["c"].sm), "never reseeded")
	assert.Equal(t, smBytes(t, leader.sm), smBytes(t, n.cores["c"].sm), "the reseeded follower differs")
	// Both logs end alike (each compacts on its own schedule).
	ll, cl := logOf(t, leader.log), logOf(t, n.cores["c"].log)
	k := min(len(ll), len(cl))
	assert.Equal(t, ll[len(ll)-k:], cl[len(cl)-k:])
	assert.Equal(t, leader.last, n.cores["c"].last)
}

func smBytes(t *testing.T, sm StateMachine) string {
	return string(snapshotBytes(t, sm.(*Store)))
}
