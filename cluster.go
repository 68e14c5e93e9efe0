package replstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Cluster is an in-process cluster: a leader and its sync and async
// followers, each a goroutine, connected by a MemNet. Its methods are safe
// for concurrent use.
type Cluster struct {
	cfg     Config
	coreCfg *coreConfig
	net     *MemNet
	slots   map[NodeID]*slot
	order   []NodeID // leader, sync followers, async followers

	mu     sync.Mutex // serialises node starts and stops (Crash, Restart, Close, the ticker)
	closed atomic.Bool
	leader atomic.Pointer[node] // the running leader, nil if none

	stopTicker, tickerDone chan struct{} // nil with ManualTicks
}

// slot is one configured node: what survives its crashes (log, hard
// state) and the runtime currently started, if any.
type slot struct {
	id   NodeID
	log  LogStore
	hard hardState
	node atomic.Pointer[node] // nil while crashed; changed under Cluster.mu
}

// NewCluster validates cfg and starts every node; the configured leader
// leads epoch 1. Close it when done.
func NewCluster(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cl := &Cluster{cfg: cfg, coreCfg: newCoreConfig(cfg), net: NewMemNet(), slots: map[NodeID]*slot{}}
	cl.order = append(append([]NodeID{cfg.Leader}, cfg.SyncFollowers...), cfg.AsyncFollowers...)
	for _, id := range cl.order {
		cl.slots[id] = &slot{id: id, log: cfg.NewLogStore()}
	}
	for _, id := range cl.order {
		cl.start(cl.slots[id])
	}
	if !cfg.ManualTicks {
		cl.tickerDone = make(chan struct{})
		cl.stopTicker = make(chan struct{})
		go cl.runTicker()
	}
	return cl, nil
}

// runTicker queues a tick on every running node each TickInterval.
func (cl *Cluster) runTicker() {
	defer close(cl.tickerDone)
	t := time.NewTicker(cl.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			cl.mu.Lock()
			for _, id := range cl.order {
				if n := cl.slots[id].node.Load(); n != nil {
					n.mbox.call(n.tickFn)
				}
			}
			cl.mu.Unlock()
		case <-cl.stopTicker:
			return
		}
	}
}

// start runs a node for s. The configured leader (re)starts as leader of
// a new epoch; others start as followers. Callers hold mu or are NewCluster.
func (cl *Cluster) start(s *slot) {
	n := cl.newNode(s)
	if s.id == cl.cfg.Leader {
		n.core.becomeLeader(s.hard.epoch+1, time.Now().UnixNano())
	}
	cl.net.Register(s.id, n.mbox.put)
	s.node.Store(n)
	// Send what the core produced while starting (the epoch's first
	// append) before the goroutine takes over.
	n.afterStep()
	if n.core.role == roleLeader {
		cl.leader.Store(n)
	}
	go n.run()
}

// Net returns the in-memory network, for fault injection.
func (cl *Cluster) Net() *MemNet { return cl.net }

// Config returns the configuration in force, defaults filled in.
func (cl *Cluster) Config() Config { return cl.cfg }

// Nodes lists the node IDs: leader, sync followers, async followers.
func (cl *Cluster) Nodes() []NodeID { return append([]NodeID(nil), cl.order...) }

// Leader returns the ID of the running leader.
func (cl *Cluster) Leader() (NodeID, error) {
	if cl.closed.Load() {
		return "", ErrClosed
	}
	n := cl.leader.Load()
	if n == nil {
		return "", fmt.Errorf("%w: no running leader", ErrNodeDown)
	}
	return n.id, nil
}

func (cl *Cluster) report(e Event) {
	cl.cfg.Logger.Debug("event", "kind", e.Kind.String(), "node", e.Node, "epoch", e.Epoch, "lsn", e.LSN, "peer", e.Peer, "detail", e.Detail)
	if cl.cfg.OnEvent != nil {
		cl.cfg.OnEvent(e)
	}
}

// slotOf finds a node's slot.
func (cl *Cluster) slotOf(id NodeID) (*slot, error) {
	s, ok := cl.slots[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q (nodes are %v)", ErrUnknownNode, id, cl.order)
	}
	return s, nil
}

// running returns the started node for id.
func (cl *Cluster) running(id NodeID) (*node, error) {
	if cl.closed.Load() {
		return nil, ErrClosed
	}
	s, err := cl.slotOf(id)
	if err != nil {
		return nil, err
	}
	n := s.node.Load()
	if n == nil {
		return nil, fmt.Errorf("%w: %s", ErrNodeDown, id)
	}
	return n, nil
}

// Crash stops node id as a crash would: its goroutine and everything in
// memory go (the state machine, queued messages, pending writes, which fail
// with ErrNodeDown); its log and highest epoch survive, as on a disk.
func (cl *Cluster) Crash(id NodeID) error {
	if cl.closed.Load() {
		return ErrClosed
	}
	s, err := cl.slotOf(id)
	if err != nil {
		return err
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if s.node.Load() == nil {
		return fmt.Errorf("%w: %s is already crashed", ErrNodeDown, id)
	}
	cl.net.Unregister(id)
	n := s.node.Load()
	cl.leader.CompareAndSwap(n, nil)
	n.stopWith(fmt.Errorf("%w: %s crashed", ErrNodeDown, id))
	s.node.Store(nil)
	cl.report(Event{Kind: EventNodeCrashed, Node: id, Epoch: s.hard.epoch, LSN: s.log.Last().LSN})
	return nil
}

// Restart starts a crashed node again from its log. A follower catches up
// from its last LSN; the configured leader comes back as leader of a new
// epoch.
func (cl *Cluster) Restart(id NodeID) error {
	if cl.closed.Load() {
		return ErrClosed
	}
	s, err := cl.slotOf(id)
	if err != nil {
		return err
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if s.node.Load() != nil {
		return fmt.Errorf("replstore: restart %s: node is running", id)
	}
	cl.start(s)
	cl.report(Event{Kind: EventNodeRestarted, Node: id, Epoch: s.hard.epoch, LSN: s.log.Last().LSN})
	return nil
}

// Tick advances logical time by one tick on every running node and waits
// until each has handled it. With Config.ManualTicks this is the only
// clock; otherwise it adds a tick.
func (cl *Cluster) Tick(ctx context.Context) error {
	for _, id := range cl.order {
		n, err := cl.running(id)
		if err != nil {
			if err == ErrClosed {
				return err
			}
			continue // crashed nodes do not tick
		}
		if err := n.do(ctx, func() { n.core.onTick(time.Now().UnixNano()) }); err != nil && ctx.Err() != nil {
			return err
		}
	}
	return nil
}

// Close stops every node and the network. Pending writes fail with
// ErrClosed; later calls return ErrClosed. It leaves no goroutine behind.
func (cl *Cluster) Close() error {
	if !cl.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if cl.stopTicker != nil {
		close(cl.stopTicker)
		<-cl.tickerDone
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.leader.Store(nil)
	for _, id := range cl.order {
		s := cl.slots[id]
		n := s.node.Load()
		if n == nil {
			continue
		}
		n.stopWith(ErrClosed)
		s.node.Store(nil)
	}
	cl.net.Close()
	return nil
}
