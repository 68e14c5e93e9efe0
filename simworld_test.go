package replstore

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// simWorld runs one schedule: the real node cores and the coordinator
// core in one goroutine, each node's batch of inputs ended by the same
// driver the runtime uses (driver.advance: flush, persist, send, apply,
// answer), the coordinator's as coordnode.go does, over the simulated
// network, in virtual time. Nothing here reads a clock or
// starts a goroutine, so a schedule replays exactly.
type simWorld struct {
	p     simParams
	cfg   Config
	cc    *coreConfig
	nodes []*simNode // the cluster's nodes: n1 (leader of epoch 1), sync, async, then nodes added
	gone  []*simNode // nodes removed and stopped, in that order
	// memberCalls are membership changes whose clients wait
	// (simmembers_test.go).
	memberCalls []*simMemberCall
	// dropped are the nodes a recorded topology stopped naming (removed)
	// and no AddFollower asked back since.
	dropped    map[NodeID]bool
	coordNamed map[NodeID]bool // the nodes the coordinator's topology named when last checked
	coord      *coordCore
	net        *simNet
	disk       simDisk // how long leaders' flushes take (simflush_test.go)

	now      int64 // virtual µs
	nextTick int64 // the next instant any clock ticks
	clock    int64 // logical time of client calls and returns
	// ticks holds each clock's next tick and period, indexed as
	// simNet.index (the first Nodes nodes, the coordinator, spare IDs):
	// clocks drift apart (simdraws_test.go).
	ticks []simClock
	// coordDown: the coordinator has crashed; it takes no input and its
	// state waits for its restart (it stands in for etcd: nothing lost).
	coordDown bool

	coordTopo string // the coordinator's topology as last traced

	calls    []simCall
	sessions [simSessions]simSession
	values   int // last value written: each write's value is unique

	chk   simChecker
	trace simTrace
	stats simStats
	// damagedNode is the replica a flipped byte damaged, if any: at most
	// one per schedule (simdisk_test.go).
	damagedNode *simNode
	// removesFollowers: the schedule draws RemoveFollower (no flipped
	// bytes then: simdisk_test.go).
	removesFollowers bool
	mustRefuse       Epoch // the damaged replica was promoted to it on a stale answer

	step int   // schedule step being run; -1 in the liveness phase
	fail error // first violation: the run stops there
}

// simNode is one node: its log and hard state survive a crash (the
// disk); its core and state machine do not.
type simNode struct {
	id     NodeID
	idx    int
	log    *simLog
	stable *MemHardState // hard state and snapshot: survive a crash
	drv    *driver       // nil while crashed
	core   *core         // drv.c; nil while crashed

	// historyChecked is the snapshot whose history of epochs the
	// checker last compared with the shadow (checkSnapshotHistory).
	historyChecked *localSnapshot

	paused bool       // a zombie: it takes no input until resumed
	inbox  []simInput // what arrived while paused, in order
	// incarnation counts restarts: a snapshot job of an earlier one is
	// lost, as its goroutine's result is after a crash.
	incarnation int
	// tornKeep, when set, makes the next crash tear the last write after
	// tornKeep-1 unsynced records (simdisk_test.go); repairSeen: the
	// damaged replica was seen repaired.
	tornKeep   int
	repairSeen bool

	waiting  []simWaiter // proposed writes in LSN order (node.waiting)
	reads    []simWaiter // leader reads waiting for their round
	nextRead uint64

	simNodeCheck
}

// simInput is one mailbox item: a message, a client's call, or a
// snapshot job's result.
type simInput struct {
	msg  Message
	call int // index in calls; -1 for a message, a snapshot or a control call
	snap *simSnapJob
	ctl  func(*core) // a control call on the node's turn (Cluster.do)

	flush *simFlushJob // a leader's flush completing (simflush_test.go)
}

// simWaiter ties a proposed write (by LSN) or a leader read (by read id)
// to the client call waiting for it.
type simWaiter struct {
	key  uint64
	call int
}

func newSimWorld(s simSchedule, bug plantedBug) *simWorld {
	p := s.P
	w := &simWorld{p: p, nextTick: simTick, ticks: newSimClocks(p), dropped: map[NodeID]bool{}, coordNamed: map[NodeID]bool{}}
	ids := []NodeID{"n1"}
	for i := 2; i <= p.Nodes; i++ {
		ids = append(ids, NodeID(fmt.Sprintf("n%d", i)))
	}
	cfg := Config{Leader: ids[0], SyncFollowers: ids[1 : 1+p.Sync], AsyncFollowers: ids[1+p.Sync:],
		Quorum: p.Quorum, SyncCount: p.SyncCount, AckLevel: p.Ack, TickInterval: time.Duration(simTick) * time.Microsecond,
		HeartbeatTicks: 1, FollowerTimeoutTicks: p.TimeoutTicks, SuspectTicks: p.SuspectTicks, FenceTicks: p.FenceTicks,
		AllowDataLoss: p.AllowDataLoss, MaxBatch: p.MaxBatch, MaxInflight: p.MaxInflight,
		RetainEntries: p.RetainEntries, SnapshotChunkBytes: p.SnapshotChunk, ManualFailover: p.ManualFailover}
	switch p.SyncLoss {
	case syncLossReplace:
		cfg.SyncLoss = Replace
	case syncLossDegrade:
		cfg.SyncLoss = DegradeAfter(time.Duration(int64(p.DegradeTicks)*simTick) * time.Microsecond)
	}
	cfg.Coordinator = &simDecider{w: w, q: QuorumCoordinator{bug: bug}}
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("simulation: bad configuration drawn: %v", err))
	}
	w.removesFollowers = slices.ContainsFunc(s.Ops, func(op simOp) bool { return op.Kind == simRemoveFollower })
	w.cfg = cfg.withDefaults()
	w.cc = newCoreConfig(w.cfg)
	w.cc.asyncSnapshots = true // as the runtime does (Cluster)
	// Storage incarnations from virtual time, as the runtime's come from
	// the wall clock.
	w.cc.nextIncarnation = func() uint64 { return uint64(w.now) + 1 }
	w.cc.bug = bug
	w.net = newSimNet(p, ids, simSpareIDs)
	w.net.trace = &w.trace
	w.disk = newSimDisk(p)
	w.chk.init()
	w.sessions[simSessions-1].sessionless = true
	for _, id := range ids {
		w.nodes = append(w.nodes, &simNode{id: id, idx: w.net.index[id], log: newSimLog(), stable: NewMemHardState()})
	}
	// As NewCluster: the coordinator, every node, then the leader opens
	// epoch 1 and every node sends what it has.
	topo := Topology{Leader: cfg.Leader, Sync: cfg.SyncFollowers, Async: cfg.AsyncFollowers}
	w.coord = newCoordCore(&coordConfig{quorum: w.cfg.Quorum, syncCount: w.cfg.SyncCount,
		ackLevel: w.cfg.AckLevel, suspectTicks: w.cfg.SuspectTicks, fenceTicks: w.cfg.FenceTicks, auto: !w.cfg.ManualFailover,
		allowDataLoss: w.cfg.AllowDataLoss, decider: w.cfg.Coordinator}, cfg.Leader, 1, topo)
	for _, n := range w.nodes {
		w.startNode(n)
	}
	w.nodes[0].core.becomeLeader(1, w.nowNs(), topo)
	for _, n := range w.nodes {
		w.afterStep(n)
	}
	return w
}

// nowNs is the virtual clock as the cores see it.
func (w *simWorld) nowNs() int64 { return w.now * 1000 }

// violate records the first broken invariant; the run stops.
func (w *simWorld) violate(format string, args ...any) {
	if w.fail == nil {
		where := fmt.Sprintf("step %d", w.step)
		if w.step < 0 {
			where = "liveness phase"
		}
		w.fail = fmt.Errorf("%s, t=%dµs: %s", where, w.now, fmt.Sprintf(format, args...))
	}
}

// runFor lets d µs of virtual time pass: ticks and deliveries in time
// order, a tick first when both fall on one instant.
func (w *simWorld) runFor(d int64) {
	until := w.now + d
	for w.fail == nil {
		at, ok := w.net.nextAt()
		if w.nextTick <= until && (!ok || w.nextTick <= at) {
			w.tick()
			w.checkMemberCalls()
			continue
		}
		if !ok || at > until {
			break
		}
		w.deliver(at)
		w.checkMemberCalls()
	}
	w.now = max(w.now, until)
}

// tick gives every running node whose clock ticks now a tick, then the
// coordinator (as Cluster's ticker does). Without drift every clock
// ticks at once.
func (w *simWorld) tick() {
	w.now = w.nextTick
	w.trace.add(simTraceRec{now: w.now, what: traceTick})
	for _, n := range w.nodes {
		if !w.ticks[n.idx].due(w.now) || n.core == nil || n.paused || w.fail != nil {
			continue
		}
		n.beginBatch()
		n.core.onTick(w.nowNs())
		w.afterStep(n)
	}
	if w.ticks[w.p.Nodes].due(w.now) && !w.coordDown && w.fail == nil {
		w.coord.onTick()
		w.coordFlush()
	}
	w.nextTick = w.advanceClocks()
}

// deliver hands every message due at at to its receiver, one batch per
// receiver, receivers in the order of their first message.
func (w *simWorld) deliver(at int64) {
	w.now = at
	due := w.net.takeDue(at)
	for len(due) > 0 && w.fail == nil {
		to := due[0].msg.To
		var batch []simInput
		k := 0
		for _, f := range due {
			switch {
			case f.msg.To != to:
				due[k] = f
				k++
			case f.snap != nil:
				batch = append(batch, simInput{call: -1, snap: f.snap})
			case f.flush != nil:
				if n := w.lookup(to); n != nil {
					w.diskFlushed(n, f.flush) // a forgotten node's flush was lost with it
				}
				batch = append(batch, simInput{call: -1, flush: f.flush})
			default:
				batch = append(batch, simInput{msg: f.msg, call: -1})
				w.trace.msg(w.now, f.msg)
				w.net.stats.delivered++
			}
		}
		due = due[:k]
		if to == CoordinatorID {
			if w.coordDown {
				w.dropAtDownCoordinator(batch)
				continue
			}
			for _, in := range batch {
				w.coord.step(in.msg)
			}
			w.coordFlush()
			continue
		}
		if n := w.lookup(to); n != nil {
			w.input(n, batch)
		} // else: a node that was removed and stopped

	}
}

// input gives a node a batch of inputs: a crashed node loses them (its
// calls fail), a paused one keeps them for when it wakes.
func (w *simWorld) input(n *simNode, batch []simInput) {
	switch {
	case n.core == nil:
		for _, in := range batch {
			if in.call >= 0 {
				w.refuse(in.call, "node down")
			}
		}
	case n.paused:
		n.inbox = append(n.inbox, batch...)
	default:
		w.runBatch(n, batch)
	}
}

// runBatch is node.run's loop body: every input of the batch, then
// afterStep. Proposals read the clock once per batch; messages do not.
func (w *simWorld) runBatch(n *simNode, batch []simInput) {
	c := n.core
	n.beginBatch()
	clocked := false
	for _, in := range batch {
		switch {
		case in.ctl != nil:
			in.ctl(c)
		case in.snap != nil:
			w.snapshotDone(n, in.snap)
		case in.flush != nil:
			w.flushDone(n, in.flush)
		case in.call < 0:
			c.step(in.msg, c.now)
		case w.calls[in.call].isRead():
			w.startLeaderRead(n, in.call)
		default:
			if !clocked {
				c.now, clocked = w.nowNs(), true
			}
			w.propose(n, in.call)
		}
	}
	w.afterStep(n)
}

// startNode gives n a new core over its surviving log and hard state.
func (w *simWorld) startNode(n *simNode) {
	drv, err := newDriver(n.id, w.cc, n.log, w.cfg.NewStateMachine(), n.stable, simHost{w, n})
	if err != nil {
		panic(fmt.Sprintf("simulation: start %s: %v", n.id, err))
	}
	drv.asyncFlush = true // as the runtime does over a disk (package wal)
	n.drv, n.core = drv, drv.c
}

// simHost is the simulation's side of the driver contract for one node.
type simHost struct {
	w *simWorld
	n *simNode
}

func (h simHost) send(msgs []Message) {
	for i := range msgs {
		if m := &msgs[i]; m.Kind == MsgAppendResp || m.Kind == MsgSnapshotResp {
			h.n.log.durableSaid = max(h.n.log.durableSaid, m.Durable)
		}
		h.w.net.send(h.w.now, msgs[i])
	}
}

func (h simHost) report(e Event) { h.w.report(h.n, e) }

func (h simHost) startSnapshot(job *snapshotJob) {
	h.w.net.later(h.w.now, h.n.id, &simSnapJob{job: job, node: h.n, incarnation: h.n.incarnation})
}

func (h simHost) answer() {
	h.w.answerWrites(h.n)
	if len(h.n.reads) > 0 {
		h.w.answerReads(h.n)
	}
}

// afterStep ends a batch as the runtime does (driver.advance); then the
// invariants are checked.
func (w *simWorld) afterStep(n *simNode) {
	c := n.core
	n.drv.advance()
	if c.fatal != nil && errors.Is(c.fatal, errSimPowerCut) {
		w.powerCut(n) // nothing of the batch was sent
		return
	}
	n.noteCounted()
	if c.fatal != nil {
		w.violate("%v%s", c.fatal, w.followerPastLeaderNote(c))
	}
	w.checkNode(n)
	w.checkCluster()
	if n == w.damagedNode {
		w.checkDamaged()
	}
	if w.damagedNode != nil && c.role == roleLeader {
		w.checkDamagedCredit(n)
	}
}

// coordFlush is coordNode.flush: send, report, answer requests.
func (w *simWorld) coordFlush() {
	c := w.coord
	for _, m := range c.msgs {
		w.net.send(w.now, m)
	}
	clear(c.msgs)
	c.msgs = c.msgs[:0]
	for _, e := range c.events {
		w.report(nil, e)
	}
	c.events = c.events[:0]
	if t := fmt.Sprintf("%d %v", c.update.Version, c.update.Topology); t != w.coordTopo {
		w.coordTopo = t
		w.trace.add(simTraceRec{now: w.now, what: traceTopology, text: t})
		w.checkCoordTopology()
	}
	for _, r := range c.results {
		w.trace.add(simTraceRec{now: w.now, what: traceResult, node: r.decision.Promote, a: r.id, text: errText(r.err)})
	}
	c.results = c.results[:0]
	w.checkCluster()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// report takes an event of node n (nil for the coordinator).
func (w *simWorld) report(n *simNode, e Event) {
	w.trace.add(simTraceRec{now: w.now, what: traceEvent, node: e.Node, peer: e.Peer, a: uint64(e.Kind), b: uint64(e.Epoch), c: uint64(e.LSN), text: e.Detail})
	switch e.Kind {
	case EventRolledBack:
		w.chk.onRollback(w, n, e)
	case EventDataLoss:
		w.chk.onDataLoss(w, e)
	case EventSnapshotInstalled:
		if base, ok := n.log.at(e.LSN); ok {
			if from := w.anyNode(e.Peer); from != nil {
				n.log.fillFrom(from.log, base)
			}
		}
		w.stats.snapshots++
	case EventCompacted:
		w.stats.compactions++
	case EventPromoted:
		w.stats.promotions++
	case EventDegraded:
		w.stats.degrades++
	}
}

// crash is Cluster.Crash: the core and state machine go, with every call
// waiting on them; the log and hard state stay.
func (w *simWorld) crash(n *simNode) {
	if n.core == nil {
		return
	}
	w.trace.add(simTraceRec{now: w.now, what: traceCrash, node: n.id})
	for _, wt := range n.waiting {
		w.unknown(wt.call)
	}
	for _, r := range n.reads {
		w.refuse(r.call, "node crashed")
	}
	for _, in := range n.inbox {
		if in.call >= 0 {
			w.refuse(in.call, "node crashed")
		}
	}
	n.waiting, n.reads, n.inbox, n.paused = nil, nil, nil, false
	n.core, n.drv = nil, nil
	// The disk keeps what was synced; what a node acknowledged as
	// Durable, and what it counted itself as holding toward commit while
	// it led, must be in it.
	if said, counted := n.log.durableSaid, n.log.countedSelf; true {
		crash := n.log.crash
		n.log.powerCut = 0
		if keep := n.tornKeep; keep > 0 {
			n.tornKeep = 0
			crash = func() LSN { return n.log.tornCrash(keep - 1) }
		}
		from := crash()
		switch {
		case from != 0 && from <= said:
			w.violate("%s acknowledged LSN %d as Durable, but the crash lost LSNs from %d: it answered before the flush that covers them", n.id, said, from)
		case from != 0 && from <= counted:
			w.violate("%s, leading, counted itself toward commit through LSN %d, but the crash lost LSNs from %d: it counted itself before the flush that covers them", n.id, counted, from)
		}
	}
	if w.step >= 0 {
		w.stats.crashes++
	}
}

// restart is Cluster.Restart: a new core over the surviving log and hard
// state, with a fresh state machine; it follows until promoted.
func (w *simWorld) restart(n *simNode) {
	if n.core != nil {
		return
	}
	w.trace.add(simTraceRec{now: w.now, what: traceRestart, node: n.id})
	w.startNode(n)
	n.incarnation++
	n.simNodeCheck.restarted(n.core)
	w.afterStep(n)
}

func (w *simWorld) pause(n *simNode) {
	if n.core != nil && !n.paused {
		w.trace.add(simTraceRec{now: w.now, what: tracePause, node: n.id})
		n.paused = true
		w.stats.pauses++
	}
}

// resume wakes a zombie: it takes everything that queued up as one batch.
func (w *simWorld) resume(n *simNode) {
	if n.core == nil || !n.paused {
		return
	}
	w.trace.add(simTraceRec{now: w.now, what: traceResume, node: n.id})
	n.paused = false
	batch := n.inbox
	n.inbox = nil
	if len(batch) > 0 {
		w.runBatch(n, batch)
	}
}

// simDecider is the configured QuorumCoordinator, watched: the simulation
// learns every range a promotion may lose, to account for losses.
type simDecider struct {
	w *simWorld
	q QuorumCoordinator
}

func (d *simDecider) Decide(v FailoverView) (Decision, error) {
	dec, err := d.q.Decide(v)
	if err != nil {
		return dec, err
	}
	if d.w.checkDecisionMembers(v, dec); d.w.fail != nil {
		return dec, err
	}
	r := simLossRange{epoch: v.NewEpoch, r: dec.MayLose, allowed: v.AllowDataLoss, leaderCommit: v.LeaderCommit,
		async:     v.AckLevel == Local || v.Degraded || len(v.Topology.Sync) == 0,
		candidate: slices.Clone(d.w.lookup(dec.Promote).log.shadow), unstarted: d.w.chk.committedEpoch < v.OldEpoch}
	d.w.chk.decisions = append(d.w.chk.decisions, r)
	d.w.checkPromotion(v, dec)
	if !dec.MayLose.Empty() {
		d.w.chk.pendingLoss = &r
	}
	return dec, err
}
