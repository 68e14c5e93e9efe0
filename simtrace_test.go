package replstore

import (
	"fmt"
	"strings"
)

// The trace of a run: every delivered message, tick, event, fault and
// call outcome is folded into a hash (two runs of one schedule must give
// the same hash), and the last few are kept to explain a failure.

type simTraceKind uint8

const (
	traceTick simTraceKind = iota + 1
	traceMsg
	traceEvent
	traceOp
	traceCall
	traceCrash
	traceRestart
	tracePause
	traceResume
	traceResult
	traceDrop
	traceCut
	traceSnapshot
	traceTopology
	traceMember // a membership call, or a node added or removed
	traceFlush
)

// simTraceRec is one thing that happened. Its fields mean what its kind
// says (see String).
type simTraceRec struct {
	now        int64
	what       simTraceKind
	node, peer NodeID
	a, b, c, d uint64
	text       string
}

const simTraceKeep = 160

type simTrace struct {
	hash    uint64
	n       int
	ring    [simTraceKeep]simTraceRec
	all     []simTraceRec // every record, when keepAll (for debugging)
	keepAll bool
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (t *simTrace) mix(x uint64) {
	if t.hash == 0 {
		t.hash = fnvOffset
	}
	for i := 0; i < 8; i++ {
		t.hash ^= x & 0xff
		t.hash *= fnvPrime
		x >>= 8
	}
}

func (t *simTrace) mixString(s string) {
	t.mix(uint64(len(s)))
	for i := 0; i < len(s); i++ {
		t.mix(uint64(s[i]))
	}
}

func (t *simTrace) add(r simTraceRec) {
	t.mix(uint64(r.now))
	t.mix(uint64(r.what))
	t.mixString(string(r.node))
	t.mixString(string(r.peer))
	t.mix(r.a)
	t.mix(r.b)
	t.mix(r.c)
	t.mix(r.d)
	if r.what != traceEvent {
		t.mixString(r.text) // event details are formatted from the fields hashed
	}
	t.ring[t.n%simTraceKeep] = r
	t.n++
	if t.keepAll {
		t.all = append(t.all, r)
	}
}

// msg records a delivered message.
func (t *simTrace) msg(now int64, m Message) {
	r := simTraceRec{now: now, what: traceMsg, node: m.To, peer: m.From,
		a: uint64(m.Kind) | uint64(m.Epoch)<<8 | boolBit(m.Reject)<<40 | uint64(len(m.Entries))<<41,
		b: uint64(m.Prev.Epoch)<<32 | uint64(m.Prev.LSN), c: uint64(m.Commit) | uint64(m.Hint)<<32,
		d: uint64(m.Received) | uint64(m.Last.LSN)<<32}
	if sc := m.Snapshot; sc != nil {
		r.c, r.d = uint64(sc.Offset)|uint64(len(sc.Data))<<32, uint64(sc.Total)|uint64(sc.Pos.LSN)<<32
	}
	t.add(r)
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (r simTraceRec) String() string {
	s := fmt.Sprintf("%9dµs ", r.now)
	switch r.what {
	case traceTick:
		return s + "tick"
	case traceMsg:
		kind := MsgKind(r.a & 0xff)
		s += fmt.Sprintf("%s -> %s %s epoch %d", r.peer, r.node, kind, (r.a>>8)&0xffffffff)
		switch kind {
		case MsgAppend:
			s += fmt.Sprintf(" prev %d:%d entries %d commit %d", r.b>>32, r.b&0xffffffff, r.a>>41, r.c&0xffffffff)
		case MsgAppendResp:
			if r.a>>40&1 == 1 {
				s += fmt.Sprintf(" REJECT hint %d", r.c>>32)
			}
			s += fmt.Sprintf(" received %d last %d", r.d&0xffffffff, r.d>>32)
		case MsgSnapshot, MsgSnapshotResp:
			if r.a>>40&1 == 1 {
				s += " REJECT"
			}
			s += fmt.Sprintf(" at LSN %d offset %d (%d bytes) of %d", r.d>>32, r.c&0xffffffff, r.c>>32, r.d&0xffffffff)
		case MsgFenceResp, MsgStatus:
			s += fmt.Sprintf(" last %d", r.d>>32)
		}
		return s
	case traceEvent:
		return s + fmt.Sprintf("event %s on %s (epoch %d, LSN %d) %s %s", EventKind(r.a), r.node, r.b, r.c, r.peer, r.text)
	case traceOp:
		return s + fmt.Sprintf("STEP %s node/mask %d arg %d", simOpKind(r.a), r.b, r.c)
	case traceCall:
		return s + fmt.Sprintf("call %d -> %s (LSN %d) on %s", r.a, []string{"pending", "ok", "mismatch", "unknown", "refused"}[r.b], r.c, r.node)
	case traceCrash:
		return s + "CRASH " + string(r.node)
	case traceRestart:
		return s + "RESTART " + string(r.node)
	case tracePause:
		return s + "PAUSE " + string(r.node)
	case traceResume:
		return s + "RESUME " + string(r.node)
	case traceDrop, traceCut:
		return s + fmt.Sprintf("%s -> %s %s epoch %d %s", r.peer, r.node, MsgKind(r.a), r.b, map[simTraceKind]string{traceDrop: "DROPPED", traceCut: "CUT by the partition"}[r.what])
	case traceSnapshot:
		return s + fmt.Sprintf("snapshot job of %s at %d:%d done, %d bytes", r.node, r.a, r.b, r.c)
	case traceFlush:
		return s + fmt.Sprintf("flush of %s begun at LSN %d done: on disk through %d", r.node, r.a, r.b)
	case traceTopology:
		return s + "coordinator records topology (version, leader, sync, async) " + r.text
	case traceMember:
		return s + fmt.Sprintf("MEMBER %s %s %s", r.node, r.peer, r.text)
	case traceResult:
		return s + fmt.Sprintf("coordinator request %d: promote %q %s", r.a, r.node, r.text)
	}
	return s + "?"
}

// tail prints the last records kept (all of them with keepAll).
func (t *simTrace) tail() string {
	var b strings.Builder
	if t.keepAll {
		for _, r := range t.all {
			b.WriteString(r.String())
			b.WriteByte('\n')
		}
		return b.String()
	}
	from := max(0, t.n-simTraceKeep)
	for i := from; i < t.n; i++ {
		b.WriteString(t.ring[i%simTraceKeep].String())
		b.WriteByte('\n')
	}
	return b.String()
}

// simStats counts what a run did, to report how hard the simulation
// pushed.
type simStats struct {
	acked, lost, lostInRange, lostByRollback, lossReports int
	staleAcks, rollbacks, promotions, degrades            int
	snapshots, compactions                                int
	deposedLeaderReads                                    int // Leader reads served by a leader of an older epoch
	crashes, pauses, partitions                           int
	joins, leaves                                         int // nodes added and removed
	tornCrashes, damaged, repaired                        int // disk faults (simdisk_test.go)
	reads                                                 [readModes]int
	readsServed                                           [readModes]int
	porcupineSkipped, sessionSkipped                      int
	porcupineTimeouts                                     int
	net                                                   simNetStats
	simDrawStats                                          // simdraws_test.go
}

func (s *simStats) add(o simStats) {
	s.acked += o.acked
	s.lost += o.lost
	s.lostInRange += o.lostInRange
	s.lostByRollback += o.lostByRollback
	s.lossReports += o.lossReports
	s.staleAcks += o.staleAcks
	s.rollbacks += o.rollbacks
	s.promotions += o.promotions
	s.degrades += o.degrades
	s.snapshots += o.snapshots
	s.compactions += o.compactions
	s.deposedLeaderReads += o.deposedLeaderReads
	s.crashes += o.crashes
	s.tornCrashes += o.tornCrashes
	s.damaged += o.damaged
	s.repaired += o.repaired
	s.pauses += o.pauses
	s.partitions += o.partitions
	s.joins += o.joins
	s.leaves += o.leaves
	for i := range s.reads {
		s.reads[i] += o.reads[i]
		s.readsServed[i] += o.readsServed[i]
	}
	s.porcupineSkipped += o.porcupineSkipped
	s.sessionSkipped += o.sessionSkipped
	s.porcupineTimeouts += o.porcupineTimeouts
	s.net.sent += o.net.sent
	s.net.dropped += o.net.dropped
	s.net.cut += o.net.cut
	s.net.duplicated += o.net.duplicated
	s.net.delivered += o.net.delivered
	s.simDrawStats.add(o.simDrawStats)
}

func (s simStats) String() string {
	served := 0
	for _, n := range s.readsServed {
		served += n
	}
	return fmt.Sprintf("writes acknowledged %d (lost under async commit %d: %d in a promotion's reported range, %d reported by rollback; stale-epoch acks %d); "+
		"reads served %d (Leader %d/%d, of which by a deposed leader %d, AnyFollower %d/%d, Session %d/%d, Bounded %d/%d); promotions %d, degrades %d, rollbacks %d, snapshots installed %d, compactions %d, "+
		"crashes %d (torn writes %d, flipped bytes %d, damaged replicas repaired %d), pauses %d, partitions %d, nodes added %d, removed %d; messages sent %d, dropped %d, cut %d, duplicated %d, delivered %d; "+
		"keys skipped by porcupine after a loss %d (timed out %d), session reads of lost history %d",
		s.acked, s.lost, s.lostInRange, s.lostByRollback, s.staleAcks,
		served, s.readsServed[0], s.reads[0], s.deposedLeaderReads, s.readsServed[1], s.reads[1], s.readsServed[2], s.reads[2], s.readsServed[3], s.reads[3],
		s.promotions, s.degrades, s.rollbacks, s.snapshots, s.compactions, s.crashes, s.tornCrashes, s.damaged, s.repaired, s.pauses, s.partitions, s.joins, s.leaves,
		s.net.sent, s.net.dropped, s.net.cut, s.net.duplicated, s.net.delivered, s.porcupineSkipped, s.porcupineTimeouts, s.sessionSkipped) +
		"; " + s.simDrawStats.String()
}
