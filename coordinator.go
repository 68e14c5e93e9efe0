package replstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// CoordinatorNode runs the built-in coordinator on a Transport, under
// CoordinatorID: it watches the leader's status, runs fencing rounds and
// promotions (on its own when a follower suspects the leader, unless
// Config.ManualFailover; on request with Failover and Switchover), and
// records the topology with every change. A Cluster runs one inside;
// with one replica per process, run one in one process (the node
// command's -coordinator flag) and give every node its address.
//
// It keeps what it knows (the epoch, the topology) in memory: if its
// process dies, start it again only while the cluster is healthy, with
// the topology in force as its Config. A coordinator backed by a
// consensus service (etcd) removes that limit.
type CoordinatorNode struct {
	n                      *coordNode
	closed                 atomic.Bool
	stopTicker, tickerDone chan struct{}
}

// NewCoordinatorNode starts a coordinator for cfg's cluster on tr.
func NewCoordinatorNode(cfg Config, tr Transport) (*CoordinatorNode, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tr == nil {
		return nil, fmt.Errorf("%w: NewCoordinatorNode: nil Transport", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	c := &CoordinatorNode{n: startCoordNode(&cfg, tr, reportTo(&cfg))}
	if !cfg.ManualTicks {
		c.stopTicker, c.tickerDone = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(c.tickerDone)
			t := time.NewTicker(cfg.TickInterval)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					c.n.tick()
				case <-c.stopTicker:
					return
				}
			}
		}()
	}
	return c, nil
}

// Failover fences every node with a new epoch and promotes the node that
// provably holds every acknowledged write (see Cluster.Failover); it
// returns the decision once it is sent (the promoted node leads when it
// gets it).
func (c *CoordinatorNode) Failover(ctx context.Context, opts FailoverOptions) (Decision, error) {
	if c.closed.Load() {
		return Decision{}, withOp("failover", ErrClosed)
	}
	d, err := c.n.request(ctx, func(id uint64) { c.n.core.requestFailover(id, opts.AllowDataLoss) })
	return d, withOp("failover", err)
}

// Switchover moves leadership to follower to with no loss (see
// Cluster.Switchover).
func (c *CoordinatorNode) Switchover(ctx context.Context, to NodeID) (Decision, error) {
	if c.closed.Load() {
		return Decision{}, withOp("switchover to "+string(to), ErrClosed)
	}
	d, err := c.n.request(ctx, func(id uint64) { c.n.startSwitchover(id, to) })
	return d, withOp("switchover to "+string(to), err)
}

// Close stops the coordinator and leaves the Transport.
func (c *CoordinatorNode) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if c.stopTicker != nil {
		close(c.stopTicker)
		<-c.tickerDone
	}
	c.n.stopAndWait()
	c.n.tr.Unregister(CoordinatorID)
	return nil
}
