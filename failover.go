package replstore

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// ErrNoSafeCandidate is returned by a failover that cannot find a node
// that provably holds every acknowledged write (too few sync followers
// answered). Nothing was promoted. FailoverOptions.AllowDataLoss, or
// Config.AllowDataLoss for automatic failover, promotes anyway.
var ErrNoSafeCandidate = errors.New("replstore: no node provably holds every acknowledged write")

// LSNRange is the LSNs From through To; the zero value is empty. To is
// MaxLSN when the range is open: every LSN from From on.
type LSNRange struct{ From, To LSN }

// MaxLSN, as LSNRange.To, leaves the range open.
const MaxLSN = ^LSN(0)

// Empty reports whether the range holds no LSN.
func (r LSNRange) Empty() bool { return r.From == 0 || r.To < r.From }

func (r LSNRange) String() string {
	switch {
	case r.Empty():
		return "none"
	case r.To == MaxLSN:
		return fmt.Sprintf("%d..", r.From)
	}
	return fmt.Sprintf("%d..%d", r.From, r.To)
}

// FailoverView is what the coordinator knows when it decides a promotion.
type FailoverView struct {
	OldEpoch, NewEpoch Epoch
	Topology           Topology // in force before the failover
	// LastLeader is the last node known to have led: the one the
	// coordinator promoted last, or a later one that reported as leader.
	// It is not Topology.Leader when a promotion has not reported a
	// settled topology yet; under asynchronous commit that node may have
	// acknowledged writes, without the coordinator, that
	// Topology.Leader lacks.
	LastLeader NodeID
	// Earlier are topologies in force before Topology whose sync sets may
	// still hold acknowledged writes Topology's sync set lacks (a change
	// that had not settled yet: its new sync followers were catching up),
	// or that committed alone (Degraded) before a restore had settled. The
	// candidate rule must hold for each of them as well.
	Earlier   []TopologyUpdate
	Quorum    Quorum
	SyncCount int
	AckLevel  AckLevel
	// Degraded: the leader was committing alone (DegradeAfter) since
	// LSN DegradedFrom+1.
	Degraded     bool
	DegradedFrom LSN
	// LeaderCommit is the last commit LSN the leader reported: every
	// acknowledged write is at or below it.
	LeaderCommit LSN
	// Replies holds the nodes that took the new epoch (so the old leader
	// can no longer commit through them) and the last Position of each.
	Replies map[NodeID]Position
	// Bases holds, for each epoch the coordinator promoted a node in, the
	// Position that node held when promoted: its log up to there was its
	// predecessors', and its own entries follow. With it a decider can
	// tell where any node's log (known by its last Position) departs from
	// the old leader's: entries with the same epoch at the same LSN are the
	// same entry. An epoch it does not hold began at LSN 1.
	Bases map[Epoch]Position
	// Target is the node a switchover must promote; "" for a failover.
	Target        NodeID
	AllowDataLoss bool
}

// Decision is a coordinator's answer: whom to promote and with what
// topology, and which acknowledged writes the promotion may lose.
type Decision struct {
	Promote  NodeID
	Topology Topology
	// MayLose is the range of LSNs that may have been acknowledged and
	// that Promote does not hold: empty when the sync quorum answered
	// under sync commit. Otherwise it starts where Promote's log departs
	// from the old leader's and is open (To is MaxLSN): the old leader
	// may have acknowledged writes after it last reported, and a sync
	// follower the fencing round missed may still take them. The old
	// leader's rollback, when it returns, lists what it drops that is
	// still in its log (EventRolledBack).
	MayLose LSNRange
	// LeaderCommit is the old leader's commit LSN as it last reported it:
	// the LSNs of MayLose up to it were certainly committed.
	LeaderCommit LSN
	Reason       string
}

// Coordinator decides promotions. It is called by the failover machinery
// with the replies of a fencing round; it must be deterministic. The
// in-process implementation is QuorumCoordinator; one backed by a
// consensus service can replace it.
type Coordinator interface {
	Decide(v FailoverView) (Decision, error)
}

// QuorumCoordinator promotes only a node that provably holds every
// acknowledged write: with n of m sync followers needed for commit (FIRST
// or ANY), it needs answers from m-n+1 of them (any n that acknowledged a
// write intersect them) and promotes the most up-to-date node that
// answered. Under asynchronous commit (AckLevel Local, or degraded) no
// node can prove it, so it promotes the most up-to-date one and reports
// what may be lost.
type QuorumCoordinator struct {
	bug plantedBug // only tests plant one (bugs.go)
}

// Decide implements Coordinator.
func (q QuorumCoordinator) Decide(v FailoverView) (Decision, error) {
	if old, answered := v.Replies[v.Topology.Leader]; answered && v.Target == "" && v.Topology.Leader == v.LastLeader &&
		(len(v.Earlier) == 0 || v.AckLevel == Local) {
		// A leader without followers (all removed, under asynchronous
		// commit) holds every write it acknowledged: it leads again, in
		// the new epoch (after a restart, or once it is reachable).
		if len(v.Topology.followers()) == 0 {
			return Decision{Promote: v.Topology.Leader, Topology: v.Topology.clone(), LeaderCommit: v.LeaderCommit,
				Reason: fmt.Sprintf("the old leader has no followers and answered at %v", old)}, nil
		}
		// Under asynchronous commit the same holds when none of its
		// followers answered (crashed, or a damaged replica waiting for
		// its repair): any promotion may lose writes, and the old leader
		// loses none of those it acknowledged, so waiting for the others
		// would only leave the cluster without a leader. (Under sync
		// commit the topology's leader may not be the last one that
		// committed; the quorum rule below decides.)
		if _, any := bestReply(v, nil); !any && v.AckLevel == Local && q.bug != bugPromoteStale {
			return Decision{Promote: v.Topology.Leader, Topology: v.Topology.clone(), LeaderCommit: v.LeaderCommit,
				Reason: fmt.Sprintf("only the old leader answered, at %v", old)}, nil
		}
	}
	// A member of the topology in force first. A node a recorded change
	// removes, whose removal has not settled (it is in Earlier), only if
	// no member answered, or if under sync commit it is ahead of every
	// member that did (it may hold acknowledged writes they lack): then
	// the promotion undoes the removal, which never completed.
	cand, ok := bestReply(v, v.Topology.has)
	if any, anyOK := bestReply(v, nil); anyOK && (!ok || v.AckLevel != Local && v.Replies[cand].Less(v.Replies[any])) {
		cand, ok = any, true
	}
	if q.bug == bugPromoteStale {
		cand, ok = worstReply(v)
	}
	if !ok {
		return Decision{}, fmt.Errorf("%w: no node answered the fencing round", ErrNoSafeCandidate)
	}
	if v.Target != "" {
		pos, answered := v.Replies[v.Target]
		if !answered {
			return Decision{}, fmt.Errorf("%w: switchover target %s did not answer the fencing round", ErrNodeDown, v.Target)
		}
		if pos.Less(v.Replies[cand]) {
			return Decision{}, fmt.Errorf("%w: switchover target %s is at %v, behind %s at %v", ErrNoSafeCandidate, v.Target, pos, cand, v.Replies[cand])
		}
		cand = v.Target
	}
	d := Decision{Promote: cand, Reason: "most up-to-date node of the fencing quorum", LeaderCommit: v.LeaderCommit}
	lossPossible := false
	// Degraded or not, writes acknowledged under the sync rule (through
	// DegradedFrom) are on the sync quorum: it must answer.
	syncCommit := v.AckLevel != Local && len(v.Topology.Sync) > 0
	if syncCommit {
		lists := []Topology{v.Topology}
		for _, e := range v.Earlier {
			lists = append(lists, e.Topology)
			lossPossible = lossPossible || e.Degraded // acknowledged by the leader alone
		}
		for _, t := range lists {
			need := len(t.Sync) - v.SyncCount + 1
			got := heard(v.Replies, t.Sync)
			if got < need && !v.AllowDataLoss {
				return Decision{}, fmt.Errorf("%w: %d of the sync followers %v answered, %d needed (%v %d); a promotion could lose LSNs up to %d",
					ErrNoSafeCandidate, got, t.Sync, need, v.Quorum, v.SyncCount, v.LeaderCommit)
			}
			if got < need {
				d.Reason = "allowed data loss: too few sync followers answered"
				lossPossible = true
			}
		}
		if v.Degraded {
			lossPossible = true // writes after DegradedFrom had the leader alone
		}
	} else {
		d.Reason = "asynchronous commit: most up-to-date node that answered"
		lossPossible = true
	}
	if lossPossible {
		d.MayLose = LSNRange{From: v.divergence(v.Replies[cand]) + 1, To: MaxLSN}
	}
	// The vacated sync slot goes to an async follower of the topology in
	// force, never to a node a recorded change removed (it answered
	// because its removal has not settled; its client may stop it).
	best, ok := bestReply(v, func(id NodeID) bool { return id != cand && !slices.Contains(v.Topology.Sync, id) && v.Topology.has(id) })
	if !ok {
		// No async follower answered before the round decided (their
		// answers may be on the way). Fill the vacated sync slot with one
		// of them anyway, not with the old leader, which the round has
		// just failed to reach: under Block a sync set of a dead node
		// commits nothing, and the new sync set settles only once a
		// member holds the epoch's first entry, so a lagging but live
		// follower catches up and commits resume.
		for _, a := range v.Topology.Async {
			if a != cand && a != v.Topology.Leader {
				best = a
				break
			}
		}
	}
	d.Topology = v.Topology.promote(cand, best)
	return d, nil
}

// worstReply is the least up-to-date answering node (for bugPromoteStale).
func worstReply(v FailoverView) (NodeID, bool) {
	var worst NodeID
	for id, pos := range v.Replies {
		if id != v.Topology.Leader && (worst == "" || pos.Less(v.Replies[worst]) || pos == v.Replies[worst] && id < worst) {
			worst = id
		}
	}
	return worst, worst != ""
}

// bestReply is the most up-to-date answering node other than the old
// leader (and allowed by ok): highest Position, ties to the sync list's
// priority order, then the async list's.
func bestReply(v FailoverView, ok func(NodeID) bool) (NodeID, bool) {
	order := v.Topology.followers()
	rank := func(id NodeID) int {
		if i := slices.Index(order, id); i >= 0 {
			return i
		}
		return len(order)
	}
	var ids []NodeID
	for id := range v.Replies {
		if id != v.Topology.Leader && (ok == nil || ok(id)) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "", false
	}
	slices.SortFunc(ids, func(a, b NodeID) int {
		pa, pb := v.Replies[a], v.Replies[b]
		if pa != pb {
			if pb.Less(pa) {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
	})
	return ids[0], true
}

// epochAt returns the epoch of the entry at LSN l in the log of a node
// whose last entry is last, as Bases describes the logs (0 past last).
func (v FailoverView) epochAt(last Position, l LSN) Epoch {
	for l <= last.LSN && l > 0 {
		base, ok := v.Bases[last.Epoch]
		if !ok || l > base.LSN || base.Epoch >= last.Epoch {
			return last.Epoch
		}
		last = base
	}
	return 0
}

// runStart returns the first LSN of the run of entries of one epoch that
// holds LSN l in the log ending at last.
func (v FailoverView) runStart(last Position, l LSN) LSN {
	for {
		base, ok := v.Bases[last.Epoch]
		if !ok || base.Epoch >= last.Epoch {
			return 1
		}
		if l > base.LSN {
			return base.LSN + 1
		}
		last = base
	}
}

// divergence returns the last LSN up to which the log ending at pos is
// the old leader's (which may have grown past what it reported): above
// it, writes the old leader acknowledged are not in that log.
func (v FailoverView) divergence(pos Position) LSN {
	old := Position{Epoch: v.OldEpoch, LSN: MaxLSN}
	for _, ok := v.Bases[old.Epoch]; !ok && old.Epoch > 1; _, ok = v.Bases[old.Epoch] {
		old.Epoch-- // the last epoch that had a leader
	}
	l := pos.LSN
	for l > 0 {
		if v.epochAt(pos, l) == v.epochAt(old, l) {
			return l
		}
		l = max(v.runStart(pos, l), v.runStart(old, l)) - 1
	}
	return 0
}
