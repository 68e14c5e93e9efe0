package replstore

import (
	"container/heap"
	"math/rand/v2"
)

// The simulated network: one seeded random source decides every message's
// fate (dropped, duplicated, how long it travels), so a run replays
// exactly from its schedule. Delays are drawn per message, so messages on
// one link overtake each other. A partition cuts every link between its
// two sides, for messages sent during it and for those in flight.

// simTick is one tick of virtual time, in µs.
const simTick int64 = 10_000

// simQuantum rounds delivery times up, so that messages due together
// reach a node in one batch, as a mailbox hands over what has queued.
const simQuantum int64 = 250

// simFlight is a message in flight, or a node's snapshot job finishing
// (it takes time too, and comes back through the node's mailbox).
type simFlight struct {
	at   int64  // virtual µs it arrives
	seq  uint64 // send order, to break ties
	msg  Message
	snap *simSnapJob // a snapshot job for node msg.To; msg is empty otherwise

	// flush: a leader's flush completing on node msg.To; msg is empty.
	flush *simFlushJob
}

type simQueue []simFlight

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simFlight)) }
func (q *simQueue) Pop() any {
	old := *q
	f := old[len(old)-1]
	old[len(old)-1] = simFlight{}
	*q = old[:len(old)-1]
	return f
}

// simNetStats counts message fates over a run.
type simNetStats struct {
	sent, dropped, cut, duplicated, delivered int
}

type simNet struct {
	rng      *rand.Rand
	q        simQueue
	seq      uint64
	drop     int // per mille
	dup      int // per mille
	minDelay int64
	maxDelay int64
	// side is each endpoint's side of the partition (nodes by index, the
	// coordinator last); nil when the network is whole.
	side []bool
	// from is a one-way partition: messages from an endpoint marked true
	// to one marked false are cut, the other way pass; nil when none.
	from  []bool
	index map[NodeID]int
	stats simNetStats
	trace *simTrace // records every message lost
}

// ids are the nodes the cluster starts with, by index; spare IDs that
// may be added later follow the coordinator.
func newSimNet(p simParams, ids []NodeID, spare int) *simNet {
	n := &simNet{rng: rand.New(rand.NewPCG(p.NetSeed, 0x5eed)), drop: p.DropPerMille, dup: p.DupPerMille,
		minDelay: p.MinDelay, maxDelay: p.MaxDelay, index: map[NodeID]int{}}
	for i, id := range ids {
		n.index[id] = i
	}
	n.index[CoordinatorID] = len(ids)
	for k := len(ids); k < len(ids)+spare; k++ {
		n.index[simID(k)] = k + 1
	}
	return n
}

// roll is true with probability perMille/1000.
func (n *simNet) roll(perMille int) bool {
	return perMille > 0 && n.rng.IntN(1000) < perMille
}

// cut reports whether a partition separates a and b.
func (n *simNet) cut(a, b NodeID) bool {
	return n.side != nil && n.side[n.index[a]] != n.side[n.index[b]] ||
		n.from != nil && n.from[n.index[a]] && !n.from[n.index[b]]
}

// partition puts the endpoints whose bit is set in mask on one side.
func (n *simNet) partition(mask int) {
	n.side = make([]bool, len(n.index))
	for i := range n.side {
		n.side[i] = mask&(1<<i) != 0
	}
}

func (n *simNet) heal() { n.side, n.from = nil, nil }

// send puts m on the network at virtual time now: it may be lost, or
// arrive twice.
func (n *simNet) send(now int64, m Message) {
	n.stats.sent++
	switch {
	case n.cut(m.From, m.To):
		n.stats.cut++
		n.lost(now, m, traceCut)
		return
	case n.roll(n.drop):
		n.stats.dropped++
		n.lost(now, m, traceDrop)
		return
	}
	n.push(now, m)
	if n.roll(n.dup) {
		n.stats.duplicated++
		n.push(now, m)
	}
}

func (n *simNet) push(now int64, m Message) { n.pushFlight(now, simFlight{msg: m}) }

// later queues a snapshot job's completion for node id.
func (n *simNet) later(now int64, id NodeID, job *simSnapJob) {
	n.pushFlight(now, simFlight{msg: Message{To: id}, snap: job})
}

func (n *simNet) pushFlight(now int64, f simFlight) {
	d := n.minDelay
	if n.maxDelay > n.minDelay {
		d += n.rng.Int64N(n.maxDelay - n.minDelay + 1)
	}
	n.pushAt(now+d, f)
}

// pushAt queues f to arrive at virtual time at (rounded up to the
// quantum); it draws nothing.
func (n *simNet) pushAt(at int64, f simFlight) {
	n.seq++
	f.at, f.seq = (at+simQuantum-1)/simQuantum*simQuantum, n.seq
	heap.Push(&n.q, f)
}

func (n *simNet) lost(now int64, m Message, why simTraceKind) {
	if n.trace != nil {
		n.trace.add(simTraceRec{now: now, what: why, node: m.To, peer: m.From, a: uint64(m.Kind), b: uint64(m.Epoch)})
	}
}

// nextAt is when the next message arrives; ok is false if none is in
// flight.
func (n *simNet) nextAt() (at int64, ok bool) {
	if len(n.q) == 0 {
		return 0, false
	}
	return n.q[0].at, true
}

// takeDue removes everything that arrives at time at, minus the messages
// a partition has cut meanwhile, in send order.
func (n *simNet) takeDue(at int64) []simFlight {
	var out []simFlight
	for len(n.q) > 0 && n.q[0].at == at {
		f := heap.Pop(&n.q).(simFlight)
		if f.snap == nil && f.flush == nil && n.cut(f.msg.From, f.msg.To) {
			n.stats.cut++
			n.lost(at, f.msg, traceCut)
			continue
		}
		out = append(out, f)
	}
	return out
}
