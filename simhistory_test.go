package replstore

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

// Checks over a whole run's history, against the log every replica
// converged to (the final log):
//
//   - every acknowledged write is in the final log at its Position, with
//     the result its client heard; or it was lost under asynchronous
//     commit and reported, by a promotion's range or by the rollback that
//     dropped it (loss accounting);
//   - every read, in any mode, saw exactly the state of a prefix of the
//     final log (consistent prefix: nothing applied that never committed);
//   - Leader-mode reads and all writes are linearizable (porcupine,
//     invariant 5);
//   - SessionConsistent reads show the session's own writes and never go
//     back in time (invariant 6).

// simKeyState is a key's record after some LSN of the final log.
type simKeyState struct {
	lsn   LSN // the entry after which this holds
	found bool
	val   int
	pos   Position
}

// simReplay is the final log, applied once.
type simReplay struct {
	log      []Entry
	keys     [simKeys][]simKeyState      // per key, in LSN order: each change
	series   [simSeries][]simSeriesState // per series, in LSN order: each change
	mismatch map[LSN]bool                // CAS entries that did not match
	written  []simWritten                // every write of a value (not deletes), in log order
	deletes  []Position                  // every delete, in log order
}

// simSeriesState is a series' slots after some LSN of the final log.
type simSeriesState struct {
	lsn   LSN
	slots [simSampleTimes]simSampleState
}

// simWritten is one entry of the final log that wrote value val.
type simWritten struct {
	val int
	at  Position
}

func replayFinal(final []Entry) (*simReplay, error) {
	r := &simReplay{log: final, mismatch: map[LSN]bool{}}
	st := NewStore()
	for _, e := range final {
		if e.Kind != EntryCommand {
			continue
		}
		cmd, err := decodeCommand(e.Data)
		if err != nil {
			return nil, fmt.Errorf("final log entry %v: %w", e.Pos, err)
		}
		switch cmd.op {
		case opDelete:
			r.deletes = append(r.deletes, e.Pos)
		case opAppendSample:
			r.written = append(r.written, simWritten{val: int(cmd.sample), at: e.Pos})
		default:
			if v, err := strconv.Atoi(string(cmd.value)); err == nil {
				r.written = append(r.written, simWritten{val: v, at: e.Pos})
			}
		}
		if err := st.Apply(e); errors.Is(err, ErrVersionMismatch) {
			r.mismatch[e.Pos.LSN] = true
			continue
		} else if err != nil {
			return nil, fmt.Errorf("final log entry %v: %w", e.Pos, err)
		}
		if cmd.op == opAppendSample {
			s, err := strconv.Atoi(string(cmd.key[1:]))
			t := int((cmd.time - simSampleTime(0).UnixNano()) / int64(time.Second))
			if err != nil || s < 0 || s >= simSeries || t < 0 || t >= simSampleTimes || cmd.time != simSampleTime(t).UnixNano() {
				return nil, fmt.Errorf("final log entry %v appends to %q at %d", e.Pos, cmd.key, cmd.time)
			}
			var next simSeriesState
			if n := len(r.series[s]); n > 0 {
				next = r.series[s][n-1]
			}
			next.lsn = e.Pos.LSN
			next.slots[t] = simSampleState{val: int(cmd.sample), pos: e.Pos}
			r.series[s] = append(r.series[s], next)
			continue
		}
		k, err := strconv.Atoi(string(cmd.key[1:]))
		if err != nil || k < 0 || k >= simKeys {
			return nil, fmt.Errorf("final log entry %v writes key %q", e.Pos, cmd.key)
		}
		ks := simKeyState{lsn: e.Pos.LSN}
		if rec, ok := st.Get(string(cmd.key)); ok {
			v, _ := strconv.Atoi(string(rec.Value))
			ks.found, ks.val, ks.pos = true, v, rec.Pos
		}
		r.keys[k] = append(r.keys[k], ks)
	}
	return r, nil
}

// has reports whether pos is in the final log (LSN 0 always is).
func (r *simReplay) has(pos Position) bool {
	return pos.LSN == 0 || int(pos.LSN) <= len(r.log) && r.log[pos.LSN-1].Pos == pos
}

// at is key k's record once the final log is applied up to lsn.
func (r *simReplay) at(k int, lsn LSN) simKeyState {
	var s simKeyState
	for _, ks := range r.keys[k] {
		if ks.lsn > lsn {
			break
		}
		s = ks
	}
	return s
}

func (s simKeyState) String() string {
	if !s.found {
		return "absent"
	}
	return fmt.Sprintf("value %d at %v", s.val, s.pos)
}

func (w *simWorld) checkHistory(final []Entry) {
	r, err := replayFinal(final)
	if err != nil {
		w.violate("%v", err)
		return
	}
	w.checkWrittenWhereTold(r)
	w.checkAcked(r)
	w.checkReadPrefixes(r)
	w.checkLinearizable(r)
	w.checkSessions(r)
}

// checkWrittenWhereTold: a write in the final log sits at the Position
// its leader gave it when it took the write (the one its client is told,
// acknowledged or not); a write refused before it was appended is not
// there at all. A value is in the final log at most once per call that
// wrote it: once, or twice if its client retried it (simRetry). A delete
// sits where some delete of that key was given its Position.
func (w *simWorld) checkWrittenWhereTold(r *simReplay) {
	told := map[int][]int{} // value -> the write calls that carry it
	for i := range w.calls {
		if c := &w.calls[i]; c.isWrite() && c.kind != callDelete {
			told[c.value] = append(told[c.value], i)
		}
	}
	seen := map[int]int{}
	for _, wr := range r.written {
		calls := told[wr.val]
		if seen[wr.val]++; seen[wr.val] == 2 {
			w.stats.simDrawStats.appliedTwice++
		}
		match, refused := false, true
		for _, i := range calls {
			match = match || w.calls[i].pos == wr.at
			refused = refused && w.calls[i].status == statusRefused
		}
		switch {
		case match:
		case len(calls) == 0:
			w.violate("the final log holds value %d at %v, which no write carried: %s", wr.val, wr.at, simGhostWrite)
		case refused:
			c := &w.calls[calls[0]]
			w.violate("write %d was refused (%s), yet the final log holds it at %v: %s", calls[0], c.why, wr.at, simGhostWrite)
		default:
			c := &w.calls[calls[0]]
			w.violate("write %d was given Position %v by %s (status %d), but the final log holds it at %v (writes carrying value %d: %v): %s",
				calls[0], c.pos, c.node, c.status, wr.at, wr.val, calls, simGhostWrite)
		}
		if w.fail != nil {
			return
		}
	}
	for _, at := range r.deletes {
		if i, ok := w.chk.byPos[at]; !ok || w.calls[i].kind != callDelete {
			w.violate("the final log holds a delete at %v, a Position no delete was given: %s", at, simGhostWrite)
			return
		}
	}
}

// checkAcked: every acknowledged write is in the final log with the
// result its client heard, or was lost and reported.
func (w *simWorld) checkAcked(r *simReplay) {
	for _, i := range w.chk.acks {
		c := &w.calls[i]
		if r.has(c.pos) {
			if c.kind == callCAS && r.mismatch[c.pos.LSN] != (c.status == statusMismatch) {
				note := ""
				if c.ackByExLeader {
					note = fmt.Sprintf(" (%s answered after stepping down: %s)", c.node, simCASResultLost)
				}
				w.violate("CAS %d at %v: its client heard %v, the final log's replay says mismatch=%t%s",
					i, c.pos, []string{"", "ok", "mismatch"}[c.status], r.mismatch[c.pos.LSN], note)
			}
			continue
		}
		if !c.lost {
			w.markLost(i, "the final log")
		}
		if w.fail != nil {
			return
		}
		switch _, inRange := w.chk.lossCovering(c.pos); {
		case inRange:
		case w.chk.rolledLost[c.pos]:
			w.stats.lostByRollback++
		default:
			w.violate("write %d at %v, acknowledged by %s under asynchronous commit, was lost and never reported (no promotion's range covers it, no rollback reported it lost)%s",
				i, c.pos, c.node, w.chk.staleCommitNote(c.pos, true))
			return
		}
	}
}

// checkReadPrefixes: every read saw the final log's state at its view.
func (w *simWorld) checkReadPrefixes(r *simReplay) {
	for i := range w.calls {
		c := &w.calls[i]
		if !c.isRead() || c.status != statusOK || w.fail != nil {
			continue
		}
		if !r.has(c.view) {
			if !w.lossPossible() {
				w.violate("read %d (%s) on %s saw view %v, which is not in the final log: an entry was applied that never committed",
					i, readModeNames[c.mode], c.node, c.view)
			}
			continue
		}
		if c.kind == callReadMany {
			w.checkManyRead(r, i)
			continue
		}
		want := r.at(c.key, c.view.LSN)
		got := simKeyState{lsn: want.lsn, found: c.found, val: c.got, pos: c.gotPos}
		if !c.found {
			got = simKeyState{lsn: want.lsn}
		}
		if got != want {
			w.violate("read %d (%s) of %s on %s at view %v got %v; the final log up to there gives %v",
				i, readModeNames[c.mode], simKey(c.key), c.node, c.view, got, want)
		}
	}
}

// Porcupine's model of one object: a key's value (0: absent) and
// version, or a series' slots.
type simPorcState struct {
	val   int
	ver   LSN
	slots [simSampleTimes]simPorcSample
}

// simPorcSample is a series slot: the sample's value (0: none) and the
// LSN that wrote it.
type simPorcSample struct {
	val int
	lsn LSN
}

// simPorcIn: kind is a write's kind, callRead for a read of a key, or
// callReadMany for a read of a series (Range [from, to), or Latest).
type simPorcIn struct {
	kind     simCallKind
	val      int
	lsn      LSN // writes: where it sits in the log, so its version
	expect   LSN
	t        int // callSample: the slot
	from, to int
	latest   bool
}

// simPorcOut: status is statusOK or statusMismatch for an acknowledged
// write, statusUnknown for one whose client never heard but that is in
// the final log (it took effect).
type simPorcOut struct {
	status simStatus
	found  bool
	val    int
	ver    LSN
	slots  [simSampleTimes]simPorcSample // series reads: what was read
}

// porcSlots is what a series read shaped like in shows of slots.
func porcSlots(in simPorcIn, slots [simSampleTimes]simPorcSample) [simSampleTimes]simPorcSample {
	var out [simSampleTimes]simPorcSample
	if in.latest {
		for t := simSampleTimes - 1; t >= 0; t-- {
			if slots[t].val != 0 {
				out[t] = slots[t]
				break
			}
		}
		return out
	}
	for t := in.from; t < in.to; t++ {
		out[t] = slots[t]
	}
	return out
}

var simPorcModel = porcupine.Model{
	Init: func() any { return simPorcState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(simPorcState), input.(simPorcIn), output.(simPorcOut)
		next := simPorcState{val: in.val, ver: in.lsn}
		switch in.kind {
		case callPut:
			return true, next
		case callDelete:
			return true, simPorcState{}
		case callSample:
			s.slots[in.t] = simPorcSample{val: in.val, lsn: in.lsn}
			return true, s
		case callCAS:
			match := in.expect == 0 && s.val == 0 || in.expect != 0 && s.val != 0 && s.ver == in.expect
			switch {
			case out.status == statusUnknown && match, out.status == statusOK && match:
				return true, next
			case out.status == statusUnknown, out.status == statusMismatch && !match:
				return true, s
			}
			return false, s
		case callReadMany:
			return out.slots == porcSlots(in, s.slots), s
		}
		ok := out.found == (s.val != 0) && (!out.found || out.val == s.val && out.ver == s.ver)
		return ok, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(simPorcIn), output.(simPorcOut)
		switch in.kind {
		case callRead:
			return fmt.Sprintf("get -> found %t value %d version %d", out.found, out.val, out.ver)
		case callReadMany:
			if in.latest {
				return fmt.Sprintf("latest -> %v", out.slots)
			}
			return fmt.Sprintf("range [%d,%d) -> %v", in.from, in.to, out.slots)
		case callDelete:
			return fmt.Sprintf("delete at LSN %d -> %d", in.lsn, out.status)
		case callSample:
			return fmt.Sprintf("sample %d at time %d at LSN %d -> %d", in.val, in.t, in.lsn, out.status)
		}
		return fmt.Sprintf("write %d at LSN %d (CAS %t expect %d) -> %d", in.val, in.lsn, in.kind == callCAS, in.expect, out.status)
	},
}

// porcRead is a Leader read's operation on obj, if it read obj.
func (c *simCall) porcRead(obj int) (porcupine.Operation, bool) {
	op := porcupine.Operation{ClientId: c.session, Call: c.call, Return: c.ret}
	switch {
	case c.kind == callRead && c.key == obj:
		op.Input, op.Output = simPorcIn{kind: callRead}, simPorcOut{found: c.found, val: c.got, ver: c.gotPos.LSN}
	case c.kind == callReadMany && c.many.objs[obj].touched && obj < simKeys:
		o := &c.many.objs[obj]
		op.Input, op.Output = simPorcIn{kind: callRead}, simPorcOut{found: o.found, val: o.val, ver: o.pos.LSN}
	case c.kind == callReadMany && c.many.objs[obj].touched:
		o := &c.many.objs[obj]
		out := simPorcOut{}
		for t, sm := range o.samples {
			out.slots[t] = simPorcSample{val: sm.val, lsn: sm.pos.LSN}
		}
		op.Input, op.Output = simPorcIn{kind: callReadMany, from: o.from, to: o.to, latest: o.latest}, out
	default:
		return op, false
	}
	return op, true
}

// checkLinearizable runs porcupine, object by object (each key, each
// series), over the Leader-mode reads and every write that took effect
// (acknowledged, or in the final log: a write whose client never heard
// may have happened at any time after its call). A read of several
// objects counts as one read of each, over its interval. Objects touched
// by a lost write are skipped (counted): asynchronous commit is not
// linearizable.
func (w *simWorld) checkLinearizable(r *simReplay) {
	const never = int64(1) << 60
	for k := 0; k < simKeys+simSeries && w.fail == nil; k++ {
		var ops []porcupine.Operation
		skip, early := false, false
		for i := range w.calls {
			c := &w.calls[i]
			if c.isRead() {
				if c.mode != readLeader || c.status != statusOK {
					continue
				}
				op, ok := c.porcRead(k)
				if !ok {
					continue
				}
				skip = skip || !r.has(c.view)
				early = early || c.readEarly
				ops = append(ops, op)
				continue
			}
			if c.object() != k {
				continue
			}
			in := simPorcIn{kind: c.kind, val: c.value, lsn: c.pos.LSN, expect: c.expect, t: c.sampleT}
			switch {
			case c.status == statusOK || c.status == statusMismatch:
				skip = skip || c.lost || !r.has(c.pos)
				ops = append(ops, porcupine.Operation{ClientId: c.session, Input: in, Call: c.call, Return: c.ret, Output: simPorcOut{status: c.status}})
			case c.pos.LSN != 0 && r.has(c.pos):
				// Its client never heard; it took effect before its first
				// commit, or (not seen committed: compacted away under a
				// snapshot) at some time after its call.
				ret := never
				if c.committedAt != 0 {
					ret = c.committedAt
				}
				ops = append(ops, porcupine.Operation{ClientId: c.session, Input: in, Call: c.call, Return: ret, Output: simPorcOut{status: statusUnknown}})
			}
		}
		if skip {
			if !w.lossPossible() {
				w.violate("%s: a write or Leader read outside the final log under sync commit", simObjName(k))
			}
			w.stats.porcupineSkipped++
			continue
		}
		switch porcupine.CheckOperationsTimeout(simPorcModel, ops, simPorcTimeout) {
		case porcupine.Unknown:
			w.stats.porcupineTimeouts++
		case porcupine.Illegal:
			note := ""
			if early {
				note = "(a Leader read went to a leader that had not yet committed an entry of its epoch: " + simReadBeforeEpochCommit + ")\n"
			}
			w.violate("invariant 5: Leader reads and writes of %s are not linearizable:\n%s%s", simObjName(k), describeOps(ops), note)
		}
	}
}

// simObjName names object k: a key, then the series.
func simObjName(k int) string {
	if k < simKeys {
		return simKey(k)
	}
	return "series " + simSeriesName(k-simKeys)
}

// simPorcTimeout bounds one key's linearizability check; a check that
// runs out is counted (simStats), not failed. Histories are small, so it
// does not happen in practice.
const simPorcTimeout = 20 * time.Second

func describeOps(ops []porcupine.Operation) string {
	s := ""
	for _, op := range ops {
		ret := strconv.FormatInt(op.Return, 10)
		if op.Return >= 1<<60 {
			ret = "never"
		}
		s += fmt.Sprintf("  [%d, %s] session %d: %s\n", op.Call, ret, op.ClientId, simPorcModel.DescribeOperation(op.Input, op.Output))
	}
	return s
}

// checkSessions: a session's SessionConsistent (and Leader) reads show
// every write the session had acknowledged before the read began (the
// read's view reaches it), and never an older view than a read that
// ended before it began. What a read saw at its view is checked against
// the final log by checkReadPrefixes, so the views alone carry the
// guarantee (comparing a key's versions would not: a Delete by another
// client may follow the session's write).
func (w *simWorld) checkSessions(r *simReplay) {
	for i := range w.calls {
		rd := &w.calls[i]
		if !rd.isRead() || rd.status != statusOK || (rd.mode != readSession && rd.mode != readLeader) ||
			rd.session == simSessions-1 { // the client without a session
			continue
		}
		if !r.has(rd.view) {
			w.stats.sessionSkipped++
			continue
		}
		for j := range w.calls[:i] {
			prev := &w.calls[j]
			if prev.session != rd.session || prev.ret == 0 || prev.ret >= rd.call || w.fail != nil {
				continue
			}
			switch {
			case prev.isWrite() && (prev.status == statusOK || prev.status == statusMismatch) && !prev.lost && r.has(prev.pos):
				if rd.view.LSN < prev.pos.LSN {
					w.violate("invariant 6 (read your writes): session %d read %d (%s) on %s at view %v, missing its own write %d at %v",
						rd.session, i, readModeNames[rd.mode], rd.node, rd.view, j, prev.pos)
				}
			case prev.isRead() && prev.status == statusOK && r.has(prev.view):
				if rd.view.LSN < prev.view.LSN {
					w.violate("invariant 6 (monotonic reads): session %d read %d (%s) on %s at view %v, after read %d saw view %v",
						rd.session, i, readModeNames[rd.mode], rd.node, rd.view, j, prev.view)
				}
			}
		}
	}
}
