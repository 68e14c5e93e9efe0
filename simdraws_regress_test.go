package replstore

import "testing"

// Engine bugs found by the draws of simdraws_test.go and simops_test.go
// (issue 13), one named test each, as in simregress_test.go.

// A late rejection backs a reseeded follower up under the snapshot it
// installed, and the leader never sends it anything again: the follower
// acknowledged the whole snapshot (snapshot-resp, offset 87 of 87), the
// leader moved it to LSN 9, then a duplicate of an append rejection sent
// before the transfer (hint 3) arrived; backUp set next LSN 4, below the
// leader's log, so every heartbeat went to sendSnapshot, which found the
// transfer fully acknowledged and sent nothing (snapshot.go). Found by a
// 20,000-schedule run with the new draws (seed 99); the same schedule
// with simPut for simDelete fails the same way on the build before them.
func TestSimRegressionLateRejectAfterSnapshotStallsFollower(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 4, MaxInflight: 8, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 150, DupPerMille: 100, MinDelay: 100, MaxDelay: 8100, NetSeed: 2,
		ManualFailover: false, TickRates: []int(nil)},
		Ops: []simOp{
			{Kind: simDelete, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simHeal, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simBurst, Node: 0, Key: 1, Session: 0, Arg: 1, Wait: 2},
			{Kind: simBurst, Node: 0, Key: 2, Session: 1, Arg: 0, Wait: 2},
			{Kind: simDelete, Node: 0, Key: 0, Session: 2, Arg: 0, Wait: 0},
			{Kind: simDelete, Node: 1, Key: 2, Session: 1, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}
