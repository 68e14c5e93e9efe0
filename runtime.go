package replstore

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// request is one write travelling from a caller to the leader and back.
// The caller owns it until it is queued in the leader's mailbox; then the
// node's goroutine owns it until it answers on done, exactly once.
type request struct {
	data  []byte
	pos   Position
	cause error // set by the caller before it queues a cancel
	done  chan result
	// from and id name a write forwarded by another node (MsgForward):
	// its answer goes back as a MsgForwardResp, not on done.
	from NodeID
	id   uint64
	// forward: a follower that takes this write forwards it to the
	// leader it knows (Node.Write). typed: refuse with *NotLeaderError.
	forward, typed bool
	to             NodeID // the leader a forwarded write went to
}

type result struct {
	pos Position
	err error
}

// Local writes reuse their requests: a node sends on done exactly once
// and never touches the request after it, and the writer has received
// that answer before it puts the request back.
var requestPool = sync.Pool{New: func() any { return &request{done: make(chan result, 1)} }}

func getRequest(cmd []byte) *request {
	r := requestPool.Get().(*request)
	done := r.done
	*r = request{data: cmd, done: done}
	return r
}

func putRequest(r *request) {
	r.data, r.cause = nil, nil
	requestPool.Put(r)
}

// node is the runtime of one started node: one goroutine that owns the
// core and its state machine, fed by a mailbox (writes, peer messages,
// ticks, control calls). A crash discards it; the slot's log and hard
// state survive into the next node.
type node struct {
	id      NodeID
	env     nodeEnv
	drv     *driver
	core    *core                 // drv.c
	sm      atomic.Pointer[smBox] // the core's state machine, for readers
	mbox    *mailbox
	done    chan struct{} // closed when the goroutine has exited
	stopErr error         // why it stopped; read after done is closed

	readWaiters
	fwd        forwarded                      // writes this node forwarded to the leader, reads it sent
	adsPub     atomic.Pointer[[]ReplicaState] // core.ads as of the last batch
	pub        published
	snapshots  sync.WaitGroup // snapshot jobs running
	flushes    sync.WaitGroup // the leader's log flush running (at most one)
	stopping   error          // set on the node's goroutine: stop with this error
	tickFn     func()         // queued on every tick
	conds      []cond         // waitUntil conditions not yet met
	afterBatch []func()       // run at the end of the current batch
	waiting    []waiter       // proposed writes in LSN order
	whead      int            // waiting[:whead] are answered
}

// smBox holds a state machine for atomic publication.
type smBox struct{ sm StateMachine }

// waiter is a proposed write; r is nil once answered.
type waiter struct {
	lsn LSN
	r   *request
}

// nodeEnv is everything a node's runtime gets from outside: its
// configuration, its storage, the Transport that is its only way to other
// nodes and the coordinator, and what it tells its host (the Node that
// embeds it; in a Cluster, the test harness). Nothing in it belongs to
// another node.
type nodeEnv struct {
	cfg     *Config
	coreCfg *coreConfig
	tr      Transport
	// report takes the node's events (Config.OnEvent and the log).
	report func(Event)
	// shaped is called, on the node's goroutine, after the node's role,
	// epoch or caught-up state changed, and after its first batch.
	shaped func(n *node)
	// afterBatch is called on the node's goroutine after every batch,
	// once the node's state is published.
	afterBatch func(n *node)
	// ownedByCluster: the Node is one of a Cluster's, which alone stops
	// it and closes its storage (Node.Close refuses).
	ownedByCluster bool
}

func newNode(id NodeID, env nodeEnv, log LogStore, hard HardStateStore) (*node, error) {
	sm := env.cfg.NewStateMachine()
	if sm == nil {
		return nil, fmt.Errorf("%w: node %s: Config.NewStateMachine returned nil", ErrInvalidConfig, id)
	}
	n := &node{
		id:   id,
		env:  env,
		mbox: newMailbox(),
		done: make(chan struct{}),
	}
	drv, err := newDriver(id, env.coreCfg, log, sm, hard, n)
	if err != nil {
		return nil, err
	}
	n.drv, n.core = drv, drv.c
	_, drv.asyncFlush = log.(ConcurrentSyncLog)
	n.sm.Store(&smBox{sm})
	n.tickFn = func() { n.core.onTick(time.Now().UnixNano()) }
	return n, nil
}

// send implements nodeHost: the leader publishes its last LSN before the
// entries leave (see publish).
func (n *node) send(msgs []Message) {
	n.publish()
	for i := range msgs {
		n.env.tr.Send(msgs[i])
	}
}

// report implements nodeHost.
func (n *node) report(e Event) { n.env.report(e) }

// answer implements nodeHost: writes up to the applied LSN, then the
// confirmed leader reads. It publishes the node's state first: a writer
// woken here runs once this goroutine blocks, so whatever the node does
// after answering delays it; and a reader then never sees an applied LSN
// older than a write already answered. (afterStep publishes again, which
// stores nothing unless something changed.)
func (n *node) answer() {
	n.publish()
	n.answerWrites()
	if len(n.readChs) > 0 {
		n.answerReads()
	}
}

// stopWith stops the goroutine and waits for it; pending writes fail with
// err.
func (n *node) stopWith(err error) {
	n.mbox.call(func() { n.stopping = err })
	<-n.done
}

// run is the node's goroutine.
func (n *node) run() {
	defer close(n.done)
	var inbox []inboxItem
	for {
		<-n.mbox.notify
		inbox = n.mbox.take(inbox)
		if n.core.role == roleLeader {
			inbox = n.gatherProposals(inbox)
		}
		clocked := false
		for i := range inbox {
			it := &inbox[i]
			switch {
			case it.r != nil:
				if !clocked {
					// Proposals carry the leader's time; one clock
					// read serves the whole batch.
					n.core.now, clocked = time.Now().UnixNano(), true
				}
				n.propose(it.r)
			case it.f != nil:
				it.f()
			case it.m.Kind >= MsgForward && it.m.Kind <= MsgReadResp:
				if !clocked {
					n.core.now, clocked = time.Now().UnixNano(), true
				}
				n.handleClientMsg(&it.m)
			default:
				// Messages do not read the clock: the core's time
				// moves with proposals and ticks, which is all it needs.
				n.core.step(it.m, n.core.now)
			}
		}
		clear(inbox)
		n.afterStep()
		if n.core.fatal != nil {
			n.env.cfg.Logger.Error("node stopped", "node", n.id, "err", n.core.fatal)
			n.stopping = n.core.fatal
		}
		if n.stopping != nil {
			n.shutdown(n.stopping)
			return
		}
	}
}

// maxGatherYields bounds how often the leader yields to gather one batch.
const maxGatherYields = 4

// gatherProposals is group commit without a timer. When writes arrive
// while other writers are about to propose (writers counted in
// mbox.writers whose write is neither queued nor waiting for its commit:
// those answered by the last batch, runnable behind this goroutine and
// not yet returned from Write), the leader yields its processor so they
// can queue first, then takes what they queued. One append, one
// message per follower and one acknowledgement then serve them all,
// instead of one round each: at 16 writers on 2 cores, batches grow from
// about one write to several and the messages per write fall from 2.9 to
// under 0.5. A lone writer never yields (nobody else is about to
// propose); yielding stops as soon as it brings nothing new, so the
// leader waits for no one who is not already runnable.
func (n *node) gatherProposals(inbox []inboxItem) []inboxItem {
	held := countProposals(inbox)
	if held == 0 {
		return inbox
	}
	for range maxGatherYields {
		if n.mbox.writers.Load() <= int64(held+len(n.waiting)-n.whead) {
			return inbox
		}
		runtime.Gosched()
		before := len(inbox)
		inbox = n.mbox.takeMore(inbox)
		if len(inbox) == before {
			return inbox
		}
		held += countProposals(inbox[before:])
	}
	return inbox
}

func countProposals(items []inboxItem) int {
	k := 0
	for i := range items {
		if items[i].r != nil {
			k++
		}
	}
	return k
}

// propose hands a write to the core, or refuses it.
func (n *node) propose(r *request) {
	if c := n.core; c.role != roleLeader {
		switch {
		case r.forward && c.leader != "" && c.leader != n.id:
			n.forward(r, c.leader)
		case r.typed:
			n.reply(r, result{err: &NotLeaderError{Node: n.id, Leader: c.leader, Epoch: c.epoch}})
		default:
			n.reply(r, result{err: fmt.Errorf("%w: %s is a follower (epoch %d); write not appended", ErrNotLeader, n.id, c.epoch)})
		}
		return
	}
	if t := n.core.transferTarget; t != "" {
		n.reply(r, result{err: fmt.Errorf("%w: %s is handing over to %s (switchover); write not appended", ErrNotLeader, n.id, t)})
		return
	}
	r.pos = n.core.propose(r.data)
	n.waiting = append(n.waiting, waiter{lsn: r.pos.LSN, r: r})
}

// cancel answers a caller whose context ended: with NotAcknowledgedError
// if the write still waits for its commit rule. The mailbox is FIFO, so
// the write was taken before its cancel; if it is no longer waiting, it
// was answered already and the caller finds the answer on done.
func (n *node) cancel(r *request) {
	if r.id != 0 && n.fwd.reqs[r.id] == r {
		delete(n.fwd.reqs, r.id)
		r.done <- result{err: &NotAcknowledgedError{AckLevel: n.env.cfg.AckLevel, Cause: r.cause,
			Detail: "the write was forwarded to the leader and its answer did not come back in time; its outcome is unknown"}}
		return
	}
	pending := n.waiting[n.whead:]
	i, found := slices.BinarySearchFunc(pending, r.pos.LSN, func(w waiter, lsn LSN) int { return cmp.Compare(w.lsn, lsn) })
	if r.pos.LSN == 0 || !found || pending[i].r != r {
		return
	}
	pending[i].r = nil
	n.reply(r, result{pos: r.pos, err: &NotAcknowledgedError{Pos: r.pos, AckLevel: n.env.cfg.AckLevel, Cause: r.cause,
		Detail: n.core.waitReason()}})
}

// afterStep ends a batch: the driver flushes the core, persists, sends
// its messages, applies, reports its events and answers the writes and
// reads (driver.go); then the node publishes its state for readers.
func (n *node) afterStep() {
	c := n.core
	n.drv.advance()
	if len(n.fwd.reqs) > 0 {
		n.checkForwarded()
	}
	n.publish()
	n.env.afterBatch(n)
	if c.sm != n.sm.Load().sm {
		n.sm.Store(&smBox{c.sm}) // rebuilt by a rollback
	}
	if len(n.conds) > 0 {
		n.checkConds()
	}
	for _, f := range n.afterBatch {
		f()
	}
	clear(n.afterBatch)
	n.afterBatch = n.afterBatch[:0]
}

// answerWrites releases the writes up to the applied LSN, with their
// results.
func (n *node) answerWrites() {
	c := n.core
	errs := c.errs
	for n.whead < len(n.waiting) && n.waiting[n.whead].lsn <= c.applied {
		w := &n.waiting[n.whead]
		var err error
		for len(errs) > 0 && errs[0].lsn <= w.lsn {
			if errs[0].lsn == w.lsn {
				err = errs[0].err
			}
			errs = errs[1:]
		}
		if w.r != nil {
			switch c.writeFate(w.r.pos) {
			case fateRolledBack:
				// Another entry took this LSN: the node stopped leading
				// and followed a new leader, which rolled the write back.
				err = fmt.Errorf("%w: %s lost leadership and the write at %v was rolled back: it was never acknowledged, and is not in the log", ErrNotLeader, n.id, w.r.pos)
			case fateUnknown:
				// It had not committed the write when it stepped down, or a
				// snapshot from the new leader replaced that LSN.
				err = fmt.Errorf("%w: %s lost leadership (%w) and cannot tell whether the write at %v is in the new leader's log (a read will)",
					ErrNotAcknowledged, n.id, ErrNotLeader, w.r.pos)
			}
			n.reply(w.r, result{pos: w.r.pos, err: err})
			w.r = nil
		}
		n.whead++
	}
	clear(c.errs)
	c.errs = c.errs[:0]
	if n.whead == len(n.waiting) {
		n.waiting = n.waiting[:0]
		n.whead = 0
	} else if n.whead > 1024 && n.whead > len(n.waiting)/2 {
		k := copy(n.waiting, n.waiting[n.whead:])
		clear(n.waiting[k:])
		n.waiting = n.waiting[:k]
		n.whead = 0
	}
	if c.role != roleLeader && n.whead < len(n.waiting) {
		n.failWaiting(fmt.Errorf("%w: %s lost leadership (%w: epoch %d has begun) before the write was acknowledged", ErrNotLeader, n.id, ErrStaleEpoch, c.epoch))
	}
}

// failWaiting answers every pending write with err: the node stops or
// stopped leading, so none of them will be acknowledged by it.
func (n *node) failWaiting(err error) {
	for _, w := range n.waiting[n.whead:] {
		if w.r != nil {
			n.reply(w.r, result{pos: w.r.pos, err: fmt.Errorf("%w (write at %v was not acknowledged; it may still commit under a new leader)", err, w.r.pos)})
		}
	}
	clear(n.waiting)
	n.waiting, n.whead = n.waiting[:0], 0
}

// shutdown answers every write the node holds or has queued with err;
// the mailbox refuses everything after, so none is left unanswered.
func (n *node) shutdown(err error) {
	n.stopErr = err
	n.failWaiting(err)
	n.failReads(err)
	n.failForwarded(err)
	for _, it := range n.mbox.close() {
		if it.r != nil {
			n.reply(it.r, result{err: err})
		}
	}
	n.snapshots.Wait()
	n.flushes.Wait()
}

// startFlush implements nodeHost: it syncs the log on a goroutine of its
// own (the log is a ConcurrentSyncLog) and hands the result back through
// the mailbox, dropped if the node has stopped by then (a crash loses
// it; the log keeps whatever the sync made durable).
func (n *node) startFlush(f flushJob) {
	n.flushes.Add(1)
	log := n.core.log
	go func() {
		defer n.flushes.Done()
		err := log.Sync()
		n.mbox.call(func() { n.drv.flushed(f, err) })
	}()
}

// startSnapshot writes a snapshot job on its own goroutine and hands the
// result back to the core through the mailbox (dropped if the node has
// stopped by then: a crash loses it, as it would on a disk).
func (n *node) startSnapshot(job *snapshotJob) {
	n.snapshots.Add(1)
	go func() {
		defer n.snapshots.Done()
		snap, err := job.run() // encoded and, on a durable store, written and synced aside
		if !n.mbox.call(func() { n.core.snapshotTaken(job, snap, err) }) {
			job.discard() // the node stopped: a crash would lose it the same way
		}
	}()
}

// wallClockIncarnation proposes a StorageIncarnation from the wall
// clock, in nanoseconds: a node that lost its whole disk (and with it
// the incarnation it had) still comes back with a larger one, unless the
// clock went back by more than the time since that one was drawn.
func wallClockIncarnation() uint64 { return uint64(max(time.Now().UnixNano(), 1)) }

// do runs f on the node's goroutine and waits for it, for ctx or for the
// node to stop. If ctx ends first, f may still run later.
func (n *node) do(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	// ran closes after the batch's outputs are sent, so the caller sees
	// f's effects on the other nodes' mailboxes too.
	if !n.mbox.call(func() { f(); n.afterBatch = append(n.afterBatch, func() { close(ran) }) }) {
		<-n.done
		return n.stopErr
	}
	select {
	case <-ran:
		return nil
	case <-n.done:
		select {
		case <-ran:
			return nil
		default:
			return n.stopErr
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitReason says why writes are waiting, for NotAcknowledgedError.
func (c *core) waitReason() string {
	if c.role != roleLeader {
		return "the node no longer leads"
	}
	var lagging []string
	for _, p := range c.followers {
		if p.sync {
			state := "live"
			if !p.live(c.tick, c.cfg.timeoutTicks) {
				state = "not answering"
			}
			lagging = append(lagging, fmt.Sprintf("%s %s at %v LSN %d", p.id, state, c.cfg.ackLevel, p.ack(c.cfg.ackLevel)))
		}
	}
	return fmt.Sprintf("commit LSN %d; sync set (%v %d): %v", c.commit, c.cfg.quorum, c.cfg.syncCount, lagging)
}
