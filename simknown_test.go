package replstore

import "slices"

// Engine bugs the simulation found that are not fixed yet. Each has a
// minimised regression test (simregress_test.go), skipped until the fix
// lands. So that the simulation keeps looking for other bugs meanwhile, a
// run that hits a known bug is counted and logged by TestSimulation
// instead of failing it. Fixing a bug: delete its entry here and the Skip
// in its regression test.

type simKnownBug struct {
	test  string // the regression test that reproduces it
	what  string
	match func(err string) bool
}

var simKnownBugs = []simKnownBug{}

// simChangeNotApplied marks a promotion decided on a sync list the old
// leader had proposed but not applied.
const simChangeNotApplied = "the coordinator's sync list was not yet the leader's"

// simStuckDivergent marks a liveness failure in which the leader believes
// a follower holds entries that the follower holds differently.
const simStuckDivergent = "leader's view of the follower is wrong"

// simSnapshotStalled marks a liveness failure in which a follower holds
// fewer bytes of a snapshot than the leader believes.
const simSnapshotStalled = "the leader will not resend what the follower lacks"

// simStaleLeaderCommit marks a loss outside the reported range because
// the range ended at a stale commit LSN.
const simStaleLeaderCommit = "the range ends at a stale commit LSN"

// simPromotionSkipsHolder marks a promotion decided on the topology of
// an epoch that never started.
const simPromotionSkipsHolder = "the candidate rule used a topology no leader ever ran"

// simTopologyDiverged marks a leader whose topology is not the one the
// coordinator recorded.
const simTopologyDiverged = "the leader's topology is not the coordinator's"

// simCASResultLost marks a CAS whose result was lost because its node
// applied it as a follower.
const simCASResultLost = "results of entries applied as a follower are not recorded"

// simReadBeforeEpochCommit marks a linearizability failure with a
// Leader read served before its leader committed in its epoch.
const simReadBeforeEpochCommit = "its commit LSN may miss acknowledged writes"

// simCompactedDivergence marks a log-matching failure below a node's
// compaction point.
const simCompactedDivergence = "a compacted prefix was taken as matching"

// simRangeFromLastLSN marks a loss below a reported range that starts at
// the candidate's last LSN.
const simRangeFromLastLSN = "the range ignores where the logs diverge"

// simHintBelowReceived marks a follower the leader never repairs because
// it ignores its rejections.
const simHintBelowReceived = "the divergent tail is never overwritten"

// simSuspicionsIgnored marks a liveness failure in which too few
// followers are at the coordinator's epoch for their suspicions to count.
const simSuspicionsIgnored = "their suspicions are ignored"

// simAckUnderSnapshot marks an acknowledgement for an LSN a snapshot
// from another leader covers.
const simAckUnderSnapshot = "holds() takes the snapshot's prefix for the node's own"

// simGhostWrite marks a write committed at another Position than the one
// its client was given.
const simGhostWrite = "the write committed somewhere its client was never told"

// simDegradedPromotion marks a promotion under a degraded leader that
// loses writes acknowledged under the sync rule.
const simDegradedPromotion = "a degraded view skips the sync quorum even for the writes acknowledged before the degrade"

// knownBug returns the known bug that err is, if any.
func knownBug(err error) *simKnownBug {
	if err == nil {
		return nil
	}
	i := slices.IndexFunc(simKnownBugs, func(b simKnownBug) bool { return b.match(err.Error()) })
	if i < 0 {
		return nil
	}
	return &simKnownBugs[i]
}
