package replstore

import (
	"bytes"
	"fmt"
	"slices"
)

// Liveness: once every fault is lifted, the cluster must elect one leader,
// commit, and bring every replica to the same log and the same state;
// after every node restarts at once (a power cut), again; and it must
// then take a write.
const simLivenessTicks = 150

// liveness heals everything, restarts every node and runs on; it returns
// the converged log.
func (w *simWorld) liveness() []Entry {
	w.endMemberCalls()
	w.net.heal()
	w.restartCoordinator()
	for _, n := range w.nodes {
		n.log.powerCut = 0 // no power cut armed by simTornCrash is left to fire
	}
	w.net.drop, w.net.dup = 0, 0
	w.net.maxDelay = min(w.net.maxDelay, simTick/2)
	w.net.minDelay = min(w.net.minDelay, w.net.maxDelay)
	for _, n := range w.nodes {
		w.resume(n)
		w.restart(n)
	}
	if !w.converge("after healing every fault") {
		return nil
	}
	for _, n := range w.nodes {
		w.crash(n)
	}
	for _, n := range w.nodes {
		w.restart(n)
	}
	if !w.converge("after restarting every node") {
		return nil
	}
	w.values++
	i := w.newCall(simCall{kind: callPut, session: 0, key: 0, value: w.values})
	ldr := w.currentLeader()
	w.calls[i].node = ldr.id
	w.input(ldr, []simInput{{call: i}})
	for t := 0; t < simLivenessTicks && w.fail == nil && w.calls[i].status == statusPending; t++ {
		w.runFor(simTick)
	}
	if w.fail == nil && w.calls[i].status != statusOK {
		w.violate("liveness: a write to leader %s after convergence ended %d (%s)", ldr.id, w.calls[i].status, w.calls[i].why)
	}
	if !w.converge("after a last write") {
		return nil
	}
	w.removeOrphans(w.currentLeader())
	if w.fail != nil {
		return nil
	}
	return w.sameEverywhere()
}

// converge runs until converged holds, or fails the run.
func (w *simWorld) converge(when string) bool {
	for t := 0; t < simLivenessTicks && w.fail == nil; t++ {
		if w.converged() == "" {
			return true
		}
		w.operatorFailover(t)
		w.runFor(simTick)
	}
	if w.fail == nil {
		w.violate("liveness: no convergence %s within %d ticks: %s", when, simLivenessTicks, w.converged())
	}
	return false
}

// converged says why the cluster has not converged ("" if it has): one
// leader of the newest epoch, every node running and following it, every
// log equal to the leader's and wholly committed and applied.
func (w *simWorld) converged() string {
	ldrs := w.leaders()
	if len(ldrs) == 0 {
		var epochs []Epoch
		for _, n := range w.nodes {
			epochs = append(epochs, n.epoch())
		}
		s := fmt.Sprintf("no node leads; nodes at epochs %v, coordinator at epoch %d", epochs, w.coord.epoch)
		// The coordinator counts a suspicion only if it carries its own
		// epoch; say so when too few followers can send one.
		cc := w.coord
		counted := 0
		for _, n := range w.nodes {
			if n.id != cc.leader && cc.update.Topology.has(n.id) && n.epoch() == cc.epoch {
				counted++
			}
		}
		if cc.round == nil && counted < cc.suspicionQuorum() {
			s += fmt.Sprintf(", no failover in progress, %d followers at the coordinator's epoch and %d needed: %s", counted, cc.suspicionQuorum(), simSuspicionsIgnored)
		}
		return s
	}
	if len(ldrs) != 1 {
		return fmt.Sprintf("%d nodes lead", len(ldrs))
	}
	l := ldrs[0].core
	if l.epoch != w.chk.maxLedEpoch {
		return fmt.Sprintf("%s leads epoch %d, but epoch %d was led", l.id, l.epoch, w.chk.maxLedEpoch)
	}
	if l.transferTarget != "" {
		s := fmt.Sprintf("%s is handing over to %s", l.id, l.transferTarget)
		if w.coord.transfer == nil {
			s += ", a switchover the coordinator has given up on"
		}
		return s
	}
	members, ghost := w.members(ldrs[0])
	if ghost != "" {
		return fmt.Sprintf("leader %s's topology (sync %v async %v) names %s, which the cluster has stopped and forgotten: %s",
			l.id, l.syncList, l.asyncList, ghost, simGhostMember)
	}
	for _, n := range members {
		c := n.core
		switch {
		case c == nil || n.paused:
			return fmt.Sprintf("%s is not running", n.id)
		case c.epoch != l.epoch:
			s := fmt.Sprintf("%s is at epoch %d, leader %s at %d", n.id, c.epoch, l.id, l.epoch)
			if c.epoch > l.epoch && w.coord.epoch < c.epoch && w.coord.round == nil {
				s += fmt.Sprintf(" (fenced at epoch %d by a failover that promoted no one; the coordinator is at epoch %d)", c.epoch, w.coord.epoch)
			}
			return s
		case c.last != l.last:
			s := fmt.Sprintf("%s's log ends at %v, leader %s's at %v", n.id, c.last, l.id, l.last)
			p := l.progressOf(n.id)
			switch {
			case p == nil && n.id != l.id:
				t, ct := l.topology(), w.coord.update.Topology
				s += fmt.Sprintf(" (%s is not among the leader's followers: sync %v async %v; the coordinator's: sync %v async %v)",
					n.id, t.Sync, t.Async, ct.Sync, ct.Async)
			case p == nil:
			case commonPrefix(n.log, ldrs[0].log) < n.log.First()-1:
				s += fmt.Sprintf(" (the leader counts it as holding LSN %d, but their logs agree only up to %d, below its compaction point %d: %s)",
					p.received, commonPrefix(n.log, ldrs[0].log), n.log.First()-1, simCompactedDivergence)
			case p.received > commonPrefix(n.log, ldrs[0].log):
				s += fmt.Sprintf(" (the leader counts it as holding LSN %d, but their logs agree only up to %d: %s)",
					p.received, commonPrefix(n.log, ldrs[0].log), simStuckDivergent)
			case p.next > commonPrefix(n.log, ldrs[0].log)+1 && commonPrefix(n.log, ldrs[0].log) < c.last.LSN:
				s += fmt.Sprintf(" (their logs differ from LSN %d; the leader sends from %d and takes the follower's rejections, hinting below LSN %d it counts as received, as stale: %s)",
					commonPrefix(n.log, ldrs[0].log)+1, p.next, p.received, simHintBelowReceived)
			case p.snapPos != (Position{}) && n.snapPos() == p.snapPos:
				s += fmt.Sprintf(" (it installed the snapshot at %v, but the leader still counts it at next LSN %d below its log and sends nothing: %s)",
					p.snapPos, p.next, simSnapshotStalled)
			case p.snapPos != (Position{}):
				held := int64(0)
				if r := c.recv; r != nil && r.pos == p.snapPos {
					held = int64(len(r.data))
				}
				s += fmt.Sprintf(" (snapshot at %v: the leader has it acknowledged up to byte %d, the follower holds %d", p.snapPos, p.snapAcked, held)
				if held < p.snapAcked {
					s += ": " + simSnapshotStalled
				}
				s += ")"
			}
			return s
		}
	}
	// Every log is the leader's; now everything must be committed.
	for _, n := range members {
		if c := n.core; c.commit != l.last.LSN || c.applied != l.last.LSN {
			return fmt.Sprintf("%s has committed %d and applied %d of %v", n.id, c.commit, c.applied, l.last)
		}
	}
	return ""
}

// commonPrefix is the highest LSN up to which two logs agree.
func commonPrefix(a, b *simLog) LSN {
	l := LSN(0)
	for int(l) < min(len(a.shadow), len(b.shadow)) && a.shadow[l].Pos == b.shadow[l].Pos {
		l++
	}
	return l
}

// sameEverywhere checks that every node holds the same log (compacted
// entries included, as the shadow logs know them) and the same Store
// (snapshot bytes), and returns that log.
func (w *simWorld) sameEverywhere() []Entry {
	if len(w.nodes) == 0 {
		w.violate("liveness: the cluster has no node left")
		return nil
	}
	want := w.nodes[0].log.shadow
	for _, e := range want {
		if e.Pos == (Position{}) {
			w.violate("%s's log has entries under a snapshot that no node sent", w.nodes[0].id)
			return nil
		}
	}
	var wantSnap bytes.Buffer
	if err := w.nodes[0].core.sm.Snapshot(&wantSnap); err != nil {
		w.violate("snapshot %s: %v", w.nodes[0].id, err)
		return nil
	}
	for _, n := range w.nodes[1:] {
		same := func(a, b Entry) bool {
			return a.Pos == b.Pos && a.Kind == b.Kind && a.Time == b.Time && bytes.Equal(a.Data, b.Data)
		}
		if !slices.EqualFunc(n.log.shadow, want, same) {
			i := 0
			for i < min(len(want), len(n.log.shadow)) && same(want[i], n.log.shadow[i]) {
				i++
			}
			w.violate("liveness: %s's log (%d entries) differs from %s's (%d) at LSN %d", n.id, len(n.log.shadow), w.nodes[0].id, len(want), i+1)
			return nil
		}
		var snap bytes.Buffer
		if err := n.core.sm.Snapshot(&snap); err != nil {
			w.violate("snapshot %s: %v", n.id, err)
			return nil
		}
		if !bytes.Equal(snap.Bytes(), wantSnap.Bytes()) {
			w.violate("liveness: %s's state differs from %s's (same log)", n.id, w.nodes[0].id)
			return nil
		}
	}
	for _, e := range want {
		w.trace.mix(uint64(e.Pos.Epoch)<<32 | uint64(e.Pos.LSN))
	}
	return want
}

// epoch is the highest epoch n has seen (stored, if it is down).
func (n *simNode) epoch() Epoch {
	if n.core != nil {
		return n.core.epoch
	}
	hs, _ := n.stable.Load()
	return hs.Epoch
}

// snapPos is the position of n's snapshot (stored, if it is down).
func (n *simNode) snapPos() Position {
	if n.core != nil {
		return n.core.hard.snapPos()
	}
	pos, _, _ := n.stable.LoadSnapshot()
	return pos
}
