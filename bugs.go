package replstore

// plantedBug names a known bug that tests can switch on, to prove that
// the simulation and the invariant checks catch it. It is injected
// through the core's configuration (coreConfig.bug) and the decider's
// (QuorumCoordinator.bug), never through a global; production code never
// sets either: the zero value plants nothing.
type plantedBug uint8

const (
	bugNone plantedBug = iota
	// bugAckEarly: the leader counts an entry as committed as soon as it
	// appends it, before any sync follower stores it.
	bugAckEarly
	// bugPromoteStale: failover promotes the least up-to-date node that
	// answered, which may lack acknowledged writes.
	bugPromoteStale
	// bugAcceptOldEpoch: a node accepts appends from an epoch older than
	// one it has seen.
	bugAcceptOldEpoch
	// bugStaleLeaderReads: the leader serves Leader reads without proving
	// it still leads.
	bugStaleLeaderReads
	// bugApplyUncommitted: a follower applies entries as soon as it
	// stores them, before they are committed.
	bugApplyUncommitted
	// bugAckBeforeFlush: a follower acknowledges entries as Durable
	// before the flush that covers them (it syncs a batch later).
	bugAckBeforeFlush
	// bugIgnoreIncarnation: the leader takes a follower's new storage
	// incarnation without resetting its progress, crediting a replica
	// that lost data with what it acknowledged before.
	bugIgnoreIncarnation
	// bugLeaderCountsUnflushed: the leader counts itself toward commit
	// for entries it has appended but whose flush has not completed.
	bugLeaderCountsUnflushed
)
