package replstore

import (
	"context"
	"encoding/json"
	"fmt"
)

// coordNode runs the in-process coordinator: one goroutine that owns a
// coordCore, fed by a mailbox on the network under CoordinatorID.
type coordNode struct {
	tr      Transport
	report  func(Event)
	core    *coordCore
	mbox    *mailbox
	done    chan struct{}
	stop    bool
	nextID  uint64
	waiting map[uint64]chan roundResult
	remote  map[uint64]Message // rounds requested by a node's message (MsgRead)
	tickFn  func()
}

func (cl *Cluster) startCoordinator() {
	cl.coord = startCoordNode(&cl.cfg, cl.net, cl.report)
}

// startCoordNode starts a coordinator for cfg's cluster on tr, under
// CoordinatorID.
func startCoordNode(cfg *Config, tr Transport, report func(Event)) *coordNode {
	cc := &coordConfig{quorum: cfg.Quorum, syncCount: cfg.SyncCount, ackLevel: cfg.AckLevel,
		suspectTicks: cfg.SuspectTicks, fenceTicks: cfg.FenceTicks, auto: !cfg.ManualFailover,
		allowDataLoss: cfg.AllowDataLoss, decider: cfg.Coordinator}
	topo := Topology{Leader: cfg.Leader, Sync: cfg.SyncFollowers, Async: cfg.AsyncFollowers}
	n := &coordNode{tr: tr, report: report, core: newCoordCore(cc, cfg.Leader, 1, topo), mbox: newMailbox(),
		done: make(chan struct{}), waiting: map[uint64]chan roundResult{}, remote: map[uint64]Message{}}
	n.tickFn = n.core.onTick
	tr.Register(CoordinatorID, n.mbox.put)
	go n.run()
	return n
}

func (n *coordNode) run() {
	defer close(n.done)
	var inbox []inboxItem
	for !n.stop {
		<-n.mbox.notify
		inbox = n.mbox.take(inbox)
		for i := range inbox {
			switch m := &inbox[i].m; {
			case inbox[i].f != nil:
				inbox[i].f()
			case m.Kind == MsgRead:
				n.requested(*m)
			default:
				n.core.step(*m)
			}
		}
		clear(inbox)
		n.flush()
	}
	n.mbox.close()
	for id, ch := range n.waiting {
		ch <- roundResult{id: id, err: ErrClosed}
	}
}

// flush sends the core's messages, reports its events, answers requests.
func (n *coordNode) flush() {
	c := n.core
	for _, m := range c.msgs {
		n.tr.Send(m)
	}
	clear(c.msgs)
	c.msgs = c.msgs[:0]
	for _, e := range c.events {
		n.report(e)
	}
	c.events = c.events[:0]
	for _, r := range c.results {
		if ch, ok := n.waiting[r.id]; ok {
			ch <- r
			delete(n.waiting, r.id)
		}
		if m, ok := n.remote[r.id]; ok {
			delete(n.remote, r.id)
			n.answer(m, r.decision, r.err)
		}
	}
	c.results = c.results[:0]
}

// request runs start (which registers a round with the given id) on the
// coordinator's goroutine and waits for the round's result.
func (n *coordNode) request(ctx context.Context, start func(id uint64)) (Decision, error) {
	ch := make(chan roundResult, 1)
	if !n.mbox.call(func() {
		n.nextID++
		n.waiting[n.nextID] = ch
		start(n.nextID)
	}) {
		return Decision{}, ErrClosed
	}
	select {
	case r := <-ch:
		return r.decision, r.err
	case <-ctx.Done():
		return Decision{}, fmt.Errorf("replstore: waiting for the coordinator: %w", ctx.Err())
	}
}

// FailoverOptions tune a manual failover.
type FailoverOptions struct {
	// AllowDataLoss promotes the most up-to-date reachable node even when
	// it cannot be proven to hold every acknowledged write; the LSN range
	// that may be lost is reported (Decision.MayLose and EventDataLoss)
	// before the promotion.
	AllowDataLoss bool
}

// Failover fences every node with a new epoch and promotes the node that
// provably holds every acknowledged write (see QuorumCoordinator),
// whether or not the leader is alive: an operator's "the leader is gone".
// It returns once the promoted node leads. It fails with
// ErrNoSafeCandidate, promoting nobody, when too few nodes answer.
//
// Its errors read "replstore: failover: ..." and wrap the cause; a
// context already ended starts nothing.
func (cl *Cluster) Failover(ctx context.Context, opts FailoverOptions) (Decision, error) {
	if cl.closed.Load() {
		return Decision{}, withOp("failover", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, withOp("failover", err)
	}
	d, err := cl.coord.request(ctx, func(id uint64) { cl.coord.core.requestFailover(id, opts.AllowDataLoss) })
	d, err = cl.promoted(ctx, d, err)
	return d, withOp("failover", err)
}

// promoted waits until the node a decision promoted leads.
func (cl *Cluster) promoted(ctx context.Context, d Decision, err error) (Decision, error) {
	if err != nil {
		return d, err
	}
	for {
		n, err := cl.awaitLeader(ctx, nil)
		if err != nil {
			return d, err
		}
		if n.id == d.Promote {
			return d, nil
		}
		if _, err := cl.awaitLeader(ctx, n); err != nil {
			return d, err
		}
	}
}

// Switchover moves leadership to the follower to with no loss: the leader
// stops taking new writes (they get ErrNotLeader before being appended,
// and Write retries them on the new leader), waits until its writes are
// committed and to holds them all, then the coordinator fences every node
// and promotes to. Writes already accepted are committed before the move.
// It returns once to leads. A switchover to the node that already leads
// does nothing and fails with ErrAlreadyLeader.
//
// Its errors read "replstore: switchover to <to>: ..." and wrap the
// cause; a context already ended starts nothing.
func (cl *Cluster) Switchover(ctx context.Context, to NodeID) (Decision, error) {
	d, err := cl.switchover(ctx, to)
	return d, withOp("switchover to "+string(to), err)
}

func (cl *Cluster) switchover(ctx context.Context, to NodeID) (Decision, error) {
	if cl.closed.Load() {
		return Decision{}, ErrClosed
	}
	if _, err := cl.slotOf(to); err != nil {
		return Decision{}, err
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	d, err := cl.coord.request(ctx, func(id uint64) { cl.coord.startSwitchover(id, to) })
	return cl.promoted(ctx, d, err)
}

// startSwitchover starts switchover round id on the coordinator's
// goroutine.
func (n *coordNode) startSwitchover(id uint64, to NodeID) {
	// The coordinator's own answer to this case is a Decision that
	// promotes nobody new; say so instead, on its goroutine, so that its
	// view of who leads is the one checked.
	if c := n.core; c.round == nil && c.transfer == nil && c.leader != "" && c.leader == to {
		c.results = append(c.results, roundResult{id: id,
			err: fmt.Errorf("%w: %s already leads epoch %d; switchover did nothing", ErrAlreadyLeader, to, c.epoch)})
		return
	}
	n.core.requestSwitchover(id, to)
}

// tick queues a tick for the coordinator.
func (n *coordNode) tick() { n.mbox.call(n.tickFn) }

// tickSync ticks the coordinator and waits until it has handled the tick.
func (n *coordNode) tickSync(ctx context.Context) error {
	done := make(chan struct{})
	if !n.mbox.call(func() { n.core.onTick(); close(done) }) {
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopAndWait stops the coordinator's goroutine.
func (n *coordNode) stopAndWait() {
	n.mbox.call(func() { n.stop = true })
	<-n.done
}

// requested starts a round a node asked for by message (Node.Failover,
// Node.Switchover); flush answers it with the decision.
func (n *coordNode) requested(m Message) {
	n.nextID++
	switch m.Op {
	case ReadFailover:
		n.remote[n.nextID] = m
		n.core.requestFailover(n.nextID, m.Confirm)
	case ReadSwitchover:
		n.remote[n.nextID] = m
		n.startSwitchover(n.nextID, m.Target)
	default:
		n.answer(m, Decision{}, fmt.Errorf("%w: the coordinator does not serve %v", ErrBadCommand, m.Op))
	}
}

// answer replies to a node's request with a decision or an error.
func (n *coordNode) answer(m Message, d Decision, err error) {
	resp := Message{Kind: MsgReadResp, From: CoordinatorID, To: m.From, Epoch: m.Epoch, ReqID: m.ReqID}
	if err == nil {
		resp.Data, err = json.Marshal(d)
	}
	resp.ErrCode, resp.ErrText = encodeErr(err)
	n.tr.Send(resp)
}
