package replstore

import (
	"fmt"
	"slices"
)

// The driver contract, written once. A node's core takes a batch of
// inputs (proposals, messages, ticks, control calls); then the driver
// ends the batch with advance, which does, in this order and nowhere
// else:
//
//  1. flush: the leader appends the batch's proposals (and streams them),
//     a follower prepares its one acknowledgement;
//  2. persist: sync the log if it holds entries not yet synced (unless
//     the leader flushes off its turn, below), then store the hard
//     state if it changed (epoch, topology; the commit hint rides
//     along). A message that depends on either (a Durable acknowledgement,
//     a fence reply carrying a promised epoch, a new leader's first
//     append) is queued in the core and leaves only in step 3, after both
//     are stored. If storing fails the node stops: nothing is sent.
//  3. send the messages; then, on a leader whose log can be synced off
//     its turn (asyncFlush), start a flush of what it appended if none is
//     running: the batch's appends are on their way to the followers
//     while the leader's own disk flushes. The flush's completion comes
//     back as an input (driver.flushed, in a later batch), and only then
//     does the leader count those entries as its own toward commit. One
//     flush runs at a time; the next covers everything appended while
//     it ran (group commit);
//  4. apply what is committed (a follower applies after it answered, so
//     its acknowledgement never waits for its state machine);
//  5. hand out a snapshot job, report events, answer the writes up to the
//     applied LSN and the confirmed leader reads.
//
// A follower always syncs inline (step 2): its acknowledgement, which
// says Durable, must not leave before the flush that covers it. That
// includes entries it appended as a leader whose flush is still running.
//
// The runtime (runtime.go), the simulator (sim*_test.go) and the core
// tests (core_test.go) all run their nodes through driver.advance; each
// supplies a nodeHost for what differs between them: where messages go,
// where events go, how a snapshot job runs and how callers are answered.
//
// Snapshots are the one write the core makes itself (core.setSnapshot):
// a snapshot is stored before the log is compacted through it or reset to
// it, since the log then depends on it.

// nodeHost is the world a driver runs a node in.
type nodeHost interface {
	// send puts the batch's messages on the network. msgs is reused after
	// it returns.
	send(msgs []Message)
	// report takes one event.
	report(e Event)
	// startSnapshot writes job off the node's turn and hands the result
	// back with core.snapshotTaken (or inline, in a single-goroutine host).
	startSnapshot(job *snapshotJob)
	// answer releases the writes up to the core's applied LSN (with the
	// results in core.errs) and the leader reads in core.readsReady, and
	// fails the rest if the node no longer leads.
	answer()
	// startFlush syncs the log off the node's turn (only a driver with
	// asyncFlush calls it) and hands the result back with
	// driver.flushed, as an input of a later batch.
	startFlush(f flushJob)
}

// flushJob is one flush of a leader's log, begun when the log ended at
// through, after cuts truncations or resets of it (core.cuts).
type flushJob struct {
	through LSN
	cuts    uint64
}

// driver runs one node's core: it owns the core and the node's hard
// state store, and ends every batch of inputs with advance.
type driver struct {
	c     *core
	store HardStateStore
	saved HardState // what store holds
	host  nodeHost
	// skipped: bugAckBeforeFlush left this batch's appends unsynced.
	skipped bool
	// asyncFlush: as leader, sync the log off the node's turn (startFlush)
	// after the batch's messages leave; the log allows Sync to run
	// concurrently with the owner's appends (ConcurrentSyncLog). Without
	// it the leader syncs inline, as a follower always does.
	asyncFlush bool
	// flushing: a flush started by startFlush has not come back yet.
	flushing bool
}

// loadHard reads a node's hard state and snapshot from its store.
func loadHard(store HardStateStore) (HardState, *hardState, error) {
	hs, err := store.Load()
	if err != nil {
		return HardState{}, nil, fmt.Errorf("%w: load hard state: %w", ErrStorage, err)
	}
	hard := &hardState{epoch: hs.Epoch, topology: hs.Topology, topoVersion: hs.TopologyVersion, stable: store}
	pos, data, err := store.LoadSnapshot()
	if err != nil {
		return HardState{}, nil, fmt.Errorf("%w: load snapshot: %w", ErrStorage, err)
	}
	if data != nil {
		hard.snap = &localSnapshot{pos: pos, data: data}
	}
	return hs, hard, nil
}

// newDriver builds a node's core over its log, state machine and hard
// state, as they survived its last run.
func newDriver(id NodeID, cfg *coreConfig, log LogStore, sm StateMachine, store HardStateStore, host nodeHost) (*driver, error) {
	hs, hard, err := loadHard(store)
	if err != nil {
		return nil, fmt.Errorf("replstore: node %s: %w", id, err)
	}
	if last := log.Last(); last.Epoch > hard.epoch {
		// The log holds entries of an epoch the hard state never heard of:
		// only possible if the hard state was lost. Adopt it: the node then
		// refuses nothing it accepted before.
		hard.epoch = last.Epoch
	}
	return &driver{c: newCore(id, cfg, log, sm, hard), store: store, saved: hs, host: host}, nil
}

// advance ends a batch of inputs (see the contract above).
func (d *driver) advance() {
	c := d.c
	c.flush()
	d.persist()
	if c.fatal != nil {
		// Nothing may leave a node whose state could not be stored.
		clear(c.msgs)
		c.msgs = c.msgs[:0]
	}
	if len(c.msgs) > 0 {
		d.host.send(c.msgs)
		clear(c.msgs)
		c.msgs = c.msgs[:0]
	}
	d.maybeStartFlush()
	c.applyDeferred()
	if job := c.snapJob; job != nil {
		c.snapJob = nil
		d.host.startSnapshot(job)
	}
	for _, e := range c.events {
		d.host.report(e)
	}
	clear(c.events)
	c.events = c.events[:0]
	d.host.answer()
}

// persist syncs the log if the batch appended to it and stores the hard
// state if it changed.
func (d *driver) persist() {
	c := d.c
	switch {
	case !c.unsynced && c.synced >= c.last.LSN:
	case d.asyncFlush && c.role == roleLeader:
		// maybeStartFlush flushes it once the messages are sent.
	case c.cfg.bug == bugAckBeforeFlush && c.role == roleFollower && !d.skipped:
		d.skipped = true // the planted bug: answer first, flush next batch
	default:
		d.skipped = false
		c.unsynced = false
		if err := c.log.Sync(); err != nil {
			c.fail(fmt.Errorf("%w: sync the log: %w", ErrStorage, err))
			return
		}
		c.logSynced()
	}
	h := c.hard
	if h.epoch == d.saved.Epoch && h.topoVersion == d.saved.TopologyVersion && h.snapPos() == d.saved.Snapshot &&
		h.topology.Leader == d.saved.Topology.Leader {
		return
	}
	hs := HardState{Epoch: h.epoch, Commit: c.commit, Snapshot: h.snapPos(), Topology: h.topology.clone(), TopologyVersion: h.topoVersion}
	if err := d.store.Save(hs); err != nil {
		c.fail(fmt.Errorf("%w: store hard state (epoch %d): %w", ErrStorage, hs.Epoch, err))
		return
	}
	d.saved = hs
}

// maybeStartFlush starts a flush of a leader's log (asyncFlush) if it
// holds entries not yet synced and no flush is running.
func (d *driver) maybeStartFlush() {
	c := d.c
	if !d.asyncFlush || d.flushing || c.role != roleLeader || c.fatal != nil || !c.unsynced && c.synced >= c.last.LSN {
		return
	}
	d.flushing = true
	c.unsynced = false
	d.host.startFlush(flushJob{through: c.last.LSN, cuts: c.cuts})
}

// flushed is the input a flush's completion brings back: the log is
// durable through f.through unless it was cut since the flush began
// (then the next flush decides). A failed flush stops the node.
func (d *driver) flushed(f flushJob, err error) {
	d.flushing = false
	if err != nil {
		d.c.fail(fmt.Errorf("%w: sync the log: %w", ErrStorage, err))
		return
	}
	d.c.logFlushed(f)
}

// hardState is the core's copy of what its HardStateStore keeps: the
// highest epoch it has seen, the topology it last knew, and its snapshot.
type hardState struct {
	epoch       Epoch
	topology    Topology
	topoVersion uint64
	snap        *localSnapshot // the state machine at the log's compaction point
	// stable stores snapshots (setSnapshot); nil in core tests, which
	// keep them in memory only.
	stable HardStateStore
}

func (h *hardState) snapPos() Position {
	if h.snap == nil {
		return Position{}
	}
	return h.snap.pos
}

// setSnapshot makes s (nil: none) the node's snapshot, storing it first:
// the log is compacted through it or reset to it only after this returns.
func (c *core) setSnapshot(s *localSnapshot) bool {
	if st := c.hard.stable; st != nil {
		var pos Position
		var data []byte
		if s != nil {
			pos, data = s.pos, s.data
		}
		if err := st.SaveSnapshot(pos, data); err != nil {
			c.fail(fmt.Errorf("%w: store snapshot at %v: %w", ErrStorage, pos, err))
			return false
		}
	}
	c.hard.snap = s
	return true
}

// noteTopology records the topology this node leads with.
func (c *core) noteTopology(t Topology, version uint64) {
	if c.hard.topoVersion == version && c.hard.topology.Leader == t.Leader &&
		slices.Equal(c.hard.topology.Sync, t.Sync) && slices.Equal(c.hard.topology.Async, t.Async) {
		return
	}
	c.hard.topology, c.hard.topoVersion = t.clone(), version
}
