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
	keys     [simKeys][]simKeyState // per key, in LSN order: each change
	mismatch map[LSN]bool           // CAS entries that did not match
	written  map[int]Position       // where each write (by value) sits
}

func replayFinal(final []Entry) (*simReplay, error) {
	r := &simReplay{log: final, mismatch: map[LSN]bool{}, written: map[int]Position{}}
	st := NewStore()
	for _, e := range final {
		if e.Kind != EntryCommand {
			continue
		}
		cmd, err := decodeCommand(e.Data)
		if err != nil {
			return nil, fmt.Errorf("final log entry %v: %w", e.Pos, err)
		}
		if v, err := strconv.Atoi(string(cmd.value)); err == nil {
			if at, dup := r.written[v]; dup {
				return nil, fmt.Errorf("final log holds write %d twice, at %v and %v", v, at, e.Pos)
			}
			r.written[v] = e.Pos
		}
		if err := st.Apply(e); errors.Is(err, ErrVersionMismatch) {
			r.mismatch[e.Pos.LSN] = true
			continue
		} else if err != nil {
			return nil, fmt.Errorf("final log entry %v: %w", e.Pos, err)
		}
		k, err := strconv.Atoi(string(cmd.key[1:]))
		if err != nil || k < 0 || k >= simKeys {
			return nil, fmt.Errorf("final log entry %v writes key %q", e.Pos, cmd.key)
		}
		rec, _ := st.Get(string(cmd.key))
		v, _ := strconv.Atoi(string(rec.Value))
		r.keys[k] = append(r.keys[k], simKeyState{lsn: e.Pos.LSN, found: true, val: v, pos: rec.Pos})
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
// there at all.
func (w *simWorld) checkWrittenWhereTold(r *simReplay) {
	for i := range w.calls {
		c := &w.calls[i]
		at, ok := r.written[c.value]
		if c.kind == callRead || !ok || at == c.pos || w.fail != nil {
			continue
		}
		if c.status == statusRefused {
			w.violate("write %d was refused (%s), yet the final log holds it at %v: %s", i, c.why, at, simGhostWrite)
			return
		}
		w.violate("write %d was given Position %v by %s (status %d), but the final log holds it at %v: %s",
			i, c.pos, c.node, c.status, at, simGhostWrite)
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
		if c.kind != callRead || c.status != statusOK || w.fail != nil {
			continue
		}
		if !r.has(c.view) {
			if !w.lossPossible() {
				w.violate("read %d (%s) on %s saw view %v, which is not in the final log: an entry was applied that never committed",
					i, readModeNames[c.mode], c.node, c.view)
			}
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

// Porcupine's model of one key: its value (0: absent) and version.
type simPorcState struct {
	val int
	ver LSN
}

type simPorcIn struct {
	kind   simCallKind
	val    int
	lsn    LSN // writes: where it sits in the log, so its version
	expect LSN
}

// simPorcOut: status is statusOK or statusMismatch for an acknowledged
// write, statusUnknown for one whose client never heard but that is in
// the final log (it took effect).
type simPorcOut struct {
	status simStatus
	found  bool
	val    int
	ver    LSN
}

var simPorcModel = porcupine.Model{
	Init: func() any { return simPorcState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(simPorcState), input.(simPorcIn), output.(simPorcOut)
		next := simPorcState{val: in.val, ver: in.lsn}
		switch in.kind {
		case callPut:
			return true, next
		case callCAS:
			match := in.expect == 0 && s.val == 0 || in.expect != 0 && s.val != 0 && s.ver == in.expect
			switch {
			case out.status == statusUnknown && match, out.status == statusOK && match:
				return true, next
			case out.status == statusUnknown, out.status == statusMismatch && !match:
				return true, s
			}
			return false, s
		}
		ok := out.found == (s.val != 0) && (!out.found || out.val == s.val && out.ver == s.ver)
		return ok, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(simPorcIn), output.(simPorcOut)
		if in.kind == callRead {
			return fmt.Sprintf("get -> found %t value %d version %d", out.found, out.val, out.ver)
		}
		return fmt.Sprintf("write %d at LSN %d (CAS %t expect %d) -> %d", in.val, in.lsn, in.kind == callCAS, in.expect, out.status)
	},
}

// checkLinearizable runs porcupine, key by key, over the Leader-mode
// reads and every write that took effect (acknowledged, or in the final
// log: a write whose client never heard may have happened at any time
// after its call). Keys touched by a lost write are skipped (counted):
// asynchronous commit is not linearizable.
func (w *simWorld) checkLinearizable(r *simReplay) {
	const never = int64(1) << 60
	for k := 0; k < simKeys && w.fail == nil; k++ {
		var ops []porcupine.Operation
		skip, early := false, false
		for i := range w.calls {
			c := &w.calls[i]
			if c.key != k {
				continue
			}
			switch {
			case c.kind == callRead:
				if c.mode != readLeader || c.status != statusOK {
					continue
				}
				skip = skip || !r.has(c.view)
				early = early || c.readEarly
				ops = append(ops, porcupine.Operation{ClientId: c.session, Input: simPorcIn{kind: callRead}, Call: c.call, Return: c.ret,
					Output: simPorcOut{found: c.found, val: c.got, ver: c.gotPos.LSN}})
			case c.status == statusOK || c.status == statusMismatch:
				skip = skip || c.lost || !r.has(c.pos)
				ops = append(ops, porcupine.Operation{ClientId: c.session, Input: simPorcIn{kind: c.kind, val: c.value, lsn: c.pos.LSN, expect: c.expect},
					Call: c.call, Return: c.ret, Output: simPorcOut{status: c.status}})
			case c.pos.LSN != 0 && r.has(c.pos):
				// Its client never heard; it took effect before its first
				// commit, or (not seen committed: compacted away under a
				// snapshot) at some time after its call.
				ret := never
				if c.committedAt != 0 {
					ret = c.committedAt
				}
				ops = append(ops, porcupine.Operation{ClientId: c.session, Input: simPorcIn{kind: c.kind, val: c.value, lsn: c.pos.LSN, expect: c.expect},
					Call: c.call, Return: ret, Output: simPorcOut{status: statusUnknown}})
			}
		}
		if skip {
			if !w.lossPossible() {
				w.violate("key %s: a write or Leader read outside the final log under sync commit", simKey(k))
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
			w.violate("invariant 5: Leader reads and writes of %s are not linearizable:\n%s%s", simKey(k), describeOps(ops), note)
		}
	}
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
// every write the session had acknowledged before the read began, and
// never an older view, or an older version of a key, than a read that
// ended before it began.
func (w *simWorld) checkSessions(r *simReplay) {
	for i := range w.calls {
		rd := &w.calls[i]
		if rd.kind != callRead || rd.status != statusOK || (rd.mode != readSession && rd.mode != readLeader) ||
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
			case prev.kind != callRead && prev.status == statusOK && prev.key == rd.key && !prev.lost:
				if !rd.found || rd.gotPos.LSN < prev.pos.LSN {
					w.violate("invariant 6 (read your writes): session %d read %d (%s) of %s on %s at view %v got %v, missing its own write %d at %v",
						rd.session, i, readModeNames[rd.mode], simKey(rd.key), rd.node, rd.view, rd.gotPos, j, prev.pos)
				}
			case prev.kind == callRead && prev.status == statusOK && r.has(prev.view):
				if rd.view.LSN < prev.view.LSN {
					w.violate("invariant 6 (monotonic reads): session %d read %d (%s) on %s at view %v, after read %d saw view %v",
						rd.session, i, readModeNames[rd.mode], rd.node, rd.view, j, prev.view)
				}
				if prev.key == rd.key && prev.found && (!rd.found || rd.gotPos.LSN < prev.gotPos.LSN) {
					w.violate("invariant 6 (monotonic reads): session %d read %d of %s got version %v, after read %d got %v",
						rd.session, i, simKey(rd.key), rd.gotPos, j, prev.gotPos)
				}
			}
		}
	}
}
