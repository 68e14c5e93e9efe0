package replstore

import (
	"fmt"
	"slices"
)

// The invariants of DESIGN.md, checked after every batch of inputs a node
// or the coordinator takes:
//
//   - each core's own checkInvariants, and its Store's;
//   - 1: every acknowledged write is in the current leader's log at the
//     same Position, unless a reported loss covers it (and, for a write
//     acknowledged under the sync rule, the operator allowed that loss);
//   - 2: logs that hold the same Position agree up to it, and what any
//     node holds as committed is what the leaders committed there;
//   - 3: one leader per epoch, and no write acknowledged by a leader of
//     an older epoch once a newer epoch has committed, unless the newer
//     epoch's log holds it (a late acknowledgement, counted: see onAck);
//   - 4: commit and applied never go backwards on a node, except through
//     a rollback that reports lost writes (asynchronous commit only).
//
// Invariants 5 and 6 and loss accounting are checked on the whole history
// after the run (simhistory_test.go).

// simNodeCheck is what the checker remembers about one node.
type simNodeCheck struct {
	lastCommit, lastApplied LSN
	lastEpoch               Epoch
	lastPos                 Position // log end at the last log-matching check
	checkedTo               LSN      // committed entries checked against the record up to here
	committedTo             LSN      // its commit LSN as a leader, last seen
	batchLedEpoch           Epoch    // the epoch it led when the current batch began
	batchHistEpoch          Epoch    // the epoch of its sync-set history then
	droppedCommitted        bool     // a rollback in this batch dropped committed entries
}

func (n *simNode) beginBatch() {
	n.batchLedEpoch = 0
	if n.core.role == roleLeader {
		n.batchLedEpoch = n.core.epoch
	}
	n.batchHistEpoch = histEpoch(n.core)
}

// histEpoch is the epoch of the node's sync-set history, which
// becomeLeader starts afresh: it tells that a node led during a batch
// even if it stepped down before the batch ended.
func histEpoch(c *core) Epoch {
	if len(c.history) == 0 {
		return 0
	}
	return c.history[0].Epoch
}

// ledInBatch lists the epochs n led at some point of its last batch.
func (n *simNode) ledInBatch() []Epoch {
	var out []Epoch
	if n.batchLedEpoch != 0 {
		out = append(out, n.batchLedEpoch)
	}
	if e := histEpoch(n.core); e != n.batchHistEpoch && e != n.batchLedEpoch {
		out = append(out, e)
	}
	if c := n.core; c.role == roleLeader && !slices.Contains(out, c.epoch) {
		out = append(out, c.epoch)
	}
	return out
}

// restarted: a new core knows only what its disk holds (its log, and
// its snapshot's commit LSN), so its checks start over from there.
func (s *simNodeCheck) restarted(c *core) {
	s.lastCommit, s.lastApplied, s.checkedTo, s.committedTo = c.commit, c.applied, c.commit, c.commit
	s.batchLedEpoch, s.batchHistEpoch = 0, 0
}

type simChecker struct {
	epochLeader    map[Epoch]NodeID // who led each epoch
	maxLedEpoch    Epoch
	committedEpoch Epoch // highest epoch whose leader committed in it
	// committed[l-1] is the entry that leaders committed at LSN l.
	committed       []Position
	committedRedone bool // asynchronous commit replaced a committed entry

	acks        []int          // acknowledged writes (call indexes), in ack order
	decisions   []simLossRange // every promotion, in order
	losses      []simLossRange // the promotions that reported a range
	pendingLoss *simLossRange  // decided, its EventDataLoss not yet seen
	// rolledLost holds entries a rollback reported as committed and lost.
	rolledLost          map[Position]bool
	operatorAllowedLoss bool

	leaderSig simLeaderSig     // skip the ack check when nothing changed
	byPos     map[Position]int // the write proposed at each Position
}

type simLeaderSig struct {
	id   NodeID
	last Position
	acks int
}

func (k *simChecker) init() {
	k.epochLeader = map[Epoch]NodeID{}
	k.rolledLost = map[Position]bool{}
	k.byPos = map[Position]int{}
}

// lossPossible reports whether acknowledged writes may be lost in this
// run: asynchronous commit, or a failover allowed to lose data.
func (w *simWorld) lossPossible() bool {
	return w.p.asyncCommit() || w.chk.operatorAllowedLoss
}

// currentLeader is the running node that leads the newest epoch anyone
// has led, if any.
func (w *simWorld) currentLeader() *simNode {
	for _, n := range w.nodes {
		if n.core != nil && n.core.role == roleLeader && n.core.epoch == w.chk.maxLedEpoch {
			return n
		}
	}
	return nil
}

// checkNode checks node n after a batch.
func (w *simWorld) checkNode(n *simNode) {
	c := n.core
	if c == nil || w.fail != nil {
		return
	}
	k := &w.chk
	if err := c.checkInvariants(); err != nil {
		mark := ""
		if w.lossPossible() {
			mark += w.followerPastLeaderNote(c)
		}
		w.violate("core invariant: %v%s", err, mark)
	}
	if err := c.sm.(*Store).checkInvariants(); err != nil {
		w.violate("store invariant on %s: %v", n.id, err)
	}
	if s := c.hard.snap; s != nil && s != n.historyChecked {
		n.historyChecked = s
		w.checkSnapshotHistory(n, s)
	}
	if c.epoch < n.lastEpoch {
		w.violate("%s: epoch went back from %d to %d", n.id, n.lastEpoch, c.epoch)
	}
	n.lastEpoch = c.epoch
	// Invariant 4.
	if (c.commit < n.lastCommit || c.applied < n.lastApplied) && !n.droppedCommitted {
		w.violate("invariant 4: %s: commit %d -> %d, applied %d -> %d", n.id, n.lastCommit, c.commit, n.lastApplied, c.applied)
	}
	if n.droppedCommitted && !w.lossPossible() {
		w.violate("invariant 2: %s rolled back committed entries under sync commit (commit was %d)", n.id, n.lastCommit)
	}
	dropped := n.droppedCommitted
	n.droppedCommitted = false
	n.lastCommit, n.lastApplied = c.commit, c.applied
	// Invariant 3.
	led := n.ledInBatch()
	for _, e := range led {
		if id, ok := k.epochLeader[e]; ok && id != n.id {
			w.violate("invariant 3: %s and %s both led epoch %d", id, n.id, e)
		}
		k.epochLeader[e] = n.id
		k.maxLedEpoch = max(k.maxLedEpoch, e)
	}
	if len(led) > 0 && c.commit >= c.epochStart {
		k.committedEpoch = max(k.committedEpoch, led[len(led)-1])
	}
	if dropped {
		// A rollback under asynchronous commit replaced committed
		// entries: the record of what leaders committed no longer
		// follows one history.
		n.checkedTo = min(n.checkedTo, c.commit)
		k.committedRedone = true
	} else {
		w.checkCommitted(n)
	}
	if c.last != n.lastPos {
		n.lastPos = c.last
		for _, o := range w.nodes {
			if o != n {
				w.checkLogMatching(n, o)
			}
		}
	}
}

// followerPastLeaderNote explains a leader's failure when a follower
// reported more than the leader's log holds.
func (w *simWorld) followerPastLeaderNote(c *core) string {
	if c.role != roleLeader {
		return ""
	}
	for _, p := range c.followers {
		if p.received <= c.last.LSN {
			continue
		}
		if f := w.lookup(p.id); f == nil {
			return fmt.Sprintf(" (%s reported LSN %d as received, past the leader's log, and is gone: %s)", p.id, p.received, simGhostMember)
		} else if base := f.log.First() - 1; p.received <= base {
			return fmt.Sprintf(" (%s reported LSN %d as received, past the leader's log: its compaction point is %d: %s)", p.id, p.received, base, simCompactedDivergence)
		}
		return fmt.Sprintf(" (%s reported LSN %d as received, past the leader's log: %s)", p.id, p.received, simStuckDivergent)
	}
	return ""
}

// checkCommitted compares what n holds as committed with what leaders
// committed: a leader's committed entries (up to its safe LSN, which
// followers may apply) extend the record; a follower may never hold as
// committed what no leader committed.
func (w *simWorld) checkCommitted(n *simNode) {
	c, k := n.core, &w.chk
	// A node that led during the batch committed by its own rule, even
	// if it stepped down before the batch ended.
	leader := len(n.ledInBatch()) > 0
	hi := c.commit
	if leader {
		// Followers may apply up to safe; a leader that stepped down in
		// the batch may have rolled some of it back since (only a
		// promotion allowed to lose data can do that to safe entries).
		hi = max(hi, min(c.safe, c.last.LSN))
	}
	n.checkedTo = min(n.checkedTo, hi)
	for l := n.checkedTo + 1; l <= hi && w.fail == nil; l++ {
		pos, ok := n.log.at(l)
		switch {
		case !ok:
			w.violate("%s: commit %d but its log ends at %d", n.id, hi, n.log.Last().LSN)
			return
		case pos == Position{}:
			// Covered by an installed snapshot, whose sender is unknown:
			// nothing to compare.
		case int(l) <= len(k.committed) && k.committed[l-1] == pos:
		case int(l) <= len(k.committed):
			if !w.lossPossible() {
				w.violate("invariant 2: %s (%v) holds %v as committed, but %v was committed at LSN %d", n.id, c.role, pos, k.committed[l-1], l)
				return
			}
			if leader && pos.Epoch > k.committed[l-1].Epoch {
				// Asynchronous commit: a newer history replaces it.
				k.committed = append(k.committed[:l-1], pos)
				k.committedRedone = true
			}
		case leader && int(l) == len(k.committed)+1:
			k.committed = append(k.committed, pos)
		case leader && w.lossPossible():
			// Two histories commit at once (a deposed leader under
			// asynchronous commit): the record follows neither.
			k.committedRedone = true
			n.checkedTo = hi
			return
		case leader:
			w.violate("%s (leader) holds LSN %d as committed, but the entries before it are unknown", n.id, l)
			return
		case !(w.lossPossible() && k.committedRedone):
			w.violate("%s (follower) holds LSN %d (%v) as committed, but leaders committed only up to %d", n.id, l, pos, len(k.committed))
			return
		}
	}
	n.checkedTo = hi
	if leader {
		for l := n.committedTo + 1; l <= min(c.commit, c.last.LSN); l++ {
			if pos, ok := n.log.at(l); ok {
				w.committedNow(pos)
			}
		}
		n.committedTo = c.commit
	}
}

// committedNow notes when the write at pos was first committed: its
// effect is visible to every Leader read from then on, so it bounds when
// the write took effect even if its client never heard.
func (w *simWorld) committedNow(pos Position) {
	if i, ok := w.chk.byPos[pos]; ok && w.calls[i].committedAt == 0 {
		w.clock++
		w.calls[i].committedAt = w.clock
	}
}

// checkLogMatching: if two logs hold an entry with the same Position,
// they are identical up to it (invariant 2). Entries under an installed
// snapshot that are not known are skipped.
func (w *simWorld) checkLogMatching(a, b *simNode) {
	l := LSN(min(len(a.log.shadow), len(b.log.shadow)))
	for ; l > 0; l-- {
		pa, _ := a.log.at(l)
		pb, _ := b.log.at(l)
		if pa == pb && pa != (Position{}) {
			break
		}
	}
	for m := l; m > 0; m-- {
		pa, _ := a.log.at(m)
		pb, _ := b.log.at(m)
		if pa != pb && pa != (Position{}) && pb != (Position{}) {
			note := ""
			if w.lossPossible() && (m < a.log.First() || m < b.log.First()) {
				note = fmt.Sprintf(" (LSN %d is compacted on %s or %s: %s)", m, a.id, b.id, simCompactedDivergence)
			}
			w.violate("invariant 2: %s and %s hold the same entry at LSN %d but differ at %d (%v, %v)%s", a.id, b.id, l, m, pa, pb, note)
			return
		}
	}
}

// onAck checks who acknowledged write i (invariant 3).
func (k *simChecker) onAck(w *simWorld, n *simNode, i int) {
	c := &w.calls[i]
	ackEpoch := n.batchLedEpoch
	if n.core.role == roleLeader {
		ackEpoch = n.core.epoch
	}
	if ackEpoch < k.committedEpoch {
		w.stats.staleAcks++
		// A deposed leader may still acknowledge a write it committed
		// before it was fenced, on acknowledgements that reach it late: the
		// write is in the newer epoch's log, so nothing is lost. That is
		// weaker than invariant 3's wording; it is counted (staleAcks), and
		// anything else is a violation.
		if id, ok := k.epochLeader[k.committedEpoch]; ok && w.anyNode(id) != nil && w.anyNode(id).log.holds(c.pos) {
			k.acks = append(k.acks, i)
			return
		}
		if l := int(c.pos.LSN); !w.lossPossible() && l <= len(k.committed) && k.committed[l-1] == c.pos {
			// The newer epoch's leader may no longer hold the write on its
			// disk (a flipped byte cut its log; a repair brings it back),
			// but under sync commit the record of what leaders committed
			// is one history, checked entry by entry as every leader
			// commits (checkCommitted): the write is in it, so it is in
			// the newer epoch's committed log. Invariant 1 then checks
			// that the next leader holds it.
			k.acks = append(k.acks, i)
			return
		}
		for _, d := range k.decisions {
			if d.allowed && d.epoch > ackEpoch && d.epoch <= k.committedEpoch && d.r.From <= c.pos.LSN && c.pos.LSN <= d.r.To {
				// The operator let a promotion go ahead without fencing
				// the old leader's sync quorum (AllowDataLoss): the old
				// leader could go on committing through a sync follower
				// the round missed, and the promotion reported that range
				// as lost (it is open). A split brain the operator
				// accepted, accounted for as a reported loss.
				k.acks = append(k.acks, i)
				return
			}
		}
		if !c.asyncAck {
			note := ""
			for _, d := range k.decisions {
				if note == "" && d.epoch > ackEpoch && d.epoch <= k.committedEpoch && d.allowed {
					note = fmt.Sprintf(" (the promotion to epoch %d was allowed to lose data without fencing the old leader's sync followers, and reported range %v: %s)",
						d.epoch, d.r, simStaleLeaderCommit)
				}
			}
			w.violate("invariant 3: write %d at %v acknowledged by %s, leader of epoch %d, after epoch %d committed, and that epoch's log lacks it%s",
				i, c.pos, n.id, ackEpoch, k.committedEpoch, note)
		}
	}
	k.acks = append(k.acks, i)
}

// checkCluster checks what spans nodes: every acknowledged write is in
// the current leader's log (invariant 1), and every promotion that may
// lose writes has said so.
func (w *simWorld) checkCluster() {
	k := &w.chk
	if k.pendingLoss != nil && w.fail == nil {
		w.violate("a promotion to epoch %d may lose LSNs %v and no EventDataLoss reported it", k.pendingLoss.epoch, k.pendingLoss.r)
	}
	ldr := w.currentLeader()
	if ldr == nil || w.fail != nil {
		return
	}
	w.checkTopology(ldr)
	w.checkCredit(ldr)
	sig := simLeaderSig{id: ldr.id, last: ldr.core.last, acks: len(k.acks)}
	if sig == k.leaderSig {
		return
	}
	k.leaderSig = sig
	for _, i := range k.acks {
		if c := &w.calls[i]; !c.lost && !ldr.log.holds(c.pos) {
			w.markLost(i, ldr.id)
		}
	}
}

// simReAddedWithoutAdd marks a removed node brought back by something
// other than AddFollower (SetSync).
const simReAddedWithoutAdd = "only AddFollower may bring a removed node back"

// simWrongCredit marks a leader counting a follower as holding entries
// that follower does not hold.
const simWrongCredit = "the leader credits a follower with entries it does not hold"

// checkCredit: what the leader counts a follower of its epoch as having
// stored and synced (durable) is in that follower's log: a follower
// truncates an entry of its leader's epoch only on a newer leader's word,
// and a crash keeps what it synced. A node removed and added again under
// the same ID starts empty: nothing its old incarnation said may count.
func (w *simWorld) checkCredit(ldr *simNode) {
	c := ldr.core
	for _, p := range c.followers {
		f := w.lookup(p.id)
		if p.durable == 0 || f == nil || f.epoch() != c.epoch || p.durable > c.last.LSN || p.reseed || p.snapPos != (Position{}) {
			// (A follower being reseeded, under asynchronous commit, keeps
			// its old credit until the snapshot is in: progress.go.)
			continue
		}
		if f.core == nil || p.incarnation != f.core.hard.incarnation {
			// A disk fault cost it synced entries (simdisk_test.go) and the
			// leader has not heard its new storage incarnation yet: it
			// cannot know; checkDamagedCredit holds it to it once it has.
			continue
		}
		pos, ok := ldr.log.at(p.durable)
		if ok && pos != (Position{}) && !f.log.holds(pos) {
			w.violate("leader %s counts %s as holding LSN %d durably (%v), but %s's log ends at %v: %s",
				ldr.id, p.id, p.durable, pos, p.id, f.log.Last(), simWrongCredit)
			return
		}
	}
}

// checkTopology: once the coordinator has recorded the leader's topology
// and the leader has no change waiting, both use the same one (failover
// must know which nodes may hold acknowledged writes), and it names every
// node once.
func (w *simWorld) checkTopology(ldr *simNode) {
	c, cc := ldr.core, w.coord
	if cc.leader != ldr.id || cc.epoch != c.epoch || cc.updateEpoch != c.epoch || c.pendingChange != nil || cc.update.Version != c.topoVersion {
		return
	}
	lt, ct := c.topology(), cc.update.Topology
	seen := map[NodeID]bool{}
	for _, id := range append(append([]NodeID{lt.Leader}, lt.Sync...), lt.Async...) {
		if seen[id] {
			w.violate("leader %s's topology names %s twice: sync %v async %v (%s)", ldr.id, id, lt.Sync, lt.Async, simTopologyDiverged)
			return
		}
		seen[id] = true
	}
	if !slices.Equal(lt.Sync, ct.Sync) || !sameSet(lt.Async, ct.Async) || lt.Leader != ct.Leader {
		w.violate("leader %s uses sync %v async %v, but the coordinator recorded sync %v async %v (version %d): %s",
			ldr.id, lt.Sync, lt.Async, ct.Sync, ct.Async, c.topoVersion, simTopologyDiverged)
	}
}

// checkCoordTopology: the topology the coordinator records names each
// node once, and only nodes the cluster runs (a node being added may not
// be named yet, nor one whose add or removal failed).
func (w *simWorld) checkCoordTopology() {
	t := w.coord.update.Topology
	all := append(append([]NodeID{t.Leader}, t.Sync...), t.Async...)
	members := w.coord.members()
	for _, n := range w.nodes {
		if w.coordNamed[n.id] && !slices.Contains(members, n.id) {
			w.dropped[n.id] = true // removed, and the removal settled
		}
	}
	clear(w.coordNamed)
	for _, id := range members {
		w.coordNamed[id] = true
	}
	for i, id := range all {
		if w.dropped[id] {
			w.violate("the coordinator's topology (leader %s, sync %v, async %v) names %s again, which a removal took out and no AddFollower asked back: %s",
				t.Leader, t.Sync, t.Async, id, simReAddedWithoutAdd)
			return
		}
		if slices.Contains(all[:i], id) {
			w.violate("the coordinator's topology (leader %s, sync %v, async %v) names %s twice: %s",
				t.Leader, t.Sync, t.Async, id, simTopologyDiverged)
			return
		}
		if id != "" && w.lookup(id) == nil {
			w.violate("the coordinator's topology (leader %s, sync %v, async %v) names %s, which the cluster has stopped and forgotten: %s",
				t.Leader, t.Sync, t.Async, id, simGhostMember)
			return
		}
	}
}

func sameSet(a, b []NodeID) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(id NodeID) bool { return !slices.Contains(b, id) })
}

// checkSnapshotHistory: the history of epochs n's snapshot carries
// (taken by n or installed from a leader) names, for every LSN it covers,
// the epoch of the entry n's log holds there (by the shadow, where it is
// known): holds() answers by it for compacted LSNs.
func (w *simWorld) checkSnapshotHistory(n *simNode, s *localSnapshot) {
	for l := LSN(1); l <= s.pos.LSN && int(l) <= len(n.log.shadow); l++ {
		want := n.log.shadow[l-1].Pos
		if want == (Position{}) {
			continue // under a snapshot whose sender is unknown
		}
		if got, ok := s.epochs.epochAt(l); !ok || got != want.Epoch {
			w.violate("%s's snapshot at %v has epoch %d (known %t) at LSN %d in its history %v; its log holds %v there",
				n.id, s.pos, got, ok, l, s.epochs, want)
			return
		}
	}
}
