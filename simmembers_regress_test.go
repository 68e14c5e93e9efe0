package replstore

import "testing"

// Minimised schedules that found membership bugs once the simulation drew
// AddFollower, RemoveFollower and SetSync under faults (simmembers_test.go).
// Each is fixed; runFixed keeps it so.

// AddFollower whose client gives up after the leader took the change
// (here: at once, as the liveness phase begins) stopped the new node,
// though the coordinator recorded it a moment later: a ghost member that
// nobody runs, which a failover could make the only sync follower.
func TestSimRegressionAddFollowerFailureForgetsRecordedNode(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simAddFollower, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// The same with the leader paused: the client gives up while its call is
// still in the leader's mailbox, which takes it later; Cluster cannot
// tell, so it must keep the node.
func TestSimRegressionAddFollowerQueuedCallForgetsRecordedNode(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simAddFollower, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// AckLevel Local: with every follower removed, the leader restarted (the
// liveness phase's power cut) as a follower and nobody was left to
// suspect it: no failover ever started and no node led again.
func TestSimRegressionLocalLastFollowerRemovedNoLeader(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simRemoveFollower, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simRemoveFollower, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// A switchover to n2 was under way when the leader's removal of n2 was
// recorded (the round's fence to the leader was lost): the round then
// promoted n2, no longer a member. A round now drops answers from nodes
// outside the topologies that still count, and a switchover target the
// topology in force no longer has.
func TestSimRegressionFailoverPromotesRemovedFollower(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 2, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 10, DupPerMille: 20, MinDelay: 100, MaxDelay: 6600, NetSeed: 0},
		Ops: []simOp{
			{Kind: simRestart, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simHeal, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simHeal, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simRestart, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simSwitchover, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simRestart, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simRemoveFollower, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// A follower removed and added again under the same ID at once: an
// acknowledgement its old incarnation sent before it was stopped arrived
// (late, the network's jitter) after the leader began tracking the new,
// empty one, and the leader credited the new node with LSN 3. Message
// now carries MemberVersion, which the follower echoes and the leader
// checks. (Schedule hand-built, then NetSeed scanned: the random draws
// rarely time a late answer across a removal and an add.)
func TestSimRegressionReAddedFollowerCreditedWithOldIncarnation(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 4, SuspectTicks: 8, FenceTicks: 3, MaxBatch: 4, MaxInflight: 8, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 15100, NetSeed: 50},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simRemoveFollower, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simAddFollower, Node: 2, Key: 0, Session: 0, Arg: 1, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
		}})
}

// Replace: RemoveFollower of the only sync follower n2 put n3 in its
// place; the coordinator recorded it, and before it settled the leader
// restarted (the liveness phase's power cut). The failover counted the
// earlier sync list, rightly, but then filled the new leader's vacated
// sync slot with n2, the node being removed, which had answered.
func TestSimRegressionFailoverNamesRemovedFollowerSync(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossReplace, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simRemoveFollower, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// AckLevel Local: RemoveFollower of n3, then of n2, the last follower;
// the coordinator recorded the second removal, and the leader restarted
// (the liveness phase) before it reported it settled. The failover
// promoted n2, the node being removed, over the old leader, which had
// answered and is the only member: it leads again now.
func TestSimRegressionLocalFailoverPromotesRemovedFollower(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simRemoveFollower, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simRemoveFollower, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// RemoveFollower of n2 timed out across a failover but its removal was in
// force and settled in the new leader's topology; n2 kept running (its
// client could not know). A SetSync of n2 then put it back, as async:
// only AddFollower may bring a node in, and core.reconfigure now refuses
// a SetSync of a non-member (it did so only on the Node path before).
func TestSimRegressionSetSyncReAddsRemovedFollower(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossReplace, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 4, MaxInflight: 8, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 10, DupPerMille: 0, MinDelay: 100, MaxDelay: 13700, NetSeed: 0},
		Ops: []simOp{
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simHeal, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simSwitchover, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRemoveFollower, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simRemoveFollower, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simRestart, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simSetSync, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// AckLevel Applied: SetSync moved the sync list from n2 to n3 while n2
// had stored LSN 5 but not yet applied it (commit 4, safe 5: followers
// were told to apply up to 5). The new list settled at commit, so the
// coordinator forgot n2's list once n3 held LSN 4; a partition cut the
// leader and n2 off, and the failover promoted n3 without LSN 5, which n2
// had applied. A new sync list now settles at safe. (Schedule hand-built
// around that window, then NetSeed and waits scanned.)
func TestSimRegressionAppliedSyncListSettlesBelowSafe(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Applied, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 6, SuspectTicks: 8, FenceTicks: 3, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 1100, NetSeed: 11},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simSetSync, Node: 2, Key: 0, Session: 0, Arg: 1, Wait: 8},
			{Kind: simPause, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 3, Wait: 2},
			{Kind: simSetSync, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simResume, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPartition, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
		}})
}
