package replstore

import (
	"errors"
	"fmt"
)

// Disk faults in the simulation. A node's disk is its simLog (and its
// MemHardState, which these faults leave alone). Besides the plain crash,
// which loses every record the node appended and never synced, a
// schedule draws:
//
//   - simTornCrash: the power goes while the node flushes a batch: the
//     node's next Sync with records to sync fails the node instead (a
//     plain crash falls between batches, when everything appended is
//     synced, since the driver syncs before any message leaves). Of the
//     batch's records, those wholly before the tear (a random byte) are
//     on disk, the torn one is cut off at open as a torn tail (wal's
//     rule), and the rest are lost; nothing the batch produced was sent.
//     The node comes back holding entries it never acknowledged, or
//     without entries the leader sent it, and catches up.
//   - simCorrupt: the crash also flips a byte in one of the node's SYNCED
//     records. At its next open the log finds the bad checksum and cuts
//     itself off before the record (wal.Options.TruncateDamaged); the
//     node records the loss (a larger StorageIncarnation, Repairing)
//     before it sends anything, is repaired by the leader like any
//     follower that is behind, and until then stays out of fencing
//     rounds. The damaged entry is never applied or served: it is gone.
//
// What the simulation guarantees, so that "no acknowledged write is
// lost" can hold: at most one replica per schedule is damaged, and only
// in runs whose commit rule needs two sync followers (SyncCount 2), so
// that every acknowledged write has an undamaged copy on a sync follower
// and a failover that cannot count the damaged replica can still meet
// the candidate rule. Damage to the only copy of a write is loss no
// replication protocol can undo; with SyncCount 1 the cluster would stay
// safe (a failover that needs the damaged replica's answer blocks) but
// could wait for an operator forever, which the liveness phase would
// report. Nor in runs that may acknowledge a write with fewer than two
// sync copies on purpose: SyncLoss DegradeAfter (the leader alone) or a
// schedule that removes followers (the sync list shrinks under the
// commit rule's feet): with either, the first 100,000-schedule campaign
// of the merged draws found a write lost to one flipped byte, which is
// the fault's arithmetic, not an engine bug. Any other draw of simCorrupt
// is a plain crash.

// tornCrash is crash for a torn last write: the first keep unsynced
// records (of those the node holds) survive, the rest are lost. It
// returns the first LSN lost (0 if none).
func (l *simLog) tornCrash(keep int) LSN {
	unsynced := int(l.Last().LSN - max(l.synced, l.First()-1))
	if unsynced <= 0 {
		return 0
	}
	l.synced = max(l.synced, l.First()-1) + LSN(keep%(unsynced+1)) // written out before the power went
	return l.crash()
}

// flip damages the synced record at lsn: the log cuts itself off before
// it at the next open and reports the loss.
func (l *simLog) flip(lsn LSN) {
	if err := l.TruncateAfter(lsn - 1); err != nil {
		panic("simulation: cutting off a damaged record: " + err.Error())
	}
	l.damage = lsn
	if l.Last().LSN < lsn-1 {
		panic("simulation: a damaged log lost more than its damaged suffix")
	}
}

// Damage implements DamageReporter.
func (l *simLog) Damage() (LSN, bool) { return l.damage, l.damage != 0 }

// ClearDamage implements DamageReporter.
func (l *simLog) ClearDamage() error {
	l.damage = 0
	return nil
}

// errSimPowerCut is what a simLog's Sync returns when the power goes
// during it (simTornCrash).
var errSimPowerCut = errors.New("simulation: power cut during the flush")

// tornCrash arms n's disk: the power goes during its next flush, which
// leaves keep of the flushed records (modulo their number plus one).
func (w *simWorld) tornCrash(n *simNode, keep int) {
	if n.core != nil {
		n.log.powerCut = keep + 1
	}
}

// powerCut crashes n, whose flush the power cut (afterStep calls it).
func (w *simWorld) powerCut(n *simNode) {
	w.stats.tornCrashes++
	n.tornKeep = n.log.tornKeep + 1 // crash reads it
	w.trace.add(simTraceRec{now: w.now, what: traceEvent, node: n.id, a: uint64(EventLog),
		text: fmt.Sprintf("DISK: power cut during the flush of LSNs %d..%d; a torn write keeps %d of them", n.log.synced+1, n.log.Last().LSN, n.log.tornKeep)})
	w.crash(n)
}

// corrupt crashes n and flips a byte in one of its synced records,
// chosen by where, if this schedule may still damage a replica (see
// above); otherwise it is a plain crash.
func (w *simWorld) corrupt(n *simNode, where int) {
	if n.core == nil {
		return
	}
	w.crash(n)
	// The records on disk, all synced after the crash, above the node's
	// snapshot: a damaged record the snapshot covers costs the node
	// nothing it cannot restore (the log is reset to the snapshot at
	// open, finishInstall), but the shadow the checker keeps would lose
	// those entries' history.
	snapPos, _, _ := n.stable.LoadSnapshot()
	lo, hi := max(n.log.First(), snapPos.LSN+1), n.log.synced
	if w.p.SyncCount != 2 || w.p.SyncLoss == syncLossDegrade || w.removesFollowers || w.damagedNode != nil || hi < lo {
		return
	}
	lsn := lo + LSN(where)%(hi-lo+1)
	w.damagedNode = n
	w.stats.damaged++
	w.trace.add(simTraceRec{now: w.now, what: traceEvent, node: n.id, a: uint64(EventLog), c: uint64(lsn),
		text: fmt.Sprintf("DISK: a byte of synced LSN %d flipped (log held %d..%d); the next open cuts the log before it", lsn, lo, hi)})
	n.log.flip(lsn)
}

// promotedOnStaleAnswer reports whether the coordinator chose the
// damaged replica on a fencing answer it sent before the damage (it
// was in flight when the node crashed): the node no longer holds what
// it answered, so it must refuse the promotion, which checkDamaged
// checks.
func (w *simWorld) promotedOnStaleAnswer(v FailoverView, d Decision) bool {
	n := w.damagedNode
	if n == nil || n.id != d.Promote {
		return false
	}
	hs, _ := n.stable.Load()
	if n.log.damage == 0 && !hs.Repairing && n.log.holds(v.Replies[d.Promote]) {
		return false
	}
	w.mustRefuse = v.NewEpoch
	return true
}

// checkDamagedCredit: a leader that has heard from the damaged replica's
// current storage incarnation credits it with nothing it does not hold
// (under sync commit, where the leader's progress counts only entries
// of its own log the follower matched). Like checkCredit, it holds a
// leader to this only for a replica in the leader's own epoch: once the
// replica follows a newer leader, that leader may have rolled back what
// the deposed one credited it with, and the deposed leader, cut off,
// cannot know (it cannot commit on that credit either: the replica
// refuses its epoch).
func (w *simWorld) checkDamagedCredit(ldr *simNode) {
	x := w.damagedNode
	if x.core == nil || x == ldr || w.fail != nil || w.lossPossible() || x.epoch() != ldr.core.epoch {
		return
	}
	p := ldr.core.progressOf(x.id)
	if p == nil || p.incarnation != x.core.hard.incarnation || p.durable < x.log.First() {
		return
	}
	want, ok := ldr.log.at(p.durable)
	if ok && want != (Position{}) && !x.log.holds(want) {
		w.violate("%s credits %s (storage incarnation %d) with LSN %d as Durable, which it does not hold (its log ends at %v): it lost it to a flipped byte",
			ldr.id, x.id, p.incarnation, p.durable, x.log.Last())
	}
}

// checkDamaged follows the damaged replica: once restarted it must know
// it is Repairing with a new StorageIncarnation until a leader has
// repaired it, and a repaired one is counted.
func (w *simWorld) checkDamaged() {
	n := w.damagedNode
	if n == nil || n.core == nil || w.fail != nil {
		return
	}
	if n.log.damage != 0 {
		w.violate("%s restarted over a damaged log and did not record the damage", n.id)
		return
	}
	if n.core.role == roleLeader && n.core.epoch == w.mustRefuse {
		w.violate("%s leads epoch %d, promoted on a fencing answer it sent before a flipped byte cost it entries; it must refuse", n.id, n.core.epoch)
		return
	}
	if !n.repairSeen && !n.core.hard.repairing {
		n.repairSeen = true
		w.stats.repaired++
	}
}
