package replstore

import (
	"context"
	"fmt"
	"slices"
)

// cond is a predicate on a node's core, re-checked after every batch of
// inputs until it holds; then ch is closed, or fn called with nil. A cond
// with a deadline (until, in ticks) calls fn with errCondExpired once the
// node's clock passes it.
type cond struct {
	pred  func(*core) bool
	ch    chan struct{}
	fn    func(error)
	until uint64
}

// errCondExpired: a remote wait ran out of time.
var errCondExpired = fmt.Errorf("%w: the replica did not get there in time", ErrNoReplica)

// checkConds closes the channels of the conditions that now hold.
func (n *node) checkConds() {
	kept := n.conds[:0]
	for _, w := range n.conds {
		switch {
		case w.pred(n.core) && w.fn != nil:
			w.fn(nil)
		case w.pred(n.core):
			close(w.ch)
		case w.until > 0 && n.core.tick >= w.until:
			w.fn(errCondExpired)
		default:
			kept = append(kept, w)
		}
	}
	clear(n.conds[len(kept):])
	n.conds = kept
}

// waitUntil blocks until pred holds on node id's core (checked on its
// goroutine after each batch of inputs), ctx ends, or the node stops.
func (cl *Cluster) waitUntil(ctx context.Context, id NodeID, pred func(*core) bool) error {
	n, err := cl.running(id)
	if err != nil {
		return err
	}
	return n.waitUntil(ctx, pred)
}

// waitUntil blocks until pred holds on the node's core (checked on its
// goroutine after each batch of inputs), ctx ends, or the node stops.
func (n *node) waitUntil(ctx context.Context, pred func(*core) bool) error {
	ch := make(chan struct{})
	err := n.do(ctx, func() {
		n.conds = append(n.conds, cond{pred: pred, ch: ch})
		n.checkConds()
	})
	if err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		// Stop checking it: a caller that gives up leaves nothing behind.
		n.mbox.call(func() {
			n.conds = slices.DeleteFunc(n.conds, func(w cond) bool { return w.ch == ch })
		})
		return ctx.Err()
	case <-n.done:
		return n.stopErr
	}
}

// WaitApplied blocks until node id has applied lsn (its reads then see
// every write up to it), ctx ends, or the node stops. A follower applies
// an entry once the leader tells it the commit LSN, in its next append or
// heartbeat: with Config.ManualTicks, call Tick (or write) or this waits
// for ctx.
func (cl *Cluster) WaitApplied(ctx context.Context, id NodeID, lsn LSN) error {
	err := ctx.Err()
	if err == nil {
		err = cl.waitUntil(ctx, id, func(c *core) bool { return c.applied >= lsn })
	}
	if err != nil {
		return withOp(fmt.Sprintf("waiting for %s to apply LSN %d", id, lsn), err)
	}
	return nil
}
