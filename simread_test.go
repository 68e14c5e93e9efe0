package replstore

import (
	"fmt"
	"strconv"
)

// Reads in the four modes, as the built-in routers serve them: Leader
// reads through the leader core's read rounds (requestRead, readsReady),
// the others straight from a replica's Store, chosen over the published
// applied positions (Cluster.Replicas). Every served read records the
// view it saw, for the history checks.

// read issues one read in its mode.
func (w *simWorld) read(op simOp) {
	s := &w.sessions[op.Session]
	kind := callRead
	if op.Kind == simReadMany {
		kind = callReadMany
	}
	w.checkTokenHeld(s.token)
	i := w.newCall(simCall{kind: kind, session: op.Session, key: op.Key, mode: op.Arg, token: s.token})
	seq := s.reads
	s.reads++
	w.stats.reads[op.Arg]++
	if op.Arg == readLeader {
		ldrs := w.leaders()
		if len(ldrs) == 0 {
			w.refuse(i, "no leader")
			return
		}
		n := ldrs[op.Node%len(ldrs)]
		w.calls[i].node = n.id
		w.input(n, []simInput{{call: i}})
		return
	}
	n, atLeast, why := w.route(op, seq, s.token)
	if n == nil {
		w.refuse(i, why)
		return
	}
	w.serve(n, i, atLeast)
}

// startLeaderRead is node.startRead.
func (w *simWorld) startLeaderRead(n *simNode, i int) {
	if !n.core.requestRead(n.nextRead + 1) {
		w.refuse(i, fmt.Sprintf("%s is a follower", n.id))
		return
	}
	n.nextRead++
	n.reads = append(n.reads, simWaiter{key: n.nextRead, call: i})
	w.calls[i].readEarly = n.core.commit < n.core.epochStart
}

// answerReads is node.answerReads: serve the confirmed reads from the
// leader's state machine now; refuse every read if it no longer leads.
func (w *simWorld) answerReads(n *simNode) {
	c := n.core
	for _, r := range c.readsReady {
		for k, wt := range n.reads {
			if wt.key == r.id {
				if c.epoch < w.chk.maxLedEpoch {
					w.stats.deposedLeaderReads++
				}
				w.serve(n, wt.call, w.calls[wt.call].token)
				n.reads = append(n.reads[:k], n.reads[k+1:]...)
				break
			}
		}
	}
	c.readsReady = c.readsReady[:0]
	if c.role != roleLeader && len(n.reads) > 0 {
		c.failReads()
		for _, wt := range n.reads {
			w.refuse(wt.call, "lost leadership")
		}
		n.reads = nil
	}
}

// serve is Cluster.serve: it reads the key from n's Store at one applied
// position, if that view reaches atLeast (the session's token for Leader
// and SessionConsistent reads, the replica's published applied position
// for BoundedStaleness); a view that falls short is refused.
func (w *simWorld) serve(n *simNode, i int, atLeast Position) {
	c := &w.calls[i]
	c.node = n.id
	st := n.core.sm.(*Store)
	short := false
	st.Read(func(tx *ReadTx) {
		c.view = tx.Applied()
		if short = !satisfies(c.view, atLeast); short {
			return
		}
		if c.kind == callReadMany {
			w.readMany(tx, c, n)
			return
		}
		rec, ok := tx.Get(simKey(c.key))
		c.found = ok
		if ok {
			c.gotPos = rec.Pos
			v, err := strconv.Atoi(string(rec.Value))
			if err != nil {
				w.violate("read of %s on %s: value %q is not one the simulation wrote", simKey(c.key), n.id, rec.Value)
			}
			c.got = v
		}
	})
	if short {
		w.refuse(i, fmt.Sprintf("%s's view at %v falls short of %v", n.id, c.view, atLeast))
		return
	}
	s := &w.sessions[c.session]
	s.observe(c.view)
	w.stats.readsServed[c.mode]++
	w.finish(i, statusOK)
}

// published is what node.publish shows routers: the applied position.
func (n *simNode) published() Position {
	return Position{Epoch: n.core.epochAtApplied(), LSN: n.core.applied}
}

// route chooses the replica for a follower-mode read, as the built-in
// routers do over Cluster.Replicas: followers in Nodes order, rotated by
// the session's read count; the first node that believes it leads as the
// fallback.
func (w *simWorld) route(op simOp, seq uint64, token Position) (*simNode, Position, string) {
	var ldr *simNode
	for _, n := range w.nodes {
		if n.core != nil && n.core.role == roleLeader {
			ldr = n
			break
		}
	}
	pick := func(ok func(*simNode) bool) *simNode {
		var m []*simNode
		for _, n := range w.nodes {
			if n.core != nil && n.core.role != roleLeader && (ok == nil || ok(n)) {
				m = append(m, n)
			}
		}
		if len(m) == 0 {
			return nil
		}
		return m[(seq+uint64(op.Node))%uint64(len(m))]
	}
	switch op.Arg {
	case readAnyFollower:
		if n := pick(nil); n != nil {
			return n, Position{}, ""
		}
		if ldr != nil {
			return ldr, Position{}, ""
		}
		return nil, Position{}, "every node is down"
	case readSession:
		covered := func(n *simNode) bool { return satisfies(n.published(), token) }
		if n := pick(covered); n != nil {
			return n, token, ""
		}
		if ldr != nil && covered(ldr) {
			return ldr, token, ""
		}
		return nil, Position{}, "no replica has reached the session token"
	default: // readBounded: at most op.Key entries behind the leader's log
		if ldr == nil {
			return nil, Position{}, "no leader to measure lag against"
		}
		last := ldr.core.last.LSN
		if n := pick(func(n *simNode) bool { return last <= n.core.applied+LSN(op.Key) }); n != nil {
			return n, n.published(), ""
		}
		return ldr, ldr.published(), ""
	}
}

// checkTokenHeld: every node that has compacted past a session token's
// LSN says it holds the token's entry (core.holds, which a leader
// answers a token check with, and a promotion's check uses) exactly when
// the entry its log holds there, by the shadow, is the token's: the
// history of epochs its snapshot carries stands in for the compacted
// entries. A token names a write the session made or an entry a read
// saw, so under asynchronous commit it may name a lost one. It only
// reads the cores: the schedule is the same with or without it.
func (w *simWorld) checkTokenHeld(token Position) {
	if token.LSN == 0 {
		return
	}
	for _, n := range w.nodes {
		c := n.core
		if c == nil || token.LSN >= c.log.First() {
			continue
		}
		at, ok := n.log.at(token.LSN)
		if !ok || at == (Position{}) {
			continue // under a snapshot whose sender is unknown
		}
		if got, want := c.holds(token), at == token; got != want {
			w.violate("%s says it holds %v: %t, but its log holds %v at LSN %d (compacted through %d)",
				n.id, token, got, at, token.LSN, c.log.First()-1)
		}
	}
}
