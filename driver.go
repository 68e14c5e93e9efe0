package replstore

import (
	"errors"
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
// A follower syncs inline (step 2) before any answer that reports its
// log: its acknowledgement, which says Durable, must not leave before the
// flush that covers it. That includes entries it appended as a leader
// whose flush is still running. A batch that answers nothing of the kind
// leaves its appends for the sync before its next answer
// (followerMustSync).
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

// loadHard reads a node's hard state and snapshot from its store. A
// snapshot that fails its checksum (ErrBadSnapshot) is not an error:
// badSnap says so, and the node starts over (newDriver).
func loadHard(store HardStateStore) (hs HardState, hard *hardState, badSnap error, err error) {
	hs, err = store.Load()
	if err != nil {
		return HardState{}, nil, nil, fmt.Errorf("%w: load hard state: %w", ErrStorage, err)
	}
	hard = &hardState{epoch: hs.Epoch, topology: hs.Topology, topoVersion: hs.TopologyVersion, stable: store,
		incarnation: hs.StorageIncarnation, repairing: hs.Repairing, led: hs.Led}
	pos, data, err := store.LoadSnapshot()
	if errors.Is(err, ErrBadSnapshot) {
		return hs, hard, err, nil
	}
	if err != nil {
		return HardState{}, nil, nil, fmt.Errorf("%w: load snapshot: %w", ErrStorage, err)
	}
	if data != nil {
		if hard.snap, err = parseSnapshot(pos, data); err != nil {
			return hs, hard, err, nil
		}
	}
	return hs, hard, nil, nil
}

// finishInstall completes a snapshot install that a crash interrupted:
// the snapshot is stored before the log is reset to it, so a crash in
// between leaves a snapshot the log does not continue from (the log ends
// before it, or holds another entry there). The log is reset to the
// snapshot, as the install would have done: the node has the new state,
// never the new snapshot with the old log.
func finishInstall(log LogStore, hard *hardState) error {
	s := hard.snap
	if s == nil || s.pos.LSN == 0 {
		return nil
	}
	base := log.First() - 1
	if base <= s.pos.LSN && s.pos.LSN <= log.Last().LSN {
		if e, err := log.EpochAt(s.pos.LSN); err == nil && e == s.pos.Epoch {
			return nil // the log continues from the snapshot
		}
	}
	if err := log.Reset(s.pos); err != nil {
		return fmt.Errorf("%w: finish installing the snapshot at %v (the log ends at %v): %w", ErrStorage, s.pos, log.Last(), err)
	}
	return nil
}

// dropBadSnapshot starts a node whose snapshot file is damaged over
// from nothing: the log was compacted through the snapshot, so without
// it the node cannot rebuild its state. Its log is emptied and its
// snapshot removed (both durably) before it sends anything; it takes a
// new StorageIncarnation and is Repairing (newIncarnation), and the
// leader reseeds it like a follower that lost its disk.
func dropBadSnapshot(log LogStore, store HardStateStore, bad error) error {
	if err := log.Reset(Position{}); err != nil {
		return fmt.Errorf("%w: empty the log after a damaged snapshot (%w): %w", ErrStorage, bad, err)
	}
	if err := store.SaveSnapshot(Position{}, nil); err != nil {
		return fmt.Errorf("%w: replace the damaged snapshot (%w): %w", ErrStorage, bad, err)
	}
	return nil
}

// newDriver builds a node's core over its log, state machine and hard
// state, as they survived its last run.
func newDriver(id NodeID, cfg *coreConfig, log LogStore, sm StateMachine, store HardStateStore, host nodeHost) (*driver, error) {
	hs, hard, badSnap, err := loadHard(store)
	if err != nil {
		return nil, fmt.Errorf("replstore: node %s: %w", id, err)
	}

	if last := log.Last(); last.Epoch > hard.epoch {
		// The log holds entries of an epoch the hard state never heard of:
		// only possible if the hard state was lost. Adopt it: the node then
		// refuses nothing it accepted before.
		hard.epoch = last.Epoch
	}
	// The loss is stored (a new incarnation, Repairing) before anything
	// is thrown away: a crash in between finds the snapshot still bad,
	// or the node already marked.
	old := hard.incarnation
	damageFrom, damaged := LSN(0), false
	if dr, ok := log.(DamageReporter); ok {
		damageFrom, damaged = dr.Damage()
	}
	if err := newIncarnation(id, cfg, log, store, &hs, hard, badSnap != nil); err != nil {
		return nil, err
	}
	if badSnap != nil {
		if err := dropBadSnapshot(log, store, badSnap); err != nil {
			return nil, fmt.Errorf("replstore: node %s: %w", id, err)
		}
	}
	if err := finishInstall(log, hard); err != nil {
		return nil, fmt.Errorf("replstore: node %s: %w", id, err)
	}
	c := newCore(id, cfg, log, sm, hard)
	if damaged {
		c.emit(Event{Kind: EventLog, LSN: damageFrom, Detail: fmt.Sprintf("the log lost synced entries from LSN %d (damaged, cut off at open): storage incarnation %d -> %d; repairing: out of fencing rounds until the leader has repaired this node",
			damageFrom, old, hard.incarnation)})
	}
	if badSnap != nil {
		c.emit(Event{Kind: EventSnapshotRejected, Detail: fmt.Sprintf("refused the node's own snapshot at start (%v): started empty, to be reseeded by the leader", badSnap)})
	}
	return &driver{c: c, store: store, saved: hs, host: host}, nil
}

// newIncarnation gives the node's storage a new StorageIncarnation, stored
// before the node sends anything, when it starts from nothing (a new
// node, or one whose disk was lost: nobody can tell them apart, and a
// new incarnation is right for both) or its log reports that it lost
// synced records (DamageReporter); a damaged log also marks the node
// Repairing. A clean restart keeps the incarnation: the node holds all
// it ever acknowledged.
func newIncarnation(id NodeID, cfg *coreConfig, log LogStore, store HardStateStore, hs *HardState, hard *hardState, lost bool) error {
	dr, _ := log.(DamageReporter)
	var from LSN
	damaged := false
	if dr != nil {
		from, damaged = dr.Damage()
	}
	if hard.incarnation != 0 && !damaged && !lost {
		return nil
	}
	next := hard.incarnation + 1
	if cfg.nextIncarnation != nil {
		next = max(next, cfg.nextIncarnation())
	}
	hard.incarnation = next
	hard.repairing = hard.repairing || damaged || lost
	saved := HardState{Epoch: hard.epoch, Commit: hs.Commit, Snapshot: hard.snapPos(), Topology: hard.topology.clone(),
		TopologyVersion: hard.topoVersion, StorageIncarnation: hard.incarnation, Repairing: hard.repairing, Led: hard.led}
	if err := store.Save(saved); err != nil {
		return fmt.Errorf("replstore: node %s: %w: store storage incarnation %d: %w", id, ErrStorage, next, err)
	}
	*hs = saved
	if damaged {
		if err := dr.ClearDamage(); err != nil {
			return fmt.Errorf("replstore: node %s: %w: the log lost synced entries from LSN %d; recorded, but clearing the report failed: %w", id, ErrStorage, from, err)
		}
	}
	return nil
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
	case c.role == roleFollower && !d.followerMustSync():
		// Nothing this batch sends depends on the log: it is synced
		// before the next answer that does (see followerMustSync).
	default:
		d.skipped = false
		c.unsynced = false
		if err := c.log.Sync(); err != nil {
			c.fail(fmt.Errorf("%w: sync the log: %w", ErrStorage, err))
			return
		}
		c.logSynced()
	}
	if d.hardSaved() {
		return
	}
	h := c.hard
	hs := HardState{Epoch: h.epoch, Commit: c.commit, Snapshot: h.snapPos(), Topology: h.topology.clone(), TopologyVersion: h.topoVersion,
		StorageIncarnation: h.incarnation, Repairing: h.repairing, Led: h.led}
	if err := d.store.Save(hs); err != nil {
		c.fail(fmt.Errorf("%w: store hard state (epoch %d): %w", ErrStorage, hs.Epoch, err))
		return
	}
	d.saved = hs
}

// followerMustSync says whether a follower syncs its log in this batch.
// It must before any answer that reports its log (an acknowledgement,
// whose Durable is what it holds; a fence reply, whose Last a promotion
// counts on; a snapshot's answer) and before it stores new hard state
// (the log is on disk before the hard state that follows it, as at every
// other node). Otherwise it lets appends wait: an asynchronous follower
// answers once a tick (the leader asks every follower for an answer once
// a tick, core.sendTo) or every quarter window, not on every append, and
// without this it fdatasynced every batch anyway. Its log is on disk at
// most about a tick after an append while a leader streams to it, and
// before any answer that a failover counts (the fence reply). Its flushes
// fell from one per write to about one per tick, which is disk bandwidth
// taken from the leader's and the sync follower's fdatasyncs on a shared
// disk, and their latency.
func (d *driver) followerMustSync() bool {
	c := d.c
	for i := range c.msgs {
		switch c.msgs[i].Kind {
		case MsgSuspect, MsgForward, MsgForwardResp, MsgRead, MsgReadResp:
			// These claim nothing about the log: a suspicion, a client's
			// write on its way to the leader, reads (a read is served
			// from what is applied, which is committed on the leader and
			// its sync followers).
		default:
			return true
		}
	}
	return !d.hardSaved()
}

// hardSaved says whether the store holds the core's hard state.
func (d *driver) hardSaved() bool {
	h := d.c.hard
	return h.epoch == d.saved.Epoch && h.topoVersion == d.saved.TopologyVersion && h.snapPos() == d.saved.Snapshot &&
		h.topology.Leader == d.saved.Topology.Leader && h.repairing == d.saved.Repairing && h.led == d.saved.Led
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
	// incarnation is the node's StorageIncarnation (fixed while it
	// runs); repairing is HardState.Repairing (it only goes from true to
	// false while the node runs).
	incarnation uint64
	repairing   bool
	led         bool // HardState.Led
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
