package replstore

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// Minimised schedules that found engine bugs, one named test each. Every
// schedule replays exactly (REPLSTORE_SIM_TRACE=all prints its whole
// trace). While a bug is not fixed its test is skipped and says so, and
// TestSimulation tolerates it (simknown_test.go). Once the fix lands the
// test passes and asks for the bug's simKnownBugs entry to be deleted, so
// that the simulation catches it again; its schedule then moves to
// runFixed, which keeps it fixed.

// runFixed replays s, which found an engine bug that has been fixed: it
// must run clean (a known bug that is not fixed yet skips it).
func runFixed(t *testing.T, s simSchedule) {
	t.Helper()
	res := runSimScheduleOpts(s, os.Getenv("REPLSTORE_SIM_TRACE") == "all")
	if kb := knownBug(res.err); kb != nil {
		t.Skipf("hits a known engine bug first (%s): %s", kb.test, firstLine(res.err.Error()))
	}
	if res.err != nil {
		t.Fatal(simFailure(s, res))
	}
}

// runKnownBug replays s, which hits the known bug named by the test.
func runKnownBug(t *testing.T, s simSchedule) {
	t.Helper()
	name := t.Name()
	res := runSimScheduleOpts(s, os.Getenv("REPLSTORE_SIM_TRACE") == "all")
	kb := knownBug(res.err)
	switch {
	case kb != nil && kb.test == name:
		t.Skipf("ENGINE BUG, NOT FIXED YET: %s\n%s", kb.what, firstLine(res.err.Error()))
	case kb != nil:
		t.Skipf("hits another known engine bug first (%s): %s", kb.test, firstLine(res.err.Error()))
	case res.err != nil:
		t.Fatal(simFailure(s, res))
	}
	for _, kb := range simKnownBugs {
		if kb.test == name {
			t.Errorf("%s no longer reproduces: if it is fixed, delete its simKnownBugs entry so that TestSimulation "+
				"catches it again; if not, find a new schedule with REPLSTORE_SIM_HUNT=%s go test -run TestSimHunt", name, name)
		}
	}
}

// Two failovers in a row lose acknowledged writes: decide (coord.go:315) adopts
// the decision's topology before the promoted node has led at all; a second round
// before it commits counts the new sync list (which may name a follower that never
// caught up) for the candidate rule and leaves out the node just chosen as "the old
// leader" (failover.go:150), so it promotes a node lacking writes acknowledged
// under the first epoch's sync set.
func TestSimRegressionBackToBackFailoverLosesWrite(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 2, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 1400, NetSeed: 3},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// DegradeAfter: once the leader has degraded, Decide treats the whole log as
// asynchronous (failover.go:102) and promotes the most up-to-date node that
// answered without the sync quorum, which may lack writes acknowledged under the
// sync rule before the degrade: a loss below what the sync follower stored.
func TestSimRegressionDegradedFailoverLosesSyncWrites(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 5, Sync: 2, SyncCount: 2, Quorum: First, Ack: Durable, SyncLoss: syncLossDegrade, DegradeTicks: 1, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 4, FenceTicks: 3, MaxBatch: 4, MaxInflight: 4, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 150, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 101121951},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simResume, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 5},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
		}})
}

// A deposed leader acknowledges a write it never committed: in one batch it steps
// down and installs the new leader's snapshot, and core.holds counts every LSN
// below the compaction point as held (core.go:244), though the snapshot replaced
// its own entries there. (4752e26 fixed the same acknowledgement for entries
// replaced in the log.)
func TestSimRegressionAckUnderInstalledSnapshot(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPartition, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simBurst, Node: 1, Key: 0, Session: 0, Arg: 1, Wait: 2},
		}})
}

// A newly promoted leader serves Leader reads before it has committed an entry of
// its own epoch: requestRead records the read's commit LSN from c.commit
// (readindex.go:36), which lags writes the previous leader acknowledged, so a
// linearizable read returns a stale value (Raft's leader must commit in its term
// first).
func TestSimRegressionLeaderReadBeforeEpochCommit(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Applied, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 2, MaxInflight: 2, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 150, DupPerMille: 0, MinDelay: 100, MaxDelay: 3800, NetSeed: 63},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 1, Session: 1, Arg: 0, Wait: 1},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simRead, Node: 0, Key: 1, Session: 0, Arg: 0, Wait: 0},
		}})
}

// Proposals taken in the batch in which a leader steps down stay queued in the
// core (observeEpoch does not clear c.pending); if the node is promoted again,
// becomeLeader appends them, at other Positions and ahead of the epoch's opening
// entry (leader.go:54). A write its client was told failed ("rolled back ... not
// in the log") or not acknowledged at Position P commits at P' later.
func TestSimRegressionProposalsOutliveLeadership(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// A zombie leader woke up with acknowledgements its sync follower had sent
// before it was fenced and, in one batch, committed, acknowledged and met
// the fence, after the newer epoch had committed: invariant 3 as worded.
// The write is in the newer epoch's log, so nothing was lost; the runtime
// now refuses what a leader that stopped leading had not committed
// (ledThrough), and the simulation accepts (and counts) a late
// acknowledgement of a write the newer epoch holds.
func TestSimRegressionAckAfterNewerEpochCommitted(t *testing.T) {
	// This schedule no longer reaches it after this session's fixes; the
	// behaviour remains (TestSimulation still meets it, as a known bug).
	t.Skip("KNOWN, NOT A LOSS (schedule no longer reaches it): a deposed leader's late acknowledgement of a write the newer epoch holds")
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 1900, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPartition, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
		}})
}

// Sync loss policy Replace: while a replacement waits for the coordinator,
// replaceLost (syncset.go:128) runs again on the next tick, takes statusUpdate()
// (handover.go:36-38: a copy of the waiting change whose Sync and Async slices are
// shared) and edits them in place. The waiting change, sent to the coordinator and
// applied by the leader, then names a node twice and forgets another: that node is
// never replicated to again, and the coordinator counts a sync follower that is not
// one.
func TestSimRegressionReplaceCorruptsPendingTopology(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 5, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossReplace, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 300, NetSeed: 42},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 2},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 5},
		}})
}

// A follower holding a divergent uncommitted tail is never repaired once the
// append that would overwrite it is lost: matchesPrev walks back over the
// conflicting epoch to the commit LSN (follower.go:83), below the LSN the follower
// reports as matched, and backUp drops every hint below received as stale
// (leader.go:190). With the follower in the sync set, commit stops for good.
func TestSimRegressionRejectHintBelowMatched(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 3, MaxInflight: 3, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 150, DupPerMille: 0, MinDelay: 200, MaxDelay: 8700, NetSeed: 33},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 1},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simHeal, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simResume, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simHeal, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 7},
			{Kind: simSwitchover, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 1},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simResume, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simResume, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
		}})
}

// The leader dies before its first append reaches the followers; they stay at
// epoch 0 and suspect it with epoch 0, and coordCore.step (coord.go:104) counts
// a suspicion only if m.Epoch == c.epoch (1). No failover ever starts: no node
// leads again, even after every fault heals. (A failed fencing round, the other
// case of this filter, was fixed in 31a79bf.)
func TestSimRegressionSuspicionOfUnknownEpochIgnored(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 2, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simCrash, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}

// Snapshot reseeding stalls for good. First (fixed): a late chunk of an
// older snapshot made the follower drop its partial copy of the newer one
// (snapshot.go handleSnapshot), while handleSnapshotResp only ever raised
// snapAcked: the leader never resent the prefix. Then (this schedule,
// found again by REPLSTORE_SIM_HUNT after the topology-settling and
// back-up changes altered the old ones): the follower installs the snapshot and answers with an
// append-resp that is lost; the leader's snapshot-resp shows the transfer
// complete, but its progress still has next below its compaction point, so
// sendAppends only calls sendSnapshot, which has nothing left to send: no
// heartbeat, no append, and the follower never catches up. Fixed: a
// snapshot-resp saying the follower holds the whole snapshot moves next
// past it and streams from there.
func TestSimRegressionSnapshotReseedStalls(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 5, Sync: 1, SyncCount: 1, Quorum: First, Ack: Applied, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 2, MaxInflight: 6, RetainEntries: 12, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 100, MinDelay: 100, MaxDelay: 13500, NetSeed: 4753087},
		Ops: []simOp{
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 1},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simSwitchover, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}

// The leader stops with a fatal error: a read round (readindex.go:59), or an
// Applied-level commit heartbeat (leader.go:123, 234), calls sendTo directly for a
// follower whose next LSN is compacted (it is being reseeded), and sendTo reads the
// epoch of that compacted LSN (leader.go:134). sendAppends checks for a snapshot
// first; these callers do not.
func TestSimRegressionHeartbeatToReseededFollower(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 2, SyncCount: 1, Quorum: Any, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// A promotion allowed to lose data (here the operator's Failover with
// AllowDataLoss while the coordinator is cut off from the leader) reports MayLose =
// [candidate last + 1, LeaderCommit] (failover.go:99) from the last commit LSN the
// old leader reported; writes it acknowledged after that report (or after the
// promotion, through sync followers the round did not fence) are lost outside any
// reported range. Fixed: the range is open (MaxLSN), with the last reported
// commit LSN alongside.
func TestSimRegressionLossRangeFromStaleCommit(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPartition, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 8},
		}})
}

// Asynchronous commit: MayLose starts at the candidate's last LSN + 1
// (failover.go:99), as if the candidate's log were a prefix of the old leader's.
// When the candidate holds another epoch's entries below that LSN, the acknowledged
// writes there are lost outside the reported range; and the old leader, restarted
// since (its commit LSN is not on disk), rolls them back without saying they were
// committed: the loss is reported nowhere. Fixed: the coordinator records
// where each promoted epoch began (FailoverView.Bases), and the range starts
// where the candidate's log departs from the old leader's.
func TestSimRegressionLossRangeIgnoresDivergence(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 2, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPartition, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simBurst, Node: 1, Key: 0, Session: 0, Arg: 1, Wait: 0},
		}})
}

// Asynchronous commit (AckLevel Local): the old leader committed entries alone;
// after the failover observeEpoch sets matched = commit (fencing.go:35, "committed
// entries are in every later leader's log"), so the old leader reports them as
// received, its rejection's hint lies below that, and backUp (leader.go:190) drops
// it as stale. Its divergent log is never repaired (and the loss it holds is never
// rolled back and reported); a leader that takes the bogus received LSN may also
// fail fatally reading past its log.
func TestSimRegressionAsyncOldLeaderNeverRepaired(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// Asynchronous commit with retention: an old leader compacted entries it had
// committed alone; when the new leader's log makes it roll them back, rollBack
// cannot rebuild the state machine from a compacted log and fails the node
// (rollback.go:52) instead of asking for the new leader's snapshot: the node stops.
func TestSimRegressionAsyncRollbackPastCompaction(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 2, MaxInflight: 4, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 10, DupPerMille: 0, MinDelay: 100, MaxDelay: 600, NetSeed: 1155148215},
		Ops: []simOp{
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
		}})
}

// Asynchronous commit: a follower whose compaction point (a snapshot) holds
// writes the new leader lost treats everything up to its compaction point
// as matching (follower.go:41: an append whose Prev lies below it is cut to
// start there, with Prev taken as its own base), so it takes the new
// leader's entries on top of the lost ones. Log matching breaks, and the
// replicas never converge. (This schedule was written by hand from the
// one the simulation found, which later engine changes made rare:
// n3 is reseeded from the old leader's snapshot while n2 is cut off; n2 is
// promoted and writes a batch longer than n3's snapshot before it sees n3.)
func TestSimRegressionAsyncLossUnderCompactionPoint(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 32, MaxInflight: 64, RetainEntries: 12, SnapshotChunk: 0,
		MinDelay: 100, MaxDelay: 100},
		Ops: []simOp{
			{Kind: simWait, Wait: 1},
			{Kind: simPartition, Node: 2, Wait: 1}, // n2 alone
			{Kind: simCrash, Node: 2, Wait: 1},     // n3
			{Kind: simBurst, Node: 0, Arg: 3, Wait: 1},
			{Kind: simBurst, Node: 0, Arg: 3, Wait: 1},
			{Kind: simBurst, Node: 0, Arg: 3, Wait: 1},
			{Kind: simBurst, Node: 0, Arg: 3, Wait: 1},
			{Kind: simWait, Wait: 2},             // n1 compacts
			{Kind: simRestart, Node: 2, Wait: 4}, // n3 reseeded from n1's snapshot
			{Kind: simWait, Wait: 2},
			{Kind: simPartition, Node: 10, Wait: 0}, // n2 and the coordinator against n1 and n3
			{Kind: simWait, Wait: 8},                // n2 promoted
			{Kind: simBurst, Node: 1, Arg: 3, Wait: 0},
			{Kind: simBurst, Node: 1, Arg: 3, Wait: 0},
			{Kind: simBurst, Node: 1, Arg: 3, Wait: 0},
			{Kind: simBurst, Node: 1, Arg: 3, Wait: 0},
			{Kind: simBurst, Node: 1, Arg: 3, Wait: 0},
			{Kind: simHeal, Wait: 8},
		}})
}

// Sync loss policy Replace, sync commit. n2 (sync) is cut off; the leader
// n1 proposes n3 in its place (replaceLost, syncset.go) and the change
// waits for the coordinator, which n1 cannot reach. n2 comes back: n1
// commits and acknowledges LSNs 3 and 4 through n2, its sync list still
// [n2]. The coordinator, which has started a failover, then gets n1's
// status carrying the proposal, records sync [n3] as in force
// (coordCore.onStatus) and decides on it: one answer from n3 is the
// quorum, and n3, which lacks LSN 4, is promoted. Fixed: the coordinator
// records a change next to the topology it changes and counts both sync
// lists until the leader reports the change settled (its new sync set
// holds everything acknowledged before it took effect).
func TestSimRegressionReplaceRecordedBeforeApplied(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossReplace, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPartition, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 2}, // n2 alone
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPartition, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 0}, // n1 and n2 against n3 and the coordinator
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// Fixed (6081167): switchovers and crashes in a row; epoch 2's leader
// reported its topology (sync [n3]) before it had committed anything, n3
// had not caught up with writes acknowledged in epoch 1, and the next round
// trusted that topology, left out epoch 2's leader as "the old leader"
// although it held the writes, and promoted n3.
func TestSimRegressionFailoverBeforeNewLeaderCommits(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 4, FenceTicks: 2, MaxBatch: 4, MaxInflight: 4, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 10, DupPerMille: 0, MinDelay: 1300, MaxDelay: 7600, NetSeed: 9111},
		Ops: []simOp{
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 0},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simCrash, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
		}})
}

// Sync commit, no fault but an operator failover and a crash: n1 (the old
// leader) holds 1:1 and an uncommitted 1:2; the new leader n2 holds 1:1
// and 2:2 and counts n1 as having received LSN 1. n1 crashes and restarts
// (matched 0), then rejects every heartbeat (Prev 2:2) with hint 0:
// matchesPrev (follower.go) walks back over all of epoch 1's entries to its
// commit LSN 0, and backUp (leader.go) drops a hint below received as
// stale. n1 is never repaired. (The RejectHintBelowMatched schedule, with
// no restart, passes since matchesPrev stops at the matched LSN.) Fixed:
// backUp resends from max(hint, received)+1.
func TestSimRegressionRejectHintAfterRestart(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 4600, NetSeed: 11},
		Ops: []simOp{
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}

// Fixed: a failed compare-and-swap was acknowledged as successful: the
// node stepped down and applied the entry as a follower, which records no
// command result (core.go applyCommitted), and the runtime still answered
// the waiter.
func TestSimRegressionCASResultLostAfterStepDown(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 5, Sync: 2, SyncCount: 2, Quorum: First, Ack: Applied, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 150, DupPerMille: 100, MinDelay: 200, MaxDelay: 300, NetSeed: 4},
		Ops: []simOp{
			{Kind: simCrash, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 2},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 7},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simCAS, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
		}})
}

// Fixed: a fencing round that promoted nobody (here only because the sync
// follower's answer came one tick late) left every node it reached at the
// round's epoch and the coordinator at the old one, ignoring their
// suspicions: no leader, ever (fixed in 31a79bf).
func TestSimRegressionBlockedFailoverLosesLeader(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 1200, MaxDelay: 5900, NetSeed: 19281867},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// Fixed: a switchover whose MsgTransferReady and then MsgTransferAbort
// were lost left the leader refusing every write forever (fixed in
// 31a79bf: the leader gives up on its own).
func TestSimRegressionSwitchoverLostMessages(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 5, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 4, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 150, DupPerMille: 100, MinDelay: 100, MaxDelay: 400, NetSeed: 6006},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
		}})
}

// Fixed: a zombie leader woke with puts, the fence and the new leader's
// entries in one batch, and the runtime acknowledged a write it had never
// appended, because another leader's entry now sat at its LSN (fixed in
// 4752e26).
func TestSimRegressionAckForAnotherLeadersEntry(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 2, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
		}})
}

// Fixed: a node restarted from its snapshot had commit at the snapshot
// but matched 0, against core.checkInvariants (fixed in 4752e26).
func TestSimRegressionRestartFromSnapshot(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 2, SyncCount: 1, Quorum: Any, Ack: Received, SyncLoss: syncLossDegrade, DegradeTicks: 1, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 5, FenceTicks: 4, MaxBatch: 5, MaxInflight: 15, RetainEntries: 6, SnapshotChunk: 16,
		DropPerMille: 10, DupPerMille: 20, MinDelay: 2000, MaxDelay: 4800, NetSeed: 270},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simCrash, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPartition, Node: 14, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 1, Key: 2, Session: 1, Arg: 0, Wait: 6},
			{Kind: simRead, Node: 2, Key: 2, Session: 1, Arg: 2, Wait: 1},
			{Kind: simBurst, Node: 0, Key: 1, Session: 0, Arg: 1, Wait: 8},
			{Kind: simPut, Node: 1, Key: 2, Session: 0, Arg: 0, Wait: 3},
			{Kind: simBurst, Node: 1, Key: 0, Session: 1, Arg: 2, Wait: 8},
			{Kind: simBurst, Node: 1, Key: 0, Session: 1, Arg: 1, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simCrash, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simHeal, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simHeal, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
		}})
}

// Found by a 50,000-schedule random run after the settling fixes:
// asynchronous commit, RetainEntries 3. n1, the old leader, committed and
// compacted entries of epoch 1 that the promotion of n2 lost. n2's
// snapshot at 2:5 reached n1, which took it as held because LSN 5 was
// below its commit LSN, though its own LSN 5 was 1:5; then it rejected
// every append (its compacted prefix could not be compared) and was never
// repaired. Fixed: a follower compares the leader's entry at its
// compaction point and asks to be reseeded when they differ; a snapshot is
// taken as held only if the follower's log holds its last entry.
func TestSimRegressionAsyncSnapshotTakenAsHeld(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 7},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
		}})
}

// Found by TestSimulation (seed 1) while the reseed request was new:
// asynchronous commit after a degrade. n1, the old leader, restarted from
// its own snapshot at 1:11 (log compacted through 5); the new leader n4
// matched it through 1:7 and then sent 4:8, which n1 cannot roll back to:
// its snapshot holds the rolled-back entries and the log before it is
// gone, so it asked to be reseeded and threw its log away for n4's
// snapshot at 0:0. n4 still counted it as holding LSN 7 and dropped its
// rejections below that as stale. Fixed: when a reseed completes, the
// leader lowers the follower's progress to the snapshot's Position.
func TestSimRegressionReseedKeepsStaleProgress(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossDegrade, DegradeTicks: 1, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 6, SnapshotChunk: 16,
		DropPerMille: 50, DupPerMille: 0, MinDelay: 100, MaxDelay: 2400, NetSeed: 457},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 2, Session: 0, Arg: 1, Wait: 2},
			{Kind: simPut, Node: 1, Key: 1, Session: 1, Arg: 2, Wait: 3},
			{Kind: simPut, Node: 1, Key: 1, Session: 2, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 1, Key: 0, Session: 2, Arg: 3, Wait: 1},
			{Kind: simRead, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simCrash, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 1, Session: 1, Arg: 3, Wait: 3},
			{Kind: simCrash, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 1, Key: 1, Session: 1, Arg: 3, Wait: 8},
			{Kind: simCrash, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simResume, Node: 2, Key: 0, Session: 0, Arg: 1, Wait: 2},
			{Kind: simBurst, Node: 0, Key: 0, Session: 1, Arg: 2, Wait: 8},
			{Kind: simCAS, Node: 0, Key: 1, Session: 0, Arg: 1, Wait: 1},
			{Kind: simBurst, Node: 1, Key: 1, Session: 0, Arg: 1, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simRead, Node: 0, Key: 0, Session: 2, Arg: 2, Wait: 3},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simCrash, Node: 1, Key: 0, Session: 0, Arg: 1, Wait: 8},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 7},
			{Kind: simCAS, Node: 1, Key: 1, Session: 1, Arg: 2, Wait: 3},
		}})
}

// Found by a 100,000-schedule random run once loss ranges were open: the
// operator's failover to epoch 2, allowed to lose data, promoted n2, which
// lacked the write at 1:2, and reported range 1..; a later failover, not
// allowed to lose data, promoted n2 again and the checker called the
// write lost by it. A checker bug, not an engine bug: a write an earlier
// allowed promotion gave up and reported needs no later promotion to
// hold it (simChecker.givenUp).
func TestSimRegressionGivenUpWriteStaysLost(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPartition, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// Found by a 100,000-schedule random run (the async state divergence seen
// at schedule 32,833 last session): asynchronous commit, RetainEntries 3.
// n1's snapshot job started at 1:4; before it finished n1 rolled 1:4 back
// and took 2:4 from the new leader, so its commit LSN was 4 again, and
// snapshotTaken kept the snapshot (it only checked the LSN). After a
// restart n1 restored the lost write from it: same log as n2, different
// state. Fixed: a finished snapshot is kept only if the log still holds
// the entry at its Position.
func TestSimRegressionSnapshotOfRolledBackState(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 4, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 1000, MaxDelay: 1100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 1, Session: 0, Arg: 0, Wait: 0},
		}})
}

// Found by a 100,000-schedule random run: with AllowDataLoss the
// coordinator promoted n2 without fencing the sync follower it could not
// reach; the old leader n1 went on committing through it and acknowledged
// a write after epoch 2 had committed. Invariant 3 as worded breaks, by
// the operator's leave: the promotion reported the range (open, 2..) as
// possibly lost, and the write is accounted for as a reported loss. The
// checker now accepts exactly that (and nothing else); only a leader
// lease could prevent it.
func TestSimRegressionAllowedLossSplitBrain(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 2, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: true,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPartition, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// Found by a 100,000-schedule random run: asynchronous commit. n5 had
// rolled back 2:3 (its log whole, so it rebuilt from empty) but kept its
// own snapshot at 2:3; as leader it shipped that snapshot to n1, whose log
// then disagreed with n5's 4:3, asked for a reseed, and got the same
// snapshot again, for good. Fixed: a rollback drops a snapshot that holds
// rolled-back entries, and a leader ships only a snapshot whose Position
// its log holds (taking a fresh one otherwise).
func TestSimRegressionStaleOwnSnapshotShipped(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 5, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 4900, NetSeed: 4437},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 4},
			{Kind: simBurst, Node: 0, Key: 0, Session: 2, Arg: 1, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPause, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 1},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPause, Node: 3, Key: 0, Session: 0, Arg: 1, Wait: 7},
			{Kind: simPut, Node: 1, Key: 2, Session: 0, Arg: 1, Wait: 1},
			{Kind: simPut, Node: 1, Key: 0, Session: 2, Arg: 0, Wait: 4},
			{Kind: simHeal, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 1, Key: 0, Session: 1, Arg: 2, Wait: 5},
			{Kind: simPause, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 1, Key: 2, Session: 1, Arg: 2, Wait: 8},
			{Kind: simBurst, Node: 1, Key: 2, Session: 1, Arg: 3, Wait: 3},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
		}})
}

// Found by a 100,000-schedule random run: sync commit. A late chunk of an
// old snapshot (at LSN 2) reached n3 after it had caught up, committed
// through LSN 4 and compacted past LSN 2; its log could not show that it
// held LSN 2, so it installed the old snapshot and rolled back committed
// entries (invariant 2). Fixed: a snapshot older than the follower's
// compaction point is taken as held unless the follower asked for a
// reseed; appends compare at the compaction point.
func TestSimRegressionLateOldSnapshotInstalled(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 4, MaxInflight: 8, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 20, MinDelay: 100, MaxDelay: 14300, NetSeed: 224},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}

// Found by TestSimulation (seed 1) while reseeding was new: asynchronous
// commit. n1 could not roll back LSN 5 (its own snapshot, at 1:5, held
// it) and asked for a reseed; the leader's snapshot was at 1:4, which n1's
// log holds, so n1 took it as held, and the next append asked again, for
// good. A follower that asked for a reseed installs the snapshot whatever
// it holds; the leader marks the chunks of a reseed (SnapshotChunk.Reseed)
// so a follower that only asked the leader to compare knows it must too;
// and late chunks of a reseed already installed are not taken as a new one.
func TestSimRegressionReseedOfHeldPosition(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 2, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simCrash, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPause, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simCrash, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRead, Node: 2, Key: 0, Session: 2, Arg: 1, Wait: 8},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
		}})
}

// Found by REPLSTORE_SIM_HUNT (the unminimised "lost and never reported"
// known bug): DegradeAfter. n1 degraded, acknowledged LSNs 2..5 alone,
// and restored sync commit at LSN 5 before n2 held LSN 5; the coordinator
// recorded the restore (same sync list) as settled at once, so the next
// failover met the sync quorum, promoted n2 (at 4) as if under sync
// commit and reported no loss: 1:5 was lost unreported. Fixed: a restore
// settles only once the sync set holds what the leader acknowledged alone;
// until then the degraded topology stays in FailoverView.Earlier and the
// promotion reports its range.
func TestSimRegressionRestoreBeforeSyncHolds(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossDegrade, DegradeTicks: 1, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 300, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simRestart, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPartition, Node: 4, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simCrash, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// Found by a 100,000-schedule random run: asynchronous commit. The new
// leader n2 was already sending its snapshot (2:5) to n1, which took it as
// held (older than its compaction point, 6), so the transfer counted as
// complete; when n1's next answer showed its compacted prefix differs,
// n2 decided to reseed it but had no bytes left to send, and sent nothing
// more, for good. Fixed: a reseed starts its transfer afresh.
func TestSimRegressionReseedAfterHeldSnapshot(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 500, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPartition, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}

// Found by the first 100,000-schedule run with SetSync draws (then behind a
// flag, REPLSTORE_SIM_MEMBERSHIP=1; every run draws them now):
// asynchronous commit, Replace. While a SetSync change that emptied the
// sync list waited for the coordinator, replaceLost indexed the waiting
// change's (empty) sync list with positions of the list in force: the
// leader panicked. The sync-loss policy now waits while a change is
// pending or the topology has not settled, as changeTopology would.
func TestSimRegressionReplaceWhileSetSyncPending(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 5, Sync: 1, SyncCount: 1, Quorum: Any, Ack: Local, SyncLoss: syncLossReplace, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 6, FenceTicks: 4, MaxBatch: 6, MaxInflight: 6, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 150, DupPerMille: 20, MinDelay: 800, MaxDelay: 900, NetSeed: 57},
		Ops: []simOp{
			{Kind: simRead, Node: 4, Key: 1, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 6},
			{Kind: simSetSync, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 0},
			{Kind: simCAS, Node: 1, Key: 1, Session: 2, Arg: 3, Wait: 0},
			{Kind: simPartition, Node: 37, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 1, Key: 2, Session: 2, Arg: 3, Wait: 1},
			{Kind: simPause, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simCAS, Node: 1, Key: 1, Session: 0, Arg: 0, Wait: 2},
			{Kind: simRead, Node: 1, Key: 0, Session: 0, Arg: 3, Wait: 2},
			{Kind: simRead, Node: 1, Key: 0, Session: 2, Arg: 3, Wait: 0},
			{Kind: simRead, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simCAS, Node: 0, Key: 1, Session: 1, Arg: 3, Wait: 4},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 8},
			{Kind: simRead, Node: 3, Key: 2, Session: 0, Arg: 1, Wait: 2},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simSetSync, Node: 2, Key: 0, Session: 0, Arg: 1, Wait: 7},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simRead, Node: 4, Key: 2, Session: 0, Arg: 1, Wait: 4},
			{Kind: simPut, Node: 1, Key: 2, Session: 2, Arg: 0, Wait: 0},
			{Kind: simPause, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 1, Key: 0, Session: 1, Arg: 3, Wait: 1},
			{Kind: simBurst, Node: 0, Key: 0, Session: 2, Arg: 1, Wait: 3},
			{Kind: simPause, Node: 1, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simSetSync, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 5},
			{Kind: simSwitchover, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPause, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simCAS, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 4},
			{Kind: simRead, Node: 1, Key: 1, Session: 2, Arg: 0, Wait: 6},
			{Kind: simSwitchover, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 2, Session: 1, Arg: 2, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simBurst, Node: 1, Key: 0, Session: 1, Arg: 3, Wait: 5},
		}})
}

// Under AckLevel Applied, a leader acknowledged a write its sync follower
// did not hold: the follower, the epoch-2 leader that had committed and
// applied LSNs 2..3 alone while degraded, reported Applied 3 in its first
// answer to the epoch-3 leader, before rolling them back; the leader kept
// that as the follower's applied LSN and counted it for its own LSN 3.
// The next failover promoted the follower, which lacked the write. A
// follower now reports applied only within the prefix it matched
// (appliedMatched), and the leader caps it at Received too.
func TestSimRegressionStaleAppliedCountsForNewEntry(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Applied, SyncLoss: syncLossDegrade, DegradeTicks: 1, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0},
		Ops: []simOp{
			{Kind: simPartition, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPartition, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// A paused follower, resumed with two snapshots queued (at 13 and 20),
// installed both and acknowledged LSN 20; an answer it sent between the two
// installs (compare at my compaction point, 13) reached the leader after
// that, and compareCompacted lowered the leader's next for it to 17, below
// the 20 it had acknowledged (core invariant: next > received). Such an
// overtaken answer now never moves next below received+1.
func TestSimRegressionNextBelowReceived(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 100, MinDelay: 200, MaxDelay: 11600, NetSeed: 1},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRestart, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPause, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 5},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simRestart, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simRestart, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 6},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
		}})
}

// Found by a random 100,000-schedule run (-rapid.seed=14817670791952117157)
// at the end of the 2026-11-22 session: after every fault healed, n1 never
// caught up ("no convergence ... n1's log ends at 1:1, leader n2's at
// 3:3"), a follower left unrepaired after switchovers, partitions and a
// pause, with retention 6, drops and duplicates. Recorded skipped; it
// passes at 61f54e2. The likely fix is ebc61fc (a second reseed no longer
// keeps a finished snapshot transfer's counters); not confirmed by bisecting.
func TestSimRegressionSwitchoverFollowerNeverRepaired(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 2, SyncCount: 2, Quorum: First, Ack: Durable, SyncLoss: syncLossDegrade, DegradeTicks: 1, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 7, FenceTicks: 5, MaxBatch: 1, MaxInflight: 3, RetainEntries: 6, SnapshotChunk: 0,
		DropPerMille: 10, DupPerMille: 0, MinDelay: 100, MaxDelay: 6200, NetSeed: 1},
		Ops: []simOp{
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPause, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPartition, Node: 6, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simSwitchover, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPartition, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simRead, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simSwitchover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}

// Found by a campaign with SetSync draws (then behind a flag), but it uses no membership
// step: AllowDataLoss, Applied, RetainEntries 3. n3, cut off with an empty
// log, is promoted (epoch 2, loss reported from LSN 1); its snapshot is
// at 0:0, the zero Position. It reseeds n1 with it; n1 installs it and
// answers offset 42 of 42. A late rejection from n1 (the answer to an
// earlier append, "last 3") makes compareCompacted reseed it again
// (leader.go: p.snapPos = Position{}, p.reseed = true). sendSnapshot then
// compares p.snapPos with snap.pos, both zero, so it keeps snapSent =
// snapAcked = total = 42 from the finished transfer and sends nothing;
// sendAppends goes through sendSnapshot while p.reseed holds, so n3 never
// sends n1 anything again (not even a heartbeat) and n1 never learns
// the commit LSN. The zero Position doubles as "no transfer" and as a
// real snapshot position.
func TestSimRegressionReseedWithSnapshotAtZeroStalls(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Applied, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: true,
		TimeoutTicks: 2, SuspectTicks: 4, FenceTicks: 4, MaxBatch: 1, MaxInflight: 1, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 4100, NetSeed: 2},
		Ops: []simOp{
			{Kind: simPartition, Node: 3, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 2, Wait: 4},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}

// Found by the random 100,000-schedule run with REPLSTORE_SIM_SEED=20261207
// on 7ae5bf0 (2026-12-05), after 91,950 clean schedules: under AckLevel
// Local (asynchronous commit), after switchovers, crashes and drops,
// healing every fault leaves n3 unrepaired ("n3's log ends at 3:9, leader
// n1's at 4:17 (the leader counts it as holding LSN 13, but their logs
// agree only up to 9: leader's view of the follower is wrong)"). It fails
// the same way on 17cd6d9, the build before that session: an older engine
// bug. The story (traced 2026-12-05): n3, leader of epoch 3 under
// Local, snapshotted at 3:17; n1 was promoted with a log that agrees only
// to 3:13 and sent appends from prev 3:13, which n3 matched ("received
// 13") but could not roll back below its own snapshot, so n1 reseeded it
// with its snapshot at 3:8. n3 threw its log away for it; the leader
// lowered its progress to 8, and then the late answers n3 had sent
// before the install ("received 13") arrived and raised it again. Fixed:
// a leader that starts reseeding a follower gives its progress a new
// Message.MemberVersion (core.trackVersion), which the snapshot carries
// and the follower echoes; answers to messages sent before carry the old
// one and are ignored.
func TestSimRegressionAsyncFollowerCreditedWithRolledBackLog(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 2, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 4, FenceTicks: 3, MaxBatch: 1, MaxInflight: 2, RetainEntries: 6, SnapshotChunk: 512,
		DropPerMille: 10, DupPerMille: 0, MinDelay: 600, MaxDelay: 14600, NetSeed: 925303619},
		Ops: []simOp{
			{Kind: simBurst, Node: 1, Key: 1, Session: 2, Arg: 3, Wait: 8},
			{Kind: simSwitchover, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simPut, Node: 0, Key: 1, Session: 0, Arg: 0, Wait: 8},
			{Kind: simCAS, Node: 0, Key: 2, Session: 1, Arg: 0, Wait: 1},
			{Kind: simRead, Node: 1, Key: 2, Session: 0, Arg: 3, Wait: 7},
			{Kind: simPut, Node: 0, Key: 1, Session: 0, Arg: 0, Wait: 8},
			{Kind: simCAS, Node: 1, Key: 1, Session: 2, Arg: 0, Wait: 0},
			{Kind: simBurst, Node: 0, Key: 1, Session: 2, Arg: 1, Wait: 6},
			{Kind: simRead, Node: 2, Key: 1, Session: 1, Arg: 2, Wait: 8},
			{Kind: simSwitchover, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simRead, Node: 1, Key: 2, Session: 1, Arg: 2, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simBurst, Node: 1, Key: 2, Session: 2, Arg: 3, Wait: 5},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 5},
			{Kind: simBurst, Node: 0, Key: 0, Session: 2, Arg: 2, Wait: 2},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simRead, Node: 1, Key: 0, Session: 0, Arg: 3, Wait: 1},
			{Kind: simPut, Node: 0, Key: 2, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 1, Key: 0, Session: 1, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 1, Key: 2, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}

// TestSimRegressionOnlyOldLeaderAnswersUnderLocal: under AckLevel Local, a
// follower damaged by a flipped byte (it answers no fencing round until a
// leader repairs it), the other one removed, and the leader crashed and
// restarted: the old leader answered every round, but the decider never
// considered it (only followers were candidates unless the leader had
// none), so no node ever led again and the damaged follower was never
// repaired. Found when the membership and disk-fault draws first ran
// together. The old leader holds every write it acknowledged; under
// asynchronous commit it now leads again when no follower answers.
func TestSimRegressionOnlyOldLeaderAnswersUnderLocal(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 2, SyncCount: 2, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0,
		ManualFailover: false, TickRates: []int(nil)},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simCorrupt, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRemoveFollower, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simCorrupt, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// TestSimRegressionLeaderLeadsItsEpochOnlyOnce: n2, promoted to epoch 3,
// sent the epoch's first entry (3:6) to n1 and then lost it from its own
// disk: a power cut tore the asynchronous flush that was to cover it. It
// restarted, took the coordinator's resent promotion to the same epoch 3
// and wrote a different 3:6 (another time stamp); n1 kept the first, as
// log matching lets it, and the logs differed at an entry both called
// 3:6. Found by the first 100,000-schedule campaign with the leader's
// flush off its goroutine and torn writes together (seed 20261210, after
// 10,708 schedules). A node now stores that it led an epoch
// (HardState.Led) and refuses a promotion to it after a restart; the
// next round promotes in a new epoch.
func TestSimRegressionLeaderLeadsItsEpochOnlyOnce(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 2, SyncCount: 2, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 7, FenceTicks: 4, MaxBatch: 2, MaxInflight: 6, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 150, DupPerMille: 100, MinDelay: 1100, MaxDelay: 3400, NetSeed: 6,
		ManualFailover: false, TickRates: []int(nil)},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPartition, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRetry, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simSwitchover, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 8},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simResume, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simCorrupt, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 2, Wait: 1},
			{Kind: simCorrupt, Node: 2, Key: 3, Session: 0, Arg: 0, Wait: 2},
			{Kind: simDelete, Node: 0, Key: 1, Session: 2, Arg: 0, Wait: 0},
			{Kind: simRead, Node: 1, Key: 1, Session: 1, Arg: 3, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 1, Arg: 0, Wait: 6},
			{Kind: simCorrupt, Node: 0, Key: 1, Session: 0, Arg: 1, Wait: 3},
			{Kind: simSample, Node: 0, Key: 1, Session: 2, Arg: 0, Wait: 5},
			{Kind: simRead, Node: 1, Key: 1, Session: 2, Arg: 2, Wait: 8},
			{Kind: simTornCrash, Node: 1, Key: 2, Session: 0, Arg: 1, Wait: 7},
			{Kind: simPut, Node: 1, Key: 2, Session: 0, Arg: 3, Wait: 3},
			{Kind: simCorrupt, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
		}})
}

// TestSimRegressionZombieAckAfterDamagedNewLeader: found by the
// 100,000-schedule campaign with REPLSTORE_SIM_SEED=20261212 on a667d0b
// (2026-12-05), after 96,659 clean schedules. n1 leads epoch 1 and is
// paused (a zombie) with write 0 at 1:2, which its two sync followers
// stored; n2 is promoted to epoch 2 and commits 2:3 on top of it; then a
// crash flips a byte in n2's log (simCorrupt on the leader), which cuts
// 1:2 and 2:3 off n2's disk. When n1 wakes it answers write 0
// "committed": a late acknowledgement, and a true one (n3 and n4 still
// hold 1:2, and n2 comes back repairing, out of every fencing round).
// The checker's fault, not the engine's: invariant 3's check read epoch
// 2's log from its leader's disk, which the damage had cut. It now also
// accepts the write when the record of what leaders committed (one
// history under sync commit, checked entry by entry) holds it there, and
// invariant 1 at the end of the run shows the next leader holds it.
func TestSimRegressionZombieAckAfterDamagedNewLeader(t *testing.T) {
	s := simSchedule{P: simParams{Nodes: 4, Sync: 2, SyncCount: 2, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 1, MaxInflight: 1, RetainEntries: 0, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 0,
		ManualFailover: false, TickRates: []int(nil)},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simCorrupt, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
		}}
	res := runSimScheduleOpts(s, false)
	if res.err != nil {
		t.Fatal(simFailure(s, res))
	}
	// The schedule must still reach the late acknowledgement it was
	// found with, or it no longer tests anything.
	require.GreaterOrEqual(t, res.stats.acked, 1, "write 0 acknowledged")
	require.GreaterOrEqual(t, res.stats.staleAcks, 1, "acknowledged by the deposed leader after epoch 2 committed")
}

// TestSimRegressionAckAfterSnapshotReplacedWrite: found by the
// 100,000-schedule campaign with REPLSTORE_SIM_SEED=20261213 (2026-12-06),
// after 73,653 clean schedules; an engine bug older than that day's
// changes (the build before them fails it too). n1 leads epoch 1 with one
// sync follower and is paused with writes 1:4 and 1:5 appended; n3 is
// promoted with data loss allowed (too few sync followers answered) and
// writes 2:4, 2:5, ... and compacts them. When n1 wakes, one batch takes
// the sync follower's old acknowledgement (n1 commits 1:4 and 1:5 by
// epoch 1's rule), the newer epoch (it steps down) and n3's snapshot at
// 2:11 (it installs it). Only then are the writes answered, and holds()
// took every LSN under the snapshot for the node's own: n1 answered write
// 2 "committed" at 1:4 while the entry at LSN 4 was 2:4. The first fix
// answered every write in the LSNs such an install replaced as of unknown
// outcome; since snapshots carry the history of epochs (epochs.go),
// holds() sees that epoch 2 wrote LSN 4, and core.writeFate (shared by
// the runtime and the simulator) answers write 2 rolled back. With
// holds() taking compacted LSNs for the node's own again, the schedule
// fails as it was found.
func TestSimRegressionAckAfterSnapshotReplacedWrite(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 4, Sync: 1, SyncCount: 1, Quorum: First, Ack: Durable, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: true,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 2, MaxInflight: 2, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 150, DupPerMille: 0, MinDelay: 100, MaxDelay: 4800, NetSeed: 145,
		ManualFailover: false, TickRates: []int(nil)},
		Ops: []simOp{
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 3, Wait: 2},
			{Kind: simBurst, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 7},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 4},
			{Kind: simPause, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simBurst, Node: 1, Key: 0, Session: 0, Arg: 1, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 6},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
		}})
}

// TestSimRegressionLocalOldLeaderShortcutAfterUnreportedPromotion: found
// by the 100,000-schedule campaign with REPLSTORE_SIM_SEED=20261214
// (2026-12-06), after 61,246 clean schedules; an engine bug from the day
// before (the decider's "only the old leader answered" shortcut, under
// asynchronous commit). The coordinator promotes n3 to epoch 2, and n3 is
// cut off from it before it reports its topology, so the coordinator's
// record still names n1, epoch 1's leader. n3 acknowledges writes 2:3 to
// 2:7 alone (AckLevel Local). The next failover hears only n1, and the
// shortcut took n1 for the old leader, which "holds every write it
// acknowledged": it promoted n1 at 1:1 to epoch 3 and reported no loss,
// and write 0 at 2:3 was lost unreported. The shortcut now needs the
// record to name the last node known to lead (FailoverView.LastLeader);
// otherwise the usual rule decides, and reports 2.. as possibly lost.
func TestSimRegressionLocalOldLeaderShortcutAfterUnreportedPromotion(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossBlock, DegradeTicks: 0, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 3, MaxBatch: 1, MaxInflight: 1, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 600, MaxDelay: 1600, NetSeed: 0,
		ManualFailover: false, TickRates: []int{1000, 1000, 1000, 1032}},
		Ops: []simOp{
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simCrash, Node: 1, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simFailover, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRemoveFollower, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRemoveFollower, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 2},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 5},
			{Kind: simPartition, Node: 0, Key: 0, Session: 0, Arg: 1, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
		}})
}

// TestSimRegressionFollowerSnapshotPastCrashedLog: found by the
// 100,000-schedule campaign with REPLSTORE_SIM_SEED=20261213 on 85ced44
// (2026-12-06), after 98,568 clean schedules; first failing at 1187a7d,
// where an async follower stopped syncing on batches it does not answer.
// n3, the async follower, applies through 1:8 and snapshots there while
// its log is synced only through LSN 6; a power cut loses LSNs 7..9. At
// restart its snapshot lies past its log, and the node resets the log to
// the snapshot (finishInstall), as designed: its state is the
// snapshot's. The checker's shadow of the log, which leaves entries
// under a Reset unknown until the sending node's shadow fills them, had
// no sender to fill them from, and the liveness phase found n3's log
// "different at LSN 1". The checker's fault: the shadow now keeps what
// it held before a crash until the node appends again, and a Reset to a
// Position it held takes the entries from there.
func TestSimRegressionFollowerSnapshotPastCrashedLog(t *testing.T) {
	runFixed(t, simSchedule{P: simParams{Nodes: 3, Sync: 1, SyncCount: 1, Quorum: First, Ack: Local, SyncLoss: syncLossDegrade, DegradeTicks: 1, AllowDataLoss: false,
		TimeoutTicks: 2, SuspectTicks: 3, FenceTicks: 2, MaxBatch: 6, MaxInflight: 18, RetainEntries: 3, SnapshotChunk: 0,
		DropPerMille: 0, DupPerMille: 0, MinDelay: 100, MaxDelay: 100, NetSeed: 5,
		ManualFailover: false, TickRates: []int(nil)},
		Ops: []simOp{
			{Kind: simRetry, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simWait, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simDelete, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simRetry, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 1},
			{Kind: simRetry, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 3},
			{Kind: simTornCrash, Node: 2, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simPut, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simSample, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 0},
			{Kind: simSample, Node: 0, Key: 0, Session: 0, Arg: 0, Wait: 4},
		}})
}
