package replstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Node is one replica: its protocol core, its log, its hard state, its
// state machine and its timers, run by one goroutine. It reaches the
// other replicas and the coordinator only by messages through the
// Transport it is given; nothing of one Node (a pointer, a channel, a
// closure) is ever touched by another. A service embeds a Node (NewNode);
// an operator runs one per process with cmd/replstore-node; Cluster runs
// several in one process over a MemNet, for tests and learning.
//
// A Node takes writes on any replica: one that does not lead forwards the
// write to the leader it knows as a message and relays the answer
// (Config.DisableForwarding refuses instead, with *NotLeaderError).
// Its reads are served by its own replica (NodeStats, WaitApplied, Get
// and friends with the local view).
//
// Methods are safe for concurrent use.
type Node struct {
	id   NodeID
	env  nodeEnv
	log  LogStore             // survives the runtime's crashes, as a disk does
	hard HardStateStore       // likewise
	node atomic.Pointer[node] // the running runtime; nil while crashed or closed

	closed atomic.Bool
	// leaderCh is closed (and replaced) when the leader this node knows
	// changes, so that a write waiting for a leader wakes.
	leaderMu sync.Mutex
	leaderCh chan struct{}
	leaderID atomic.Pointer[NodeID] // the leader this node knows

	stopTicker, tickerDone chan struct{} // a standalone Node's ticker; nil in a Cluster
}

// NewNode opens node id's storage (Config.NewLogStore, NewHardState),
// puts it on tr and starts it. cfg describes the whole cluster (Leader,
// SyncFollowers, AsyncFollowers); id must be one of its nodes. A node
// that has never run and is cfg.Leader opens epoch 1 as leader; any
// other starts as a follower and learns its leader from the leader's
// messages. A node restarted over the storage of an earlier run resumes
// from its log, snapshot and hard state. Close it when done.
//
// Without a coordinator on tr (CoordinatorID), failover is manual: set
// cfg.ManualFailover.
func NewNode(cfg Config, id NodeID, tr Transport) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tr == nil || isNilPointer(tr) {
		return nil, fmt.Errorf("%w: NewNode: nil Transport", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	if !slices.Contains(cfg.nodes(), id) {
		return nil, fmt.Errorf("%w: %q (the configuration names %v)", ErrUnknownNode, id, cfg.nodes())
	}
	if dt, ok := tr.(DedicatedTransport); ok && dt.Serves() != id {
		return nil, fmt.Errorf("%w: NewNode(%s): the transport serves node %s (tcpnet: Config.Self); give each node its own", ErrInvalidConfig, id, dt.Serves())
	}
	maxMessage, err := messageLimit(&cfg, tr)
	if err != nil {
		return nil, err
	}
	cc := newCoreConfig(cfg)
	cc.maxMessageBytes = maxMessage
	cc.asyncSnapshots = true
	cc.nextIncarnation = wallClockIncarnation
	nd, err := newNodeFor(nodeEnv{cfg: &cfg, coreCfg: cc, tr: tr, report: reportTo(&cfg)}, id)
	if err != nil {
		return nil, err
	}
	n, err := nd.attach()
	if err != nil {
		return nil, abandoned(err, nd.closeStorage())
	}
	nd.bootstrap(n)
	n.launch()
	if !cfg.ManualTicks {
		nd.stopTicker, nd.tickerDone = make(chan struct{}), make(chan struct{})
		go nd.runTicker(cfg.TickInterval)
	}
	return nd, nil
}

// nodes lists the configured node IDs: leader, sync, async.
func (c Config) nodes() []NodeID {
	return append(append([]NodeID{c.Leader}, c.SyncFollowers...), c.AsyncFollowers...)
}

// reportTo sends events to cfg's logger and OnEvent.
func reportTo(cfg *Config) func(Event) {
	return func(e Event) {
		cfg.Logger.Debug("event", "kind", e.Kind.String(), "node", e.Node, "epoch", e.Epoch, "lsn", e.LSN, "peer", e.Peer, "detail", e.Detail)
		if cfg.OnEvent != nil {
			cfg.OnEvent(e)
		}
	}
}

// newNodeFor opens node id's storage; the node is not started.
func newNodeFor(env nodeEnv, id NodeID) (*Node, error) {
	log, err := env.cfg.NewLogStore(id)
	if err != nil {
		return nil, fmt.Errorf("replstore: node %s: open its log: %w", id, err)
	}
	if log == nil {
		return nil, fmt.Errorf("%w: node %s: Config.NewLogStore returned nil", ErrInvalidConfig, id)
	}
	hard, err := env.cfg.NewHardState(id)
	switch { // the log is open: close it again
	case err != nil:
		return nil, abandoned(fmt.Errorf("replstore: node %s: open its hard state: %w", id, err), closeStores(log))
	case hard == nil:
		return nil, abandoned(fmt.Errorf("%w: node %s: Config.NewHardState returned nil", ErrInvalidConfig, id), closeStores(log))
	}
	nd := &Node{id: id, env: env, log: log, hard: hard}
	hook := env.afterBatch
	env.afterBatch = func(n *node) {
		nd.noteLeader(n)
		if hook != nil {
			hook(n)
		}
	}
	if env.shaped == nil {
		env.shaped = func(*node) {}
	}
	nd.env = env
	return nd, nil
}

// attach makes a runtime over the node's storage and puts it on the
// network, not yet running.
func (nd *Node) attach() (*node, error) {
	n, err := newNode(nd.id, nd.env, nd.log, nd.hard)
	if err != nil {
		return nil, err
	}
	nd.env.tr.Register(nd.id, n.mbox.put)
	nd.node.Store(n)
	return n, nil
}

// bootstrap makes a node that has never run lead epoch 1 if it is the
// configured leader.
func (nd *Node) bootstrap(n *node) {
	cfg := nd.env.cfg
	if nd.id != cfg.Leader || n.core.epoch != 0 || n.core.last != (Position{}) {
		return
	}
	n.core.becomeLeader(1, time.Now().UnixNano(), Topology{Leader: cfg.Leader, Sync: cfg.SyncFollowers, Async: cfg.AsyncFollowers})
}

// launch sends what the node's core produced while starting (a leader's
// first append) and starts its goroutine.
func (n *node) launch() {
	n.afterStep()
	go n.run()
}

// crash stops the runtime as a crash would: everything in memory goes;
// the log and the hard state stay. It reports false if none was running.
func (nd *Node) crash(err error) (*node, bool) {
	n := nd.node.Load()
	if n == nil {
		return nil, false
	}
	nd.env.tr.Unregister(nd.id)
	n.stopWith(err)
	nd.node.Store(nil)
	return n, true
}

// epochOf is the node's stored epoch (for events about a node that is
// down).
func (nd *Node) epochOf() Epoch {
	hs, _ := nd.hard.Load()
	return hs.Epoch
}

// runTicker feeds a standalone Node's clock.
func (nd *Node) runTicker(d time.Duration) {
	defer close(nd.tickerDone)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if n := nd.node.Load(); n != nil {
				n.mbox.call(n.tickFn)
			}
		case <-nd.stopTicker:
			return
		}
	}
}

// ID returns the node's ID.
func (nd *Node) ID() NodeID { return nd.id }

// Close stops the node: pending writes and reads fail with ErrClosed,
// its goroutines end, it leaves the Transport, and its log and hard
// state store are closed if they implement io.Closer (a durable one
// releases its files and its directory lock). Later calls return
// ErrClosed.
//
// A Node that a Cluster runs (Cluster.Node) is the Cluster's to stop:
// Close refuses, and changes nothing. Cluster.Crash stops it as a crash
// would; Cluster.RemoveFollower and Cluster.Close close it (then its
// calls, and Close, return ErrClosed).
func (nd *Node) Close() error {
	if nd.env.ownedByCluster && !nd.closed.Load() {
		return fmt.Errorf("replstore: close %s: the node belongs to a Cluster, which stops it and closes its storage: "+
			"use Cluster.Crash, Cluster.RemoveFollower or Cluster.Close", nd.id)
	}
	return nd.close()
}

// close is Close for the Node's owner: the caller of NewNode, or the
// Cluster that runs it (Cluster.Close). The Node's calls then return
// ErrClosed, not ErrNodeDown.
func (nd *Node) close() error {
	if !nd.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if nd.stopTicker != nil {
		close(nd.stopTicker)
		<-nd.tickerDone
	}
	nd.crash(ErrClosed)
	nd.leaderMu.Lock()
	if nd.leaderCh != nil {
		close(nd.leaderCh)
		nd.leaderCh = nil
	}
	nd.leaderMu.Unlock()
	return nd.closeStorage()
}

// closeStorage closes the node's log and hard state store if they can
// be closed.
func (nd *Node) closeStorage() error {
	if err := closeStores(nd.log, nd.hard); err != nil {
		return fmt.Errorf("replstore: close %s's storage: %w", nd.id, err)
	}
	return nil
}

// closeStores closes each store that implements io.Closer.
func closeStores(stores ...any) error {
	var errs []error
	for _, s := range stores {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// abandoned is the error of a start that failed with err, after which
// closing the storage it had opened failed with closeErr (or nil).
func abandoned(err, closeErr error) error {
	if closeErr == nil {
		return err
	}
	return fmt.Errorf("%w (and closing the storage it opened failed: %w)", err, inner(closeErr))
}

// running returns the node's runtime.
func (nd *Node) running() (*node, error) {
	if nd.closed.Load() {
		return nil, ErrClosed
	}
	n := nd.node.Load()
	if n == nil {
		return nil, fmt.Errorf("%w: %s", ErrNodeDown, nd.id)
	}
	return n, nil
}

// noteLeader records the leader the node's core knows, after a batch.
func (nd *Node) noteLeader(n *node) {
	if cur := nd.leaderID.Load(); cur != nil && *cur == n.core.leader {
		return // the common case: nothing allocated
	}
	l := new(NodeID)
	*l = n.core.leader
	nd.leaderID.Store(l)
	nd.leaderMu.Lock()
	if nd.leaderCh != nil {
		close(nd.leaderCh)
		nd.leaderCh = nil
	}
	nd.leaderMu.Unlock()
}

// Leader returns the node this node knows as the leader of its epoch (itself
// if it leads), or "" if it knows none yet.
func (nd *Node) Leader() NodeID {
	if l := nd.leaderID.Load(); l != nil {
		return *l
	}
	return ""
}

// leaderChanged returns a channel closed when the known leader changes.
func (nd *Node) leaderChanged() <-chan struct{} {
	nd.leaderMu.Lock()
	defer nd.leaderMu.Unlock()
	if nd.leaderCh == nil {
		nd.leaderCh = make(chan struct{})
	}
	return nd.leaderCh
}

// Write appends a raw command (see Cluster.Write) through this node: the
// leader proposes it; a follower forwards it to the leader it knows and
// relays the answer. A follower that knows no leader yet waits for one
// until ctx ends.
func (nd *Node) Write(ctx context.Context, cmd []byte) (Position, error) {
	if err := checkCommand(nd.env.cfg, cmd); err != nil {
		return Position{}, err
	}
	return nd.write(ctx, cmd)
}

// Put sets key to value (see Cluster.Put).
func (nd *Node) Put(ctx context.Context, key string, value []byte) (Position, error) {
	if err := checkKeyValue(nd.env.cfg, key, value); err != nil {
		return Position{}, err
	}
	return nd.write(ctx, AppendPut(make([]byte, 0, PutSize(key, value)), key, value))
}

// Delete removes key (see Cluster.Delete).
func (nd *Node) Delete(ctx context.Context, key string) (Position, error) {
	if err := checkKeyValue(nd.env.cfg, key, nil); err != nil {
		return Position{}, err
	}
	return nd.write(ctx, AppendDelete(nil, key))
}

// CompareAndSwap sets key to value if its version is version (see
// Cluster.CompareAndSwap).
func (nd *Node) CompareAndSwap(ctx context.Context, key string, version LSN, value []byte) (Position, error) {
	if err := checkKeyValue(nd.env.cfg, key, value); err != nil {
		return Position{}, err
	}
	return nd.write(ctx, AppendCompareAndSwap(nil, key, version, value))
}

// AppendSample adds a sample to a time series (see Cluster.AppendSample).
func (nd *Node) AppendSample(ctx context.Context, series string, t time.Time, v float64) (Position, error) {
	if err := checkKeyValue(nd.env.cfg, series, nil); err != nil {
		return Position{}, err
	}
	if err := checkSampleTime(t); err != nil {
		return Position{}, err
	}
	return nd.write(ctx, AppendSample(nil, series, t, v))
}

// write submits cmd on this node and waits for its answer. A write the
// node could not place (no leader known yet) waits for a leader.
func (nd *Node) write(ctx context.Context, cmd []byte) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, fmt.Errorf("replstore: write not sent: %w", err)
	}
	for {
		n, err := nd.running()
		if err != nil {
			return Position{}, err
		}
		changed := nd.leaderChanged()
		pos, err := n.submit(ctx, cmd, !nd.env.cfg.DisableForwarding)
		var nl *NotLeaderError
		if !errors.As(err, &nl) || nl.Leader != "" || nd.env.cfg.DisableForwarding {
			return pos, err
		}
		select { // no leader known yet: wait for one
		case <-changed:
		case <-ctx.Done():
			return Position{}, fmt.Errorf("replstore: write not sent: %s knows no leader: %w", nd.id, ctx.Err())
		}
	}
}

// submit queues a write on the node's goroutine and waits for its
// answer, honouring ctx. With forward, a follower forwards it to the
// leader it knows.
func (n *node) submit(ctx context.Context, cmd []byte, forward bool) (Position, error) {
	r := getRequest(cmd)
	r.forward, r.typed = forward, true
	n.mbox.writers.Add(1)
	defer n.mbox.writers.Add(-1)
	if !n.mbox.propose(r) {
		putRequest(r)
		<-n.done
		return Position{}, fmt.Errorf("%w; write not sent", n.stopErr)
	}
	var res result
	select {
	case res = <-r.done:
	case <-ctx.Done():
		r.cause = ctx.Err()
		n.mbox.call(func() { n.cancel(r) })
		res = <-r.done
	}
	putRequest(r)
	return res.pos, res.err
}

// NodeStats returns this node's state, from its own goroutine.
func (nd *Node) NodeStats(ctx context.Context) (NodeStats, error) {
	n, err := nd.running()
	if err != nil {
		return NodeStats{}, err
	}
	if err := ctx.Err(); err != nil {
		return NodeStats{}, fmt.Errorf("replstore: stats of %s: %w", nd.id, err)
	}
	var ns NodeStats
	err = n.do(ctx, func() {
		c := n.core
		ns = NodeStats{ID: nd.id, Role: c.role.String(), Epoch: c.epoch, First: c.log.First(), Last: c.last, Commit: c.commit, Applied: c.applied}
	})
	if err != nil {
		return NodeStats{}, fmt.Errorf("replstore: stats of %s: %w", nd.id, err)
	}
	return ns, nil
}

// WaitApplied blocks until this node has applied lsn (its reads then see
// every write up to it), ctx ends, or the node stops.
func (nd *Node) WaitApplied(ctx context.Context, lsn LSN) error {
	n, err := nd.running()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replstore: waiting for %s to apply LSN %d: %w", nd.id, lsn, err)
	}
	if err := n.waitUntil(ctx, func(c *core) bool { return c.applied >= lsn }); err != nil {
		return fmt.Errorf("replstore: waiting for %s to apply LSN %d: %w", nd.id, lsn, err)
	}
	return nil
}

// awaitLeader returns the leader this node knows, waiting for it to learn
// one (after a start or a failover) until ctx ends.
func (nd *Node) awaitLeader(ctx context.Context) (NodeID, error) {
	l, err := nd.waitLeader(ctx, func(l NodeID) bool { return l != "" })
	if err != nil && !errors.Is(err, ErrClosed) {
		return "", fmt.Errorf("%w: %s knows no leader: %w", ErrNodeDown, nd.id, err)
	}
	return l, err
}

// waitLeader waits until ok holds of the leader this node knows, and
// returns that leader; ctx's error or ErrClosed if it ends first.
func (nd *Node) waitLeader(ctx context.Context, ok func(NodeID) bool) (NodeID, error) {
	for {
		changed := nd.leaderChanged()
		if l := nd.Leader(); ok(l) {
			return l, nil
		}
		if nd.closed.Load() {
			return "", ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// isNilPointer reports whether v is a nil pointer in a non-nil interface
// (a typed nil, such as a (*tcpnet.Transport)(nil)), which == nil misses.
func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}
