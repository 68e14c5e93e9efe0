package replstore

import (
	"context"
	"errors"
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
	mem     atomic.Pointer[members] // replaced, never changed, under mu
	views   viewCache               // the read path's picture of mem's nodes (replica.go)

	mu     sync.Mutex // serialises node starts and stops (Crash, Restart, Close, the ticker)
	closed atomic.Bool
	leader atomic.Pointer[node] // the running leader, nil if none
	coord  *coordNode
	// leaderChanged is closed (and replaced) whenever leader changes, so
	// writers can wait for a new leader.
	leaderMu      sync.Mutex
	leaderChanged chan struct{}

	stopTicker, tickerDone chan struct{} // nil with ManualTicks
}

// members are the cluster's nodes: order is the leader, sync followers
// and async followers as configured, then nodes added later.
type members struct {
	order []NodeID
	list  []*Node // the slots in order
	slots map[NodeID]*Node
}

// newMembers indexes slots by ID.
func newMembers(list []*Node) *members {
	m := &members{list: list, slots: make(map[NodeID]*Node, len(list))}
	for _, s := range list {
		m.order = append(m.order, s.id)
		m.slots[s.id] = s
	}
	return m
}

// NewCluster validates cfg and starts every node; the configured leader
// leads epoch 1. Close it when done.
func NewCluster(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cl := &Cluster{cfg: cfg, coreCfg: newCoreConfig(cfg), net: NewMemNet()}
	cl.coreCfg.asyncSnapshots = true
	cl.coreCfg.nextIncarnation = wallClockIncarnation
	var list []*Node
	for _, id := range append(append([]NodeID{cfg.Leader}, cfg.SyncFollowers...), cfg.AsyncFollowers...) {
		s, err := newNodeFor(cl.clusterEnv(), id)
		if err != nil {
			cl.net.Close()
			var closeErrs []error
			for _, opened := range list {
				closeErrs = append(closeErrs, opened.closeStorage())
			}
			return nil, abandoned(err, errors.Join(closeErrs...))
		}
		list = append(list, s)
	}
	m := newMembers(list)
	cl.mem.Store(m)
	cl.startCoordinator()
	// Every node is on the network before the leader sends its first
	// append, so the epoch's opening entry is not lost.
	nodes := make([]*node, len(m.order))
	for i, id := range m.order {
		n, err := m.slots[id].attach()
		if err != nil {
			return nil, abandoned(err, cl.closeEarly(nodes[:i]))
		}
		nodes[i] = n
	}
	nodes[0].core.becomeLeader(1, time.Now().UnixNano(),
		Topology{Leader: cfg.Leader, Sync: cfg.SyncFollowers, Async: cfg.AsyncFollowers})
	for _, n := range nodes {
		cl.launch(n)
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
			cl.coord.tick()
			m := cl.mem.Load()
			for _, id := range m.order {
				if n := m.slots[id].node.Load(); n != nil {
					n.mbox.call(n.tickFn)
				}
			}
			cl.mu.Unlock()
		case <-cl.stopTicker:
			return
		}
	}
}

// clusterEnv is what every Node of the cluster shares: the configuration,
// the network and the harness's hooks.
func (cl *Cluster) clusterEnv() nodeEnv {
	return nodeEnv{cfg: &cl.cfg, coreCfg: cl.coreCfg, tr: cl.net, report: cl.report, shaped: cl.shaped, afterBatch: cl.afterBatch,
		ownedByCluster: true}
}

// closeEarly stops what NewCluster started before it failed (the nodes
// attached, not yet running) and closes every node's storage, so that a
// retry finds it unlocked. It returns what closing the storage said.
func (cl *Cluster) closeEarly(attached []*node) error {
	for _, n := range attached {
		cl.net.Unregister(n.id)
	}
	cl.coord.stopAndWait()
	cl.net.Close()
	var errs []error
	for _, s := range cl.mem.Load().list {
		errs = append(errs, s.closeStorage())
	}
	return errors.Join(errs...)
}

// shaped invalidates the read path's view when node n changed role,
// epoch or caught-up state.
func (cl *Cluster) shaped(*node) { cl.views.invalidate() }

// afterBatch tracks which node leads, for writers and the harness.
func (cl *Cluster) afterBatch(n *node) {
	if n.core.role == roleLeader && n.stopping == nil {
		if cl.leader.Load() != n {
			cl.setLeader(n)
		}
	} else if cl.leader.Load() == n {
		cl.clearLeader(n)
	}
}

// launch sends what the node's core produced while starting (a leader's
// first append) and starts its goroutine.
func (cl *Cluster) launch(n *node) { n.launch() }

// Net returns the in-memory network, for fault injection.
func (cl *Cluster) Net() *MemNet { return cl.net }

// Config returns the configuration in force, defaults filled in.
func (cl *Cluster) Config() Config { return cl.cfg }

// Nodes lists the node IDs: leader, sync followers, async followers.
func (cl *Cluster) Nodes() []NodeID { return append([]NodeID(nil), cl.mem.Load().order...) }

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
func (cl *Cluster) slotOf(id NodeID) (*Node, error) {
	m := cl.mem.Load()
	s, ok := m.slots[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q (nodes are %v)", ErrUnknownNode, id, m.order)
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
	if !cl.stop(s, fmt.Errorf("%w: %s crashed", ErrNodeDown, id)) {
		return fmt.Errorf("%w: %s is already crashed", ErrNodeDown, id)
	}
	cl.report(Event{Kind: EventNodeCrashed, Node: id, Epoch: s.epochOf(), LSN: s.log.Last().LSN})
	return nil
}

// stop takes s's node off the network and stops it; pending writes fail
// with err. It reports false if s was not running. Callers hold mu.
func (cl *Cluster) stop(s *Node, err error) bool {
	n := s.node.Load()
	if n == nil {
		return false
	}
	cl.net.Unregister(s.id)
	n.stopWith(err)
	cl.clearLeader(n)
	s.node.Store(nil)
	return true
}

// Restart starts a crashed node again from its log (and its snapshot, if
// it compacted): it restores its state machine, then follows the leader
// and catches up from its last LSN. A former leader comes back as a
// follower; if nobody leads, the coordinator may promote it.
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
	// A restarted node follows: it learns who leads from the leader's
	// appends, or the coordinator promotes it.
	ev := Event{Kind: EventNodeRestarted, Node: id, Epoch: s.epochOf(), LSN: s.log.Last().LSN}
	n, err := s.attach()
	if err != nil {
		return fmt.Errorf("replstore: restart %s: %w", id, inner(err))
	}
	cl.launch(n)
	cl.report(ev)
	return nil
}

// Tick advances logical time by one tick on every running node and waits
// until each has handled it. With Config.ManualTicks this is the only
// clock; otherwise it adds a tick.
func (cl *Cluster) Tick(ctx context.Context) error {
	for _, id := range cl.mem.Load().order {
		n, err := cl.running(id)
		if err != nil {
			if err == ErrClosed {
				return err
			}
			continue // crashed nodes do not tick
		}
		if err := n.do(ctx, func() { n.core.onTick(time.Now().UnixNano()) }); err != nil && ctx.Err() != nil {
			return fmt.Errorf("replstore: tick %s: %w", id, err)
		}
	}
	return cl.coord.tickSync(ctx)
}

// setLeader records n as the running leader and wakes writers waiting for
// one. A node that still believes it leads an older epoch (a zombie that
// has not heard of the promotion yet) does not displace the newer leader.
func (cl *Cluster) setLeader(n *node) {
	cl.leaderMu.Lock()
	defer cl.leaderMu.Unlock()
	if cur := cl.leader.Load(); cur != nil && n != nil && cur.pub.epoch.Load() > n.pub.epoch.Load() {
		return
	}
	if cl.leader.Swap(n) != n && cl.leaderChanged != nil {
		close(cl.leaderChanged)
		cl.leaderChanged = nil
	}
}

// clearLeader forgets n as the leader if it is.
func (cl *Cluster) clearLeader(n *node) {
	cl.leaderMu.Lock()
	defer cl.leaderMu.Unlock()
	if cl.leader.CompareAndSwap(n, nil) && cl.leaderChanged != nil {
		close(cl.leaderChanged)
		cl.leaderChanged = nil
	}
}

// awaitLeader returns the running leader, waiting for one (a failover in
// progress) until ctx ends.
func (cl *Cluster) awaitLeader(ctx context.Context, not *node) (*node, error) {
	for {
		cl.leaderMu.Lock()
		// Checked under leaderMu: Close sets closed before it wakes the
		// waiters under leaderMu, so a waiter either sees closed or is
		// woken.
		if cl.closed.Load() {
			cl.leaderMu.Unlock()
			return nil, ErrClosed
		}
		n := cl.leader.Load()
		if n != nil && n != not {
			cl.leaderMu.Unlock()
			return n, nil
		}
		if cl.leaderChanged == nil {
			cl.leaderChanged = make(chan struct{})
		}
		ch := cl.leaderChanged
		cl.leaderMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no leader to take the write (a failover may be in progress): %w", ErrNodeDown, ctx.Err())
		}
	}
}

// Close stops every node and the network. Pending writes fail with
// ErrClosed, including those waiting for a leader (one crashed, or a
// failover runs); later calls return ErrClosed, on the Cluster and on
// every Node it handed out (Cluster.Node). It leaves no goroutine
// behind.
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
	cl.setLeader(nil)
	// Wake writers waiting for a leader even if there was none to clear
	// (it had crashed): they see closed and fail with ErrClosed.
	cl.leaderMu.Lock()
	if cl.leaderChanged != nil {
		close(cl.leaderChanged)
		cl.leaderChanged = nil
	}
	cl.leaderMu.Unlock()
	cl.coord.stopAndWait()
	m := cl.mem.Load()
	var errs []error
	for _, id := range m.order {
		// The Node stops, closes its storage and says ErrClosed from now
		// on, to whoever holds it (Cluster.Node).
		errs = append(errs, m.slots[id].close())
	}
	cl.net.Close()
	return errors.Join(errs...)
}

// Node returns the Node that hosts replica id in this cluster, the type a
// service embeds: writes through it are forwarded to the leader if it
// does not lead. Crash and Restart replace its runtime, not the Node.
// The Node stays the cluster's: its Close refuses (see Node.Close).
func (cl *Cluster) Node(id NodeID) (*Node, error) {
	if cl.closed.Load() {
		return nil, ErrClosed
	}
	return cl.slotOf(id)
}
