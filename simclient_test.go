package replstore

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Clients of the simulation: writes (Put, CompareAndSwap) go to a node
// that believes it leads (a client's view may be stale, so a zombie may
// get them); reads go through the four read modes. Every call is
// recorded, with logical call and return times, for the history checks.

type simCallKind uint8

const (
	callPut simCallKind = iota
	callCAS
	callRead
	callDelete   // simops_test.go
	callSample   // AppendSample: key is the series, sampleT the time slot
	callReadMany // GetMany, Range, Latest, Read: key is the shape (simops_test.go)
)

// simStatus is where a call ended.
type simStatus uint8

const (
	statusPending  simStatus = iota // appended (or read requested), waiting
	statusOK                        // write acknowledged, or read served
	statusMismatch                  // CAS acknowledged with ErrVersionMismatch: it committed, wrote nothing
	statusUnknown                   // appended, then the client lost track: it may or may not commit
	statusRefused                   // never appended, or read not served
)

type simCall struct {
	kind    simCallKind
	session int
	key     int
	mode    int // reads
	value   int // writes: unique, 1-based; what the write stores
	expect  LSN // CAS
	call    int64
	ret     int64 // 0 while pending or unknown
	status  simStatus
	node    NodeID
	why     string // refusals

	pos           Position // writes: where the leader appended it
	asyncAck      bool     // acknowledged under asynchronous commit (Local or degraded)
	ackByExLeader bool     // acknowledged by a node that no longer led when it answered
	readEarly     bool     // a Leader read asked of a leader that had not committed in its epoch yet
	committedAt   int64    // logical time a leader first committed it (writes)
	ackSync       []NodeID // the acking leader's sync list when it acknowledged
	lost          bool     // acknowledged, then missing from the current leader's log

	view   Position // reads: the Store's applied position the read saw
	found  bool
	got    int      // value read
	gotPos Position // the record's version
	token  Position // the session's token when the read started

	sampleT int          // callSample: the time slot
	many    *simManyRead // callReadMany: what it saw
	retryOf int          // 1 + the call this one retries (same value); 0 if none
	retried bool         // a later call retries this one
}

// simSession is one client session: its token and its read count (for
// the routers' rotation).
type simSession struct {
	token       Position
	reads       uint64
	sessionless bool // a client outside any Session: its token stays zero
}

func (s *simSession) observe(p Position) {
	if !s.sessionless {
		s.token = mergePos(s.token, p)
	}
}

func simKey(k int) string { return "k" + strconv.Itoa(k) }

func (w *simWorld) newCall(c simCall) int {
	w.clock++
	c.call = w.clock
	w.calls = append(w.calls, c)
	return len(w.calls) - 1
}

func (w *simWorld) finish(i int, st simStatus) {
	w.clock++
	c := &w.calls[i]
	c.status, c.ret = st, w.clock
	w.trace.add(simTraceRec{now: w.now, what: traceCall, node: c.node, a: uint64(i), b: uint64(st), c: uint64(c.pos.LSN)})
}

func (w *simWorld) refuse(i int, why string) {
	w.calls[i].why = why
	w.finish(i, statusRefused)
}

// unknown: the write was appended but its client will never hear.
func (w *simWorld) unknown(i int) {
	w.calls[i].status = statusUnknown
	w.trace.add(simTraceRec{now: w.now, what: traceCall, node: w.calls[i].node, a: uint64(i), b: uint64(statusUnknown), c: uint64(w.calls[i].pos.LSN)})
}

// leaders lists the running nodes that believe they lead, in Nodes order.
func (w *simWorld) leaders() []*simNode {
	var out []*simNode
	for _, n := range w.nodes {
		if n.core != nil && n.core.role == roleLeader {
			out = append(out, n)
		}
	}
	return out
}

// write sends one write (or a burst of them, in one batch) to a node that
// believes it leads.
func (w *simWorld) write(op simOp) {
	count := 1
	if op.Kind == simBurst {
		count = 2 + op.Arg
	}
	var calls []int
	for k := 0; k < count; k++ {
		w.values++
		c := simCall{kind: callPut, session: op.Session, key: op.Key, value: w.values}
		switch op.Kind {
		case simCAS:
			c.kind, c.expect = callCAS, w.casExpect(op)
		case simDelete:
			c.kind = callDelete
		case simSample:
			c.kind, c.sampleT = callSample, op.Arg
		}
		calls = append(calls, w.newCall(c))
	}
	w.sendWrites(op.Node, calls)
}

// sendWrites sends write calls, in one batch, to a node that believes it
// leads (the choice-th of them, in Nodes order).
func (w *simWorld) sendWrites(choice int, calls []int) {
	ldrs := w.leaders()
	if len(ldrs) == 0 {
		for _, i := range calls {
			w.refuse(i, "no leader")
		}
		return
	}
	n := ldrs[choice%len(ldrs)]
	batch := make([]simInput, 0, len(calls))
	for _, i := range calls {
		w.calls[i].node = n.id
		batch = append(batch, simInput{call: i})
	}
	w.input(n, batch)
}

// casExpect picks a CAS's expected version: absent, the session's last
// view of the key, or the key's version on the newest leader (likely to
// match).
func (w *simWorld) casExpect(op simOp) LSN {
	switch op.Arg {
	case 0:
		return 0
	case 3:
		if n := w.currentLeader(); n != nil {
			if rec, ok := n.core.sm.(*Store).Get(simKey(op.Key)); ok {
				return rec.Pos.LSN
			}
		}
		return 0
	}
	for i := len(w.calls) - 1; i >= 0; i-- {
		c := &w.calls[i]
		if c.session == op.Session && c.key == op.Key && c.status == statusOK && (c.kind != callSample && c.kind != callReadMany) {
			if c.kind == callRead {
				return c.gotPos.LSN
			}
			return c.pos.LSN
		}
	}
	return 0
}

// propose is node.propose.
func (w *simWorld) propose(n *simNode, i int) {
	c := n.core
	switch {
	case c.role != roleLeader:
		w.refuse(i, fmt.Sprintf("%s is a follower", n.id))
	case c.transferTarget != "":
		w.refuse(i, fmt.Sprintf("%s is handing over to %s", n.id, c.transferTarget))
	default:
		call := &w.calls[i]
		call.pos = c.propose(call.commandData())
		w.chk.byPos[call.pos] = i
		n.waiting = append(n.waiting, simWaiter{key: uint64(call.pos.LSN), call: i})
	}
}

// answerWrites is node.answer: release the writes up to the applied LSN
// with their results; if the node no longer leads, the rest are lost to
// their clients (they may still commit under a new leader).
func (w *simWorld) answerWrites(n *simNode) {
	c := n.core
	errs := c.errs
	k := 0
	for ; k < len(n.waiting) && LSN(n.waiting[k].key) <= c.applied; k++ {
		wt := n.waiting[k]
		var err error
		for len(errs) > 0 && errs[0].lsn <= LSN(wt.key) {
			if errs[0].lsn == LSN(wt.key) {
				err = errs[0].err
			}
			errs = errs[1:]
		}
		switch c.writeFate(w.calls[wt.call].pos) {
		case fateRolledBack:
			// Another entry took this LSN: never acknowledged by this node.
			w.refuse(wt.call, "rolled back by a new leader before it was acknowledged")
			continue
		case fateUnknown:
			w.unknown(wt.call)
			continue
		}
		w.acked(n, wt.call, err)
	}
	n.waiting = n.waiting[k:]
	clear(c.errs)
	c.errs = c.errs[:0]
	if c.role != roleLeader && len(n.waiting) > 0 {
		for _, wt := range n.waiting {
			w.unknown(wt.call)
		}
		n.waiting = nil
	}
}

// acked records a write's answer, and checks who gave it.
func (w *simWorld) acked(n *simNode, i int, err error) {
	c := &w.calls[i]
	st := statusOK
	switch {
	case errors.Is(err, ErrVersionMismatch):
		st = statusMismatch
	case err != nil:
		w.violate("write %d at %v answered with %v", i, c.pos, err)
		return
	}
	if held, _ := n.log.at(c.pos.LSN); held != c.pos {
		note := ""
		if c.pos.LSN < n.log.First() {
			note = fmt.Sprintf(" (LSN %d is under the snapshot %s installed from the new leader: %s)", c.pos.LSN, n.id, simAckUnderSnapshot)
		}
		w.violate("write %d acknowledged by %s at %v, but %s holds %v at LSN %d: the acknowledgement is for another entry%s",
			i, n.id, c.pos, n.id, held, c.pos.LSN, note)
		return
	}
	c.asyncAck = w.cfg.AckLevel == Local || n.core.degraded
	c.ackByExLeader = n.core.role != roleLeader
	c.ackSync = slices.Clone(n.core.syncList)
	w.finish(i, st)
	w.stats.acked++
	s := &w.sessions[c.session]
	s.observe(c.pos)
	w.chk.onAck(w, n, i)
}

// A session's token, as Token does it: merging takes the larger epoch and
// the larger LSN; a replica may serve the session once its applied
// position reaches both.
func mergePos(a, b Position) Position {
	return Position{Epoch: max(a.Epoch, b.Epoch), LSN: max(a.LSN, b.LSN)}
}

func satisfies(applied, token Position) bool {
	return applied.LSN >= token.LSN && applied.Epoch >= token.Epoch
}
