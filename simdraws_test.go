package replstore

import (
	"fmt"

	"pgregory.net/rapid"
)

// What the simulation draws beyond its first faults (issue 13, part 2):
// clocks that drift apart, a coordinator that crashes and restarts with
// its state, clusters that fail over only when the operator asks, one-way
// partitions, and clients that retry a write whose outcome they did not
// learn. The new client operations (Delete, AppendSample, GetMany, Range,
// Latest, Read transactions) are in simops_test.go.
//
// Every draw keeps the zero value meaning "as before": a schedule written
// before these draws (every regression test's) runs as it always did.

// The kinds this file adds. They follow simSetSync so that older kinds
// keep their numbers.
const (
	simDelete          simOpKind = simOpKinds + iota // Delete a key (as simPut)
	simSample                                        // AppendSample: Key is the series, Arg the sample's time
	simReadMany                                      // a read of several things at one view (simops_test.go)
	simRetry                                         // the session retries its last write whose outcome it never heard
	simCoordCrash                                    // the coordinator crashes: unreachable, its state kept
	simCoordRestart                                  // the coordinator comes back with all its state
	simPartitionOneWay                               // as simPartition, but only messages from the marked side are cut
	simAllOpKinds
)

func init() {
	names := map[simOpKind]string{simDelete: "simDelete", simSample: "simSample", simReadMany: "simReadMany", simRetry: "simRetry",
		simCoordCrash: "simCoordCrash", simCoordRestart: "simCoordRestart", simPartitionOneWay: "simPartitionOneWay"}
	for k, name := range names {
		simExtraOpNames[k-simOpKinds] = name
	}
}

var simExtraOpNames [simAllOpKinds - simOpKinds]string

// simExtraKinds are the client operations every run draws besides the
// first ones; simExtraFaults are fault kinds, each on or off for a run.
var (
	simExtraKinds  = []simOpKind{simDelete, simSample, simReadMany, simRetry}
	simExtraFaults = []simOpKind{simCoordCrash, simCoordRestart, simPartitionOneWay}
)

// drawSimDrift draws the per-run knobs of this file: whether failover is
// manual, and each clock's tick period.
func drawSimDrift(t *rapid.T, p *simParams) {
	p.ManualFailover = rapid.IntRange(0, 4).Draw(t, "manualFailover") == 4
	// Clock drift: each node's and the coordinator's tick period is
	// TickRates[i] per mille of simTick. Half the runs keep one clock.
	if drift := rapid.SampledFrom([]int{0, 0, 0, 50, 200, 500}).Draw(t, "drift"); drift > 0 {
		p.TickRates = make([]int, p.Nodes+1)
		for i := range p.TickRates {
			p.TickRates[i] = 1000 + rapid.IntRange(-drift, drift).Draw(t, "tickRate")
		}
	}
}

// drawSimExtraOp fills the fields the kinds of this file use.
func drawSimExtraOp(t *rapid.T, p simParams, op *simOp) {
	switch op.Kind {
	case simDelete:
		op.Node = rapid.IntRange(0, 1).Draw(t, "leaderChoice")
		op.Key = rapid.IntRange(0, simKeys-1).Draw(t, "key")
		op.Session = rapid.IntRange(0, simSessions-1).Draw(t, "session")
	case simSample:
		op.Node = rapid.IntRange(0, 1).Draw(t, "leaderChoice")
		op.Key = rapid.IntRange(0, simSeries-1).Draw(t, "series")
		op.Session = rapid.IntRange(0, simSessions-1).Draw(t, "session")
		op.Arg = rapid.IntRange(0, simSampleTimes-1).Draw(t, "sampleTime")
	case simReadMany:
		op.Node = rapid.IntRange(0, p.Nodes-1).Draw(t, "replica")
		op.Key = rapid.IntRange(0, simReadShapes*simSeries-1).Draw(t, "shape")
		op.Session = rapid.IntRange(0, simSessions-1).Draw(t, "session")
		op.Arg = rapid.IntRange(0, readModes-1).Draw(t, "mode")
	case simRetry:
		op.Node = rapid.IntRange(0, 1).Draw(t, "leaderChoice")
		op.Session = rapid.IntRange(0, simSessions-1).Draw(t, "session")
	case simPartitionOneWay:
		op.Arg = rapid.IntRange(0, 2).Draw(t, "how")
		if op.Arg == 0 {
			op.Node = rapid.IntRange(1, 1<<(p.Nodes+1)-2).Draw(t, "side")
		}
	}
}

// doExtra runs a step of a kind this file adds.
func (w *simWorld) doExtra(op simOp) {
	switch op.Kind {
	case simDelete, simSample:
		w.write(op)
	case simReadMany:
		w.read(op)
	case simRetry:
		w.retry(op)
	case simCoordCrash:
		if !w.coordDown {
			w.coordDown = true
			w.stats.simDrawStats.coordCrashes++
			w.trace.add(simTraceRec{now: w.now, what: traceCrash, node: CoordinatorID})
		}
	case simCoordRestart:
		w.restartCoordinator()
	case simPartitionOneWay:
		// Arg 1: the leader's messages are cut, it hears everyone;
		// Arg 2: nobody reaches the leader, it reaches everyone.
		mask := op.Node
		if ldr := w.currentLeader(); op.Arg > 0 && ldr != nil {
			mask = 1 << ldr.idx
			if op.Arg == 2 {
				mask = (1<<(len(w.nodes)+1) - 1) &^ mask
			}
		}
		w.net.from = make([]bool, len(w.net.index))
		for i := range w.net.from {
			w.net.from[i] = mask&(1<<i) != 0
		}
		w.stats.simDrawStats.oneWay++
	}
}

// restartCoordinator brings the coordinator back with every bit of its
// state: what it had recorded, and a round or switchover it was running
// (whose answers it missed while down, so a round may time out).
func (w *simWorld) restartCoordinator() {
	if w.coordDown {
		w.coordDown = false
		w.trace.add(simTraceRec{now: w.now, what: traceRestart, node: CoordinatorID})
	}
}

// dropAtDownCoordinator loses what reaches a crashed coordinator.
func (w *simWorld) dropAtDownCoordinator(batch []simInput) {
	for _, in := range batch {
		w.net.stats.dropped++
		w.net.lost(w.now, in.msg, traceDrop)
	}
}

// coordRequest runs an operator's request of the coordinator (Failover,
// Switchover) unless it is down: then the operator's call fails, and
// nothing changes.
func (w *simWorld) coordRequest(id uint64, run func()) {
	if w.coordDown {
		w.trace.add(simTraceRec{now: w.now, what: traceResult, node: CoordinatorID, a: id, text: "coordinator down"})
		return
	}
	run()
	w.coordFlush()
}

// retry: a client that never learned whether its write took effect (its
// node crashed or stepped down after appending it) sends the same
// command again, as a new call with the same value. Writes are not
// deduplicated (Cluster.write resends only what no log took), so both
// may take effect: the checks treat them as two operations with one
// payload (a Put twice, a sample at the same time replaced by itself, a
// CAS whose second try may fail).
func (w *simWorld) retry(op simOp) {
	orig := -1
	for i := len(w.calls) - 1; i >= 0; i-- {
		c := &w.calls[i]
		if c.session == op.Session && c.isWrite() && c.status == statusUnknown && !c.retried {
			orig = i
			break
		}
	}
	if orig < 0 {
		return
	}
	w.calls[orig].retried = true
	c := w.calls[orig]
	i := w.newCall(simCall{kind: c.kind, session: c.session, key: c.key, value: c.value, expect: c.expect, sampleT: c.sampleT, retryOf: orig + 1})
	w.stats.simDrawStats.retries++
	w.sendWrites(op.Node, []int{i})
}

// simClock is one clock: when it ticks next, and how often.
type simClock struct {
	next, period int64
}

func (c simClock) due(now int64) bool { return c.next == now }

// newSimClocks gives every node and the coordinator its clock: all at
// simTick without drift. Clocks are indexed as the network indexes its
// endpoints (simNet.index): the nodes, the coordinator, then the spare
// IDs an AddFollower may start (at simTick: a node that joins has no
// drift drawn).
func newSimClocks(p simParams) []simClock {
	clocks := make([]simClock, p.Nodes+1+simSpareIDs)
	for i := range clocks {
		period := simTick
		if i < len(p.TickRates) {
			period = simTick * int64(p.TickRates[i]) / 1000
		}
		clocks[i] = simClock{next: period, period: period}
	}
	return clocks
}

// advanceClocks moves every clock that ticked now to its next tick and
// returns the next instant any clock ticks.
func (w *simWorld) advanceClocks() int64 {
	next := int64(-1)
	for i := range w.ticks {
		c := &w.ticks[i]
		if c.next == w.now {
			c.next += c.period
		}
		if next < 0 || c.next < next {
			next = c.next
		}
	}
	return next
}

// operatorFailover is the operator of a cluster with ManualFailover in
// the liveness phase: when no node leads and no round runs, ask for a
// failover, as an operator would on seeing the cluster without a leader.
func (w *simWorld) operatorFailover(tick int) {
	if !w.p.ManualFailover || tick%(w.p.FenceTicks+2) != 0 || len(w.leaders()) > 0 && w.coord.leader != "" || w.coord.round != nil || w.coord.transfer != nil {
		return
	}
	w.trace.add(simTraceRec{now: w.now, what: traceOp, a: uint64(simFailover)})
	w.coordRequest(uint64(1000+tick), func() { w.coord.requestFailover(uint64(1000+tick), false) })
}

func simParamsExtraString(p simParams) string {
	return fmt.Sprintf("\tManualFailover: %t, TickRates: %#v},\n", p.ManualFailover, p.TickRates)
}

// simDrawStats counts what the draws of this file and simops_test.go did
// over a run (part of simStats).
type simDrawStats struct {
	runs, manualRuns, driftRuns int
	coordCrashes, oneWay        int
	retries, appliedTwice       int // retried writes; of them, both tries in the final log
	deletes, samples            int // acknowledged
	manyServed                  [simReadShapes]int
}

func (s *simDrawStats) add(o simDrawStats) {
	s.runs += o.runs
	s.manualRuns += o.manualRuns
	s.driftRuns += o.driftRuns
	s.coordCrashes += o.coordCrashes
	s.oneWay += o.oneWay
	s.retries += o.retries
	s.appliedTwice += o.appliedTwice
	s.deletes += o.deletes
	s.samples += o.samples
	for i := range s.manyServed {
		s.manyServed[i] += o.manyServed[i]
	}
}

func (s simDrawStats) String() string {
	return fmt.Sprintf("runs with manual failover %d, with clock drift %d; coordinator crashes %d, one-way partitions %d; "+
		"retried writes %d (both tries applied %d); deletes acknowledged %d, samples acknowledged %d; "+
		"GetMany/Range/Latest/Read served %d/%d/%d/%d",
		s.manualRuns, s.driftRuns, s.coordCrashes, s.oneWay, s.retries, s.appliedTwice, s.deletes, s.samples,
		s.manyServed[0], s.manyServed[1], s.manyServed[2], s.manyServed[3])
}

// countDraws fills the run's simDrawStats from its schedule and calls.
func (w *simWorld) countDraws() {
	d := &w.stats.simDrawStats
	d.runs++
	if w.p.ManualFailover {
		d.manualRuns++
	}
	if w.p.TickRates != nil {
		d.driftRuns++
	}
	for i := range w.calls {
		switch c := &w.calls[i]; {
		case c.status != statusOK:
		case c.kind == callDelete:
			d.deletes++
		case c.kind == callSample:
			d.samples++
		case c.kind == callReadMany:
			d.manyServed[c.many.shape]++
		}
	}
}
