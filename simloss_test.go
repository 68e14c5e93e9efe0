package replstore

import (
	"fmt"
	"slices"
	"strings"
)

// Failover and loss accounting. Every promotion the coordinator decides
// is watched (simDecider): under the sync rule the promoted node must hold
// every acknowledged write; a promotion that may lose writes must report
// the range (EventDataLoss); and every acknowledged write that goes
// missing is accounted for: lost under asynchronous commit (or by an
// operator's leave to lose data) and reported, by a promotion's range or
// by the rollback that dropped it, or else an invariant is broken.

// simLossRange is a promotion's reported range of LSNs that may be lost.
type simLossRange struct {
	epoch        Epoch // the epoch of the promotion
	r            LSNRange
	allowed      bool    // the operator (or Config) allowed data loss
	async        bool    // decided under asynchronous commit
	leaderCommit LSN     // the old leader's commit LSN as the coordinator knew it
	candidate    []Entry // the promoted node's log when it was chosen
	// unstarted: the epoch before had committed nothing, so its
	// topology (which this decision trusted) was never in force.
	unstarted bool
}

// checkPromotion: unless the operator allowed a loss, the node a
// failover promotes holds every write acknowledged under the sync rule
// (invariant 1, at the moment it is decided; losses are accepted only
// above what some sync follower stored); and, in a run that never
// commits asynchronously, everything committed (invariant 2).
func (w *simWorld) checkPromotion(v FailoverView, d Decision) {
	k := &w.chk
	if v.AllowDataLoss || w.promotedOnStaleAnswer(v, d) {
		return
	}
	cn := w.lookup(d.Promote)
	if cn == nil {
		return // checkDecisionMembers reported it
	}
	cand := cn.log
	lacks, gaveUp := "", ""
	for _, i := range k.acks {
		if c := &w.calls[i]; !c.asyncAck && !c.lost && !cand.holds(c.pos) {
			if k.givenUp(c.pos, v.NewEpoch) {
				continue // an earlier promotion the operator allowed lost it, and said so
			}
			lacks = fmt.Sprintf("write %d acknowledged under the sync rule at %v", i, c.pos)
			if c.node == v.Topology.Leader && !slices.Equal(c.ackSync, v.Topology.Sync) {
				gaveUp = fmt.Sprintf(" (it was acknowledged through sync %v; the round trusts sync %v, a change %s made since: %s)",
					c.ackSync, v.Topology.Sync, c.node, simChangeNotApplied)
			}
			// An earlier promotion the operator allowed to lose data may
			// have given it up already, without reporting it.
			for _, e := range k.decisions {
				held := LSN(len(e.candidate)) >= c.pos.LSN && e.candidate[c.pos.LSN-1].Pos == c.pos
				if e.allowed && e.epoch > c.pos.Epoch && e.epoch < v.NewEpoch && !held && c.pos.LSN > e.leaderCommit {
					gaveUp = fmt.Sprintf(" (the promotion to epoch %d, allowed to lose data, gave it up and reported range %v from the old leader's commit LSN as last reported, %d: %s)",
						e.epoch, e.r, e.leaderCommit, simStaleLeaderCommit)
				}
			}
			break
		}
	}
	if lacks == "" && !w.lossPossible() && len(k.committed) > 0 {
		if last := k.committed[len(k.committed)-1]; !cand.holds(last) {
			lacks = fmt.Sprintf("committed %v", last)
		}
	}
	if lacks == "" {
		return
	}
	note := gaveUp
	var old *core
	if on := w.anyNode(v.Topology.Leader); on != nil {
		old = on.core
	}
	switch {
	case note != "":
	case k.committedEpoch < v.OldEpoch: // the same test as unstarted
		note = fmt.Sprintf(" (epoch %d, whose topology sync %v leader %s this round trusts, never committed anything: %s)",
			v.OldEpoch, v.Topology.Sync, v.Topology.Leader, simPromotionSkipsHolder)
	case old != nil && old.topoVersion < w.coord.update.Version:
		note = fmt.Sprintf(" (the coordinator recorded topology version %d, sync %v, which leader %s had proposed but not applied: it still committed through sync %v: %s)",
			w.coord.update.Version, v.Topology.Sync, old.id, old.syncList, simChangeNotApplied)
	case v.Degraded:
		note = fmt.Sprintf(" (the leader of epoch %d had degraded to asynchronous commit from LSN %d: %s)", v.OldEpoch, v.DegradedFrom, simDegradedPromotion)
	}
	w.violate("invariant 1: the promotion to epoch %d picks %s (at %v), which lacks %s%s",
		v.NewEpoch, d.Promote, v.Replies[d.Promote], lacks, note)
}

// markLost accounts for an acknowledged write that the current leader
// does not hold. Under the sync rule that breaks invariant 1 unless the
// operator allowed a loss and a promotion reported the range; a write
// acknowledged under asynchronous commit must be reported, by a promotion
// or by the rollback that drops it (checked at the end of the run).
func (w *simWorld) markLost(i int, by NodeID) {
	c := &w.calls[i]
	c.lost = true
	w.stats.lost++
	r, covered := w.chk.lossCovering(c.pos)
	switch {
	case covered && (c.asyncAck || r.allowed):
		w.stats.lostInRange++
	case !c.asyncAck && covered:
		note := ""
		if r.unstarted {
			note = fmt.Sprintf(" (epoch %d, whose topology it trusted, never committed anything: %s)", r.epoch-1, simPromotionSkipsHolder)
		}
		w.violate("invariant 1: write %d at %v, acknowledged under the sync rule, lost by the promotion to epoch %d (range %v reported, but no one allowed data loss)%s",
			i, c.pos, r.epoch, r.r, note)
	case !c.asyncAck:
		w.violate("invariant 1: write %d at %v (acknowledged by %s) is not in leader %s's log, and no loss was reported%s",
			i, c.pos, c.node, by, w.chk.staleCommitNote(c.pos, false))
	}
}

// staleCommitNote explains a loss that a promotion allowed to lose data
// did not report because the coordinator's idea of the old leader's
// commit LSN was older than the write.
//
// asyncAck says the write was acknowledged under asynchronous commit: any
// promotion after it must then account for it, whatever its own view.
func (k *simChecker) staleCommitNote(pos Position, asyncAck bool) string {
	for _, d := range k.decisions {
		below := LSN(len(d.candidate)) >= pos.LSN // the candidate has an entry there
		covered := !d.r.Empty() && d.r.From <= pos.LSN && pos.LSN <= d.r.To
		if d.epoch > pos.Epoch && (d.allowed || d.async || asyncAck) && below && d.candidate[pos.LSN-1].Pos != pos && !covered {
			return fmt.Sprintf(" (the promotion to epoch %d reported range %v, counted from its candidate's last LSN %d, though the candidate holds another entry at LSN %d: %s)",
				d.epoch, d.r, len(d.candidate), pos.LSN, simRangeFromLastLSN)
		}
	}
	for _, d := range k.decisions {
		if d.epoch > pos.Epoch && (d.allowed || d.async || asyncAck) && pos.LSN > d.leaderCommit {
			return fmt.Sprintf(" (the promotion to epoch %d, allowed to lose data, reported range %v from the old leader's commit LSN as last reported, %d: %s)",
				d.epoch, d.r, d.leaderCommit, simStaleLeaderCommit)
		}
	}
	return ""
}

// lossCovering finds a reported range, of a promotion after pos's epoch,
// that covers pos.
func (k *simChecker) lossCovering(pos Position) (simLossRange, bool) {
	for _, r := range k.losses {
		if r.epoch > pos.Epoch && r.r.From <= pos.LSN && pos.LSN <= r.r.To {
			return r, true
		}
	}
	return simLossRange{}, false
}

// givenUp reports whether a promotion before epoch before, which the
// operator allowed to lose data, promoted a node lacking the write at pos
// and reported a range covering it.
func (k *simChecker) givenUp(pos Position, before Epoch) bool {
	for _, e := range k.decisions {
		held := LSN(len(e.candidate)) >= pos.LSN && e.candidate[pos.LSN-1].Pos == pos
		if e.allowed && e.epoch > pos.Epoch && e.epoch < before && !held && e.r.From <= pos.LSN && pos.LSN <= e.r.To {
			return true
		}
	}
	return false
}

// onDataLoss matches the coordinator's EventDataLoss with the decision
// that caused it.
func (k *simChecker) onDataLoss(w *simWorld, e Event) {
	pl := k.pendingLoss
	if pl == nil || pl.epoch != e.Epoch || pl.r.From != e.LSN {
		w.violate("EventDataLoss (epoch %d, LSN %d) does not match the decision's range %+v", e.Epoch, e.LSN, pl)
		return
	}
	k.losses = append(k.losses, *pl)
	k.pendingLoss = nil
	w.stats.lossReports++
}

// onRollback records what a rollback reported as lost.
func (k *simChecker) onRollback(w *simWorld, n *simNode, e Event) {
	w.stats.rollbacks++
	i := strings.Index(e.Detail, "; LSNs ")
	if i < 0 {
		return
	}
	var from, to LSN
	if _, err := fmt.Sscanf(e.Detail[i:], "; LSNs %d..%d were committed", &from, &to); err != nil {
		w.violate("rollback on %s: cannot parse the lost range in %q", e.Node, e.Detail)
		return
	}
	for _, ent := range e.Entries {
		if from <= ent.Pos.LSN && ent.Pos.LSN <= to {
			k.rolledLost[ent.Pos] = true
		}
	}
	if n != nil {
		n.droppedCommitted = true
	}
}
