package replstore

import (
	"fmt"
	"runtime/debug"
)

// runSimSchedule runs one schedule: its steps, then the liveness phase,
// then the history checks. It never fails a test itself: the result says
// what broke, if anything.

type simResult struct {
	err   error
	hash  uint64 // the trace's hash: equal for two runs of one schedule
	stats simStats
	trace string // the last records of the trace, when err is set
}

func runSimSchedule(s simSchedule) simResult { return runSimScheduleOpts(s, false) }

// runSimScheduleOpts runs s; with traceAll the result holds the whole
// trace, not only its end.
func runSimScheduleOpts(s simSchedule, traceAll bool) (res simResult) {
	return runSimScheduleBug(s, traceAll, bugNone)
}

// runSimScheduleBug runs s with bug planted in every core and in the
// coordinator's decider (bugs.go).
func runSimScheduleBug(s simSchedule, traceAll bool, bug plantedBug) (res simResult) {
	w := newSimWorld(s, bug)
	w.trace.keepAll = traceAll
	defer func() {
		// A panic in the engine is a failure of the run like any other:
		// report it with the schedule and the trace.
		if r := recover(); r != nil {
			w.fail = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			res = simResult{err: w.fail, hash: w.trace.hash, stats: w.stats, trace: w.trace.tail()}
		}
	}()
	for i, op := range s.Ops {
		w.step = i
		w.do(op)
		if w.fail != nil {
			break
		}
		wait := int64(op.Wait) * simTick / 4
		if op.Kind == simWait {
			wait *= 4
		}
		w.runFor(wait)
		if w.fail != nil {
			break
		}
	}
	w.step = -1
	var final []Entry
	if w.fail == nil {
		final = w.liveness()
	}
	if w.fail == nil {
		w.checkHistory(final)
	}
	w.stats.net = w.net.stats
	w.countDraws()
	res = simResult{err: w.fail, hash: w.trace.hash, stats: w.stats}
	if w.fail != nil || traceAll {
		res.trace = w.trace.tail()
	}
	return res
}

// do runs one schedule step.
func (w *simWorld) do(op simOp) {
	w.trace.add(simTraceRec{now: w.now, what: traceOp, a: uint64(op.Kind), b: uint64(op.Node), c: uint64(op.Arg)})
	node := func() *simNode {
		if ldr := w.currentLeader(); op.Arg == 1 && ldr != nil {
			return ldr
		}
		return w.nodes[op.Node%len(w.nodes)]
	}
	switch op.Kind {
	case simPut, simCAS, simBurst:
		w.write(op)
	case simRead:
		w.read(op)
	case simCrash:
		w.crash(node())
	case simRestart:
		w.restart(node())
	case simTornCrash:
		w.tornCrash(node(), op.Key)
	case simCorrupt:
		w.corrupt(node(), op.Key)
	case simPause:
		w.pause(node())
	case simResume:
		w.resume(node())
	case simPartition:
		mask := op.Node
		if ldr := w.currentLeader(); op.Arg > 0 && ldr != nil {
			mask = 1 << ldr.idx
			if op.Arg == 2 {
				mask |= 1 << w.net.index[CoordinatorID]
			}
		}
		w.net.partition(mask)
		w.stats.partitions++
	case simHeal:
		w.net.heal()
	case simFailover:
		if op.Arg == 1 {
			w.chk.operatorAllowedLoss = true
		}
		w.coordRequest(uint64(w.step+1), func() { w.coord.requestFailover(uint64(w.step+1), op.Arg == 1) })
	case simSwitchover:
		w.coordRequest(uint64(w.step+1), func() { w.coord.requestSwitchover(uint64(w.step+1), w.nodes[op.Node%len(w.nodes)].id) })
	case simSetSync, simAddFollower, simRemoveFollower:
		w.doMember(op)
	default:
		w.doExtra(op)
	}
}
