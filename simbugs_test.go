package replstore

import (
	"testing"
)

// The simulation must be able to fail: with each planted bug of bugs.go
// switched on in turn, it must find the bug within a bounded number of
// schedules. Schedules come from fixed seeds, so the count each bug takes
// is the same on every run. A run that fails only on a known engine bug
// (simknown_test.go) does not count as finding the planted one.

// simPlantedBudget bounds the schedules the simulation may take to find
// each planted bug. Counts with every draw (membership, operations and
// faults of simdraws_test.go, disk faults of simdisk_test.go, the
// leader's flush of simflush_test.go; seeds 0, 1, ...): bugAckEarly 6,
// bugPromoteStale 6, bugAcceptOldEpoch 83, bugStaleLeaderReads 2254,
// bugApplyUncommitted 1, bugAckBeforeFlush 8, bugIgnoreIncarnation 782,
// bugLeaderCountsUnflushed 14 (before this wave's draws: 11, 27, 9, 576,
// 1, 15, within a budget of 2000).
//
// bugLeaderCountsUnflushed is caught by the crash check of what a leader
// counted as its own toward commit (simWorld.crash), not by invariant 1,
// which cannot see it: a failover promotes the old leader only under
// asynchronous commit when no follower answers, so the
// leader's own copy never decides whether an acknowledged write survives
// (the sync followers hold it, or under asynchronous commit the loss is
// in the promotion's reported range). With that check switched off it
// was not found in 2,000 schedules of the stream before the disk-fault
// merge, and after that merge only by the liveness phase's comparison of
// the logs, after 168 schedules.
const simPlantedBudget = 5000

var simPlanted = []struct {
	bug  plantedBug
	name string
}{
	{bugAckEarly, "bugAckEarly (acknowledge before the sync follower stores)"},
	{bugPromoteStale, "bugPromoteStale (promote a follower that lacks acknowledged writes)"},
	{bugAcceptOldEpoch, "bugAcceptOldEpoch (accept an append from an older epoch)"},
	{bugStaleLeaderReads, "bugStaleLeaderReads (a deposed leader serves Leader reads)"},
	{bugApplyUncommitted, "bugApplyUncommitted (apply an entry before it is committed)"},
	{bugAckBeforeFlush, "bugAckBeforeFlush (acknowledge Durable before the flush that covers it)"},
	{bugIgnoreIncarnation, "bugIgnoreIncarnation (credit a replica that lost data with what it acknowledged before)"},
	{bugLeaderCountsUnflushed, "bugLeaderCountsUnflushed (the leader counts itself toward commit before its flush completes)"},
}

// findPlanted runs schedules seed 0, 1, ... with bug planted until one
// fails on something that the same schedule without the bug does not
// (and that is not a known engine bug); it returns how many it ran and
// the failure.
func findPlanted(bug plantedBug, budget int) (int, simSchedule, simResult) {
	for seed := 0; seed < budget; seed++ {
		s := simScheduleGen.Example(seed)
		res := runSimScheduleBug(s, false, bug)
		if res.err == nil || knownBug(res.err) != nil {
			continue
		}
		if base := runSimSchedule(s); base.err == nil || knownBug(base.err) != nil {
			return seed + 1, s, res
		}
	}
	return budget, simSchedule{}, simResult{}
}

// TestSimFindsPlantedBugs plants each bug and counts the schedules the
// simulation needs to find it. The bug is planted through the cores'
// and the decider's configuration of each run, so nothing else sees it.
func TestSimFindsPlantedBugs(t *testing.T) {
	if raceEnabled {
		// One goroutine, thousands of schedules: the race detector adds
		// minutes and finds nothing. CI runs this without -race (.ci/run).
		t.Skip("the planted-bug proofs run without -race (go test -run TestSimFindsPlantedBugs .)")
	}
	for _, pb := range simPlanted {
		n, s, res := findPlanted(pb.bug, simPlantedBudget)
		if res.err == nil {
			t.Errorf("%s: not found in %d schedules", pb.name, n)
			continue
		}
		t.Logf("%s: found after %d schedules: %v\n%s", pb.name, n, firstLine(res.err.Error()), s)
	}
}
