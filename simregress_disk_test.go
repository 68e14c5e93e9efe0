package replstore

import (
	"strings"
	"testing"
)

// Regression schedules for disk faults (simdisk_test.go).

// The coordinator promoted a replica on the fencing answer it sent just
// before a crash flipped a byte of its log (the answer was in flight):
// the promotion's candidate rule counted entries the replica no longer
// held. Found by the first run with simCorrupt, before MsgPromote
// carried the answered position: the replica now refuses the promotion
// (it is repairing, and no longer holds what it answered), nobody
// leads until the next round, which it does not answer until repaired.
func TestSimRegressionDamagedReplicaPromotedOnStaleFenceAnswer(t *testing.T) {
	s := simSchedule{P: simParams{Nodes: 3, Sync: 2, SyncCount: 2, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 1800, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simCorrupt, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}}
	runFixed(t, s)
	// It still exercises the case: the promotion reaches the damaged
	// replica, which refuses it, and it is repaired in the end.
	res := runSimScheduleOpts(s, true)
	if !strings.Contains(res.trace, "refusing the promotion to epoch 2") || res.stats.damaged != 1 || res.stats.repaired != 1 {
		t.Fatalf("the schedule no longer has the damaged replica refuse a promotion (damaged %d, repaired %d):\n%s",
			res.stats.damaged, res.stats.repaired, res.trace)
	}
}

// A power cut during a follower's flush keeps part of the batch (a torn
// write) and the follower, restarted, holds entries it never
// acknowledged; with the leader's progress for it unchanged (its
// incarnation is the same: it lost nothing it had synced) it catches up.
// And bugAckBeforeFlush is caught by the torn write as by a plain crash.
func TestSimTornWriteCatchesAckBeforeFlush(t *testing.T) {
	s := simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock,
		TimeoutTicks: 4, SuspectTicks: 6, FenceTicks: 3, MaxBatch: 4, MaxInflight: 8,
		MinDelay: 100, MaxDelay: 100, NetSeed: 1},
		Ops: []simOp{
			{Kind: simTornCrash, Node: 1, Key: 1},
			{Kind: simBurst, Node: 0, Key: 0, Arg: 3, Wait: 2},
			{Kind: simRestart, Node: 1, Wait: 4},
			{Kind: simPut, Node: 0, Key: 1, Wait: 8},
		}}
	res := runSimScheduleOpts(s, true)
	if res.err != nil {
		t.Fatal(simFailure(s, res))
	}
	if res.stats.tornCrashes != 1 {
		t.Fatalf("the power cut did not happen during a flush (torn crashes %d):\n%s", res.stats.tornCrashes, res.trace)
	}
	if bug := runSimScheduleBug(s, false, bugAckBeforeFlush); bug.err == nil {
		t.Fatalf("bugAckBeforeFlush planted: the torn write did not catch the acknowledgement sent before the flush")
	}
}

// A checker's false alarm, found by the 100,000-schedule campaign of
// seed 20261222: n1's byte flip is repaired by n3 (epoch 2), which
// credits it with LSN 3 (2:3); n3 is then cut off, n2 leads epoch 3
// without 2:3, and n1 rolls it back. The deposed n3 still credits n1
// with 2:3, as any deposed leader's view of a follower that moved on is
// stale, and checkDamagedCredit took that for a credit the flip should
// have cleared. It now holds a leader to it only for a replica in the
// leader's own epoch, as checkCredit does.
func TestSimRegressionDeposedLeaderCreditsRepairedReplica(t *testing.T) {
	s := simSchedule{P: simParams{Nodes: 3, Sync: 2, SyncCount: 2, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0,
		ManualFailover: false, TickRates: []int(nil)},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simCorrupt, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRestart, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simCorrupt, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simRestart, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
		}}
	runFixed(t, s)
	// It still reaches the case: n1, damaged and repaired, rolls back
	// the entry the cut-off leader of epoch 2 credited it with.
	res := runSimScheduleOpts(s, true)
	if !strings.Contains(res.trace, "rolled-back on n1 (epoch 3, LSN 2)") || res.stats.damaged != 1 || res.stats.repaired != 1 {
		t.Fatalf("the schedule no longer has the repaired replica roll back under a new leader (damaged %d, repaired %d):\n%s",
			res.stats.damaged, res.stats.repaired, res.trace)
	}
}
