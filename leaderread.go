package replstore

import (
	"context"
	"fmt"
)

// readWaiters are the runtime's side of leader reads: a callback per
// read, called on the node's goroutine when the core confirms the read
// (nil) or the node stops leading (why not).
type readWaiters struct {
	nextRead uint64
	readChs  map[uint64]func(error)
}

// startRead registers a leader read on the node's goroutine; it returns
// the read's number (0 if refused at once: done has been called).
func (n *node) startRead(done func(error)) uint64 {
	if !n.core.requestRead(n.nextRead + 1) {
		done(fmt.Errorf("%w: %s is a follower (epoch %d)", ErrNotLeader, n.id, n.core.epoch))
		return 0
	}
	n.nextRead++
	if n.readChs == nil {
		n.readChs = map[uint64]func(error){}
	}
	n.readChs[n.nextRead] = done
	return n.nextRead
}

// answerReads releases confirmed reads, and refuses all of them if the
// node no longer leads.
func (n *node) answerReads() {
	c := n.core
	for _, r := range c.readsReady {
		if done, ok := n.readChs[r.id]; ok {
			delete(n.readChs, r.id)
			done(nil)
		}
	}
	c.readsReady = c.readsReady[:0]
	if c.role != roleLeader && len(n.readChs) > 0 {
		n.failReads(fmt.Errorf("%w: %s lost leadership (%w: epoch %d has begun) before it could confirm the read", ErrNotLeader, n.id, inner(ErrStaleEpoch), c.epoch))
	}
}

// dropRead forgets read id (its caller gave up).
func (n *node) dropRead(id uint64) {
	if _, ok := n.readChs[id]; ok {
		delete(n.readChs, id)
		n.core.dropRead(id)
	}
}

// failReads refuses every waiting read with err.
func (n *node) failReads(err error) {
	n.core.failReads()
	for id, done := range n.readChs {
		delete(n.readChs, id)
		done(err)
	}
}

// checkTokenHeld asks the leader whether its log holds the entry at pos;
// ErrTokenLost if another entry stands there.
func (cl *Cluster) checkTokenHeld(ctx context.Context, pos Position) error {
	n, err := cl.awaitLeader(ctx, nil)
	if err != nil {
		return err
	}
	var held bool
	var at Epoch
	if err := n.do(ctx, func() {
		held = n.core.holds(pos)
		if pos.LSN >= n.core.log.First() && pos.LSN <= n.core.last.LSN {
			at = n.core.epochAt(pos.LSN)
		} else if pos.LSN > 0 {
			at, _ = n.core.compactedEpochAt(pos.LSN)
		}
	}); err != nil {
		return err
	}
	if !held {
		return fmt.Errorf("%w: %v; leader %s holds an entry of epoch %d at LSN %d", ErrTokenLost, pos, n.id, at, pos.LSN)
	}
	return nil
}

// confirmLeader proves that the running leader still leads (a round of
// heartbeats answered by its sync quorum in its epoch) and that it has
// applied every write committed before the call. A read of the leader's
// state machine after it returns is linearizable. A leader cut off from
// its sync followers cannot confirm: the call fails when ctx ends.
func (cl *Cluster) confirmLeaderNode(ctx context.Context) (*node, error) {
	if cl.closed.Load() {
		return nil, ErrClosed
	}
	n := cl.leader.Load()
	if n == nil {
		return nil, fmt.Errorf("%w: no running leader", ErrNodeDown)
	}
	return n, n.confirmLeading(ctx)
}

// confirmLeading proves that this node still leads (see
// Cluster.confirmLeaderNode).
func (n *node) confirmLeading(ctx context.Context) error {
	ch := make(chan error, 1)
	var id uint64 // set on the node's goroutine, read there too
	if !n.mbox.call(func() { id = n.startRead(func(err error) { ch <- err }) }) {
		<-n.done
		return n.stopErr
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		n.mbox.call(func() { n.dropRead(id) }) // a refused read leaves nothing behind
		return fmt.Errorf("replstore: %s could not confirm it still leads (no answer from its sync quorum): %w", n.id, ctx.Err())
	}
}
