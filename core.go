package replstore

import (
	"bytes"
	"fmt"
)

// role is what a node does in its current epoch.
type role uint8

const (
	roleFollower role = iota
	roleLeader
)

func (r role) String() string {
	if r == roleLeader {
		return "leader"
	}
	return "follower"
}

// coreConfig is the part of Config the protocol core reads, in ticks.
type coreConfig struct {
	syncFollowers  []NodeID
	asyncFollowers []NodeID
	quorum         Quorum
	syncCount      int
	ackLevel       AckLevel
	syncLoss       syncLossKind
	degradeTicks   int
	heartbeatTicks int
	timeoutTicks   int
	maxBatch       int
	maxInflight    int
	suspectTicks   int // a follower suspects its leader after this many silent ticks
	snapshotChunk  int // bytes per snapshot chunk
	// maxMessageBytes is the transport's MaxMessageBytes (0: no limit):
	// each append carries no more entries than fit (fitAppend).
	maxMessageBytes int
	caughtUpLag     int // a follower serves reads once this close to the leader
	// asyncSnapshots: the driver runs snapshot jobs on another goroutine
	// (the runtime does; single-goroutine drivers snapshot inline).
	asyncSnapshots bool
	snapshotWindow int // snapshot chunks in flight
	retainEntries  int // log entries kept beyond what followers need
	retainBytes    int64
	coordinated    bool // a coordinator must acknowledge topology changes
	// newStateMachine rebuilds the state machine when a rollback removes
	// applied entries (possible only under asynchronous commit).
	newStateMachine func() StateMachine
	// nextIncarnation proposes a new StorageIncarnation (the driver
	// takes the larger of it and the stored one plus one): the wall
	// clock in the runtime, so that a node that lost its whole disk
	// still comes back with a larger one; virtual time in the
	// simulator. nil: the stored one plus one.
	nextIncarnation func() uint64
	// bug is a planted bug (bugs.go); only tests set it.
	bug plantedBug
}

func newCoreConfig(c Config) *coreConfig {
	cc := &coreConfig{
		syncFollowers:   c.SyncFollowers,
		asyncFollowers:  c.AsyncFollowers,
		quorum:          c.Quorum,
		syncCount:       c.SyncCount,
		ackLevel:        c.AckLevel,
		syncLoss:        c.SyncLoss.kind,
		heartbeatTicks:  c.HeartbeatTicks,
		timeoutTicks:    c.FollowerTimeoutTicks,
		maxBatch:        c.MaxBatch,
		maxInflight:     c.MaxInflight,
		suspectTicks:    c.SuspectTicks,
		snapshotChunk:   c.SnapshotChunkBytes,
		caughtUpLag:     c.CaughtUpLag,
		snapshotWindow:  4,
		retainEntries:   c.RetainEntries,
		retainBytes:     c.RetainBytes,
		coordinated:     true,
		newStateMachine: c.NewStateMachine,
	}
	if cc.syncLoss == syncLossDegrade {
		cc.degradeTicks = c.ticksFor(c.SyncLoss.after)
	}
	return cc
}

// lsnErr is a command's non-nil result, for the client that wrote it.
type lsnErr struct {
	lsn LSN
	err error
}

// core is one node's deterministic protocol state machine. It takes one
// input at a time (a proposal, a message, a tick) and collects outputs
// (messages, command results, events) that its driver takes with
// takeOutputs. It starts no goroutine, reads no clock and draws no random
// number: time comes in with every input.
type core struct {
	id   NodeID
	cfg  *coreConfig
	log  LogStore
	sm   StateMachine
	hard *hardState
	// trackGen is the last Message.MemberVersion this leader gave a
	// follower's progress (trackVersion).
	trackGen uint64

	role   role
	epoch  Epoch  // highest epoch seen; == hard.epoch; only grows
	leader NodeID // leader of epoch, "" if unknown
	last   Position
	// commit is the leader's commit LSN (its commit rule at the ack
	// level), or on a follower the leader's commit hint clipped to
	// matched. Only grows.
	commit LSN
	// applied is the highest LSN applied to sm. Only grows;
	// applied <= commit.
	applied LSN
	// ledThrough is the commit LSN when this node last stopped leading:
	// writes it accepted beyond it were never committed by it.
	ledThrough LSN
	// appliedTime is the leader's clock stamped on the entry at applied.
	appliedTime int64
	// unsynced: the log was appended to since the driver last synced it
	// or started a flush of it (driver.persist syncs it before any
	// message leaves, or a leader flushes it after: asyncFlush). synced
	// is the highest LSN known synced: the leader counts itself toward
	// commit only up to it. Invariant: synced <= last.LSN.
	unsynced bool
	synced   LSN
	// cuts counts the log's truncations and resets (rollBack,
	// installSnapshot): a flush begun before one covers only what the
	// cut left, which the cut itself made synced.
	cuts uint64

	now  int64  // the driver's clock at the last input (Unix ns)
	tick uint64 // logical time: ticks seen

	leaderState
	followerState

	// ads is every replica's state as this node last advertised it (the
	// leader, once per tick) or heard it (a follower, from heartbeats);
	// never modified once made (advertise.go).
	ads     []ReplicaState
	adsTick uint64

	snapJob  *snapshotJob // a snapshot for the driver to write, then snapshotTaken
	snapBusy bool         // a snapshot job is out

	// Outputs, taken by the driver.
	msgs   []Message
	errs   []lsnErr
	events []Event
	fatal  error // a storage failure or a broken invariant: the node must stop
}

// newCore builds a node's core over its log and hard state, which survive
// crashes; the state machine is fresh and is replayed as commits arrive.
func newCore(id NodeID, cfg *coreConfig, log LogStore, sm StateMachine, hard *hardState) *core {
	c := &core{id: id, cfg: cfg, log: log, sm: sm, hard: hard, epoch: hard.epoch, last: log.Last()}
	c.synced = c.last.LSN // what a log holds when it opens is on disk
	// The state machine starts from the node's snapshot, if it has one,
	// and replays the log from there as commits arrive. The log is only
	// ever compacted through the snapshot, so nothing is missing.
	if s := hard.snap; s != nil {
		if err := sm.Restore(bytes.NewReader(s.state)); err != nil {
			c.fail(fmt.Errorf("restore the node's own snapshot at %v: %w", s.pos, err))
		}
		// Nothing is known to match the leader's log yet: under
		// asynchronous commit a promotion may have lost even what we
		// committed, and an answer claiming it would make the leader
		// count entries we do not share (matched stays 0 until an append
		// shows it, as after a change of epoch).
		c.commit, c.applied = s.pos.LSN, s.pos.LSN
	}
	return c
}

// step feeds one message to the core. Every message passes the epoch
// gate first (fencing.go): one from an epoch older than any this node has
// seen is refused here, in one place, and no handler sees it.
func (c *core) step(m Message, now int64) {
	c.now = now
	if m.Epoch < c.epoch && c.refuseStale(m) {
		return
	}
	switch m.Kind {
	case MsgAppend:
		c.handleAppend(m)
	case MsgAppendResp, MsgSnapshotResp:
		c.handleAppendResp(m)
	case MsgFence:
		c.handleFence(m)
	case MsgPromote:
		c.handlePromote(m)
	case MsgStatusAck:
		c.handleStatusAck(m)
	case MsgTransfer, MsgTransferAbort:
		c.handleTransfer(m)
	case MsgSnapshot:
		c.handleSnapshot(m)
	default:
		c.logf("dropping message of unknown kind %d from %s", m.Kind, m.From)
	}
}

// onTick advances logical time by one tick.
func (c *core) onTick(now int64) {
	c.now = now
	c.tick++
	if c.role == roleLeader {
		c.leaderTick()
	} else {
		c.followerTick()
	}
	c.maybeCompact()
}

// flush ends a batch of inputs: it appends queued proposals and sends the
// acknowledgement a follower owes. The driver calls it before taking
// outputs, then calls applyDeferred after sending them.
func (c *core) flush() {
	if c.role == roleLeader {
		c.appendProposals()
		c.sendReadRound()
		c.checkTransfer()
		return
	}
	if c.cfg.ackLevel == Applied {
		// The acknowledgement must report what is applied.
		c.applyCommitted()
	}
	c.sendAck()
}

// applyDeferred applies what a follower learned is committed. It runs
// after the batch's messages are sent, so a follower's acknowledgement
// never waits for its state machine. (The leader applies as it commits:
// its writers wait for that.)
func (c *core) applyDeferred() {
	c.applyCommitted()
	if !c.caughtUp && c.leaderLast > 0 && c.applied+LSN(c.cfg.caughtUpLag) >= c.leaderLast {
		c.caughtUp = true
	}
}

// logSynced tells the core that the driver synced its log: a leader may
// now count its own entries toward commit.
func (c *core) logSynced() {
	c.synced = c.last.LSN
	if c.role == roleLeader {
		c.maybeCommit()
	}
}

// logFlushed tells the core that a flush begun when the log ended at
// f.through finished (asyncFlush): a leader may now count those entries
// toward commit. A flush that a truncation or a reset overtook says
// nothing about the entries appended after the cut.
func (c *core) logFlushed(f flushJob) {
	if f.cuts != c.cuts || f.through <= c.synced {
		return
	}
	c.synced = min(f.through, c.last.LSN)
	if c.role == roleLeader {
		c.maybeCommit()
	}
}

// send queues a message.
func (c *core) send(m Message) {
	m.From = c.id
	m.Epoch = c.epoch
	m.Time = c.now
	switch m.Kind {
	case MsgAppendResp, MsgSnapshotResp:
		m.MemberVersion = c.memberVersion
		m.Incarnation = c.hard.incarnation // what a leader or coordinator may credit us with
	case MsgFenceResp:
		m.Incarnation = c.hard.incarnation
	}
	c.msgs = append(c.msgs, m)
}

// applyCommitted applies entries up to the commit LSN, in order.
func (c *core) applyCommitted() {
	for c.applied < c.commit && c.fatal == nil {
		ents, err := c.log.Entries(c.applied+1, c.commit)
		if err != nil || len(ents) == 0 {
			c.fail(fmt.Errorf("read entries %d..%d to apply: %v", c.applied+1, c.commit, err))
			return
		}
		for _, e := range ents {
			if e.Kind == EntryCommand {
				if err := c.sm.Apply(e); err != nil && c.role == roleLeader {
					c.errs = append(c.errs, lsnErr{e.Pos.LSN, err})
				}
			}
			c.applied = e.Pos.LSN
			c.appliedTime = e.Time
		}
	}
}

// holds reports whether the log holds the entry at pos, compacted or
// not: the entry at pos.LSN is of pos.Epoch (for a compacted one, by the
// snapshot's history of epochs, epochs.go).
func (c *core) holds(pos Position) bool {
	if pos.LSN == 0 {
		return true // the empty prefix, which every log holds
	}
	if pos.LSN < c.log.First() {
		e, ok := c.compactedEpochAt(pos.LSN)
		// The log is compacted only through the snapshot, whose history
		// covers every LSN under it, except a snapshot stored by a build
		// before histories (decodeNodeSnapshot): there, !ok, and the
		// answer is that build's.
		return !ok || e == pos.Epoch
	}
	return pos.LSN <= c.last.LSN && c.epochAt(pos.LSN) == pos.Epoch
}

// writeFate is what became of a write this node appended as leader at
// pos, once its LSN is applied here.
type writeFate uint8

const (
	// fateHeld: the node commits and holds it: acknowledge it.
	fateHeld writeFate = iota
	// fateRolledBack: another entry took its LSN (a rollback): it was
	// never acknowledged, and is not in the log.
	fateRolledBack
	// fateUnknown: the node stopped leading before it committed the
	// write: it may be in the new leader's log or not, and this node
	// cannot tell.
	fateUnknown
)

// writeFate says what the host answers the writer of the entry at pos
// (runtime.go and the simulator answer by it). holds() is exact for a
// compacted LSN too (the snapshot's history of epochs): a snapshot from
// the new leader that replaced the write's LSN says whether the entry
// there is the write.
func (c *core) writeFate(pos Position) writeFate {
	switch {
	case !c.holds(pos):
		return fateRolledBack
	case c.role != roleLeader && pos.LSN > c.ledThrough:
		return fateUnknown
	}
	return fateHeld
}

// fail records a fatal error; the driver stops the node.
// freshStateMachine makes an empty state machine (for a rollback or a
// snapshot install), or stops the node if Config.NewStateMachine returns
// none: NewNode refuses that hook at start, but it is called again later.
func (c *core) freshStateMachine() StateMachine {
	sm := c.cfg.newStateMachine()
	if sm == nil {
		c.fail(fmt.Errorf("%w: Config.NewStateMachine returned nil", ErrInvalidConfig))
	}
	return sm
}

func (c *core) fail(err error) {
	if c.fatal == nil {
		c.fatal = fmt.Errorf("replstore: node %s: %w", c.id, err)
	}
}

func (c *core) emit(e Event) {
	e.Node = c.id
	e.Epoch = c.epoch
	c.events = append(c.events, e)
}

func (c *core) logf(format string, args ...any) {
	c.emit(Event{Kind: EventLog, Detail: fmt.Sprintf(format, args...)})
}

// checkInvariants verifies what must hold between inputs; tests call it
// after every step.
func (c *core) checkInvariants() error {
	if c.applied > c.commit {
		return fmt.Errorf("node %s: applied %d > commit %d", c.id, c.applied, c.commit)
	}
	if c.epoch != c.hard.epoch {
		return fmt.Errorf("node %s: epoch %d, hard state %d", c.id, c.epoch, c.hard.epoch)
	}
	if c.last != c.log.Last() {
		return fmt.Errorf("node %s: cached last %v, log says %v", c.id, c.last, c.log.Last())
	}
	if c.synced > c.last.LSN {
		return fmt.Errorf("node %s: synced %d past last %d", c.id, c.synced, c.last.LSN)
	}
	if c.role == roleLeader {
		if c.commit > c.last.LSN {
			return fmt.Errorf("node %s: commit %d past last %d", c.id, c.commit, c.last.LSN)
		}
		for _, p := range c.followers {
			if p.durable > p.received || p.received >= p.next || p.next > c.last.LSN+1 {
				return fmt.Errorf("node %s: follower %s progress durable %d received %d next %d last %d",
					c.id, p.id, p.durable, p.received, p.next, c.last.LSN)
			}
		}
	}
	return nil
}
