package replstore

import (
	"fmt"
	"log/slog"
	"time"
)

// AckLevel says how far a sync follower must have taken an entry before its
// acknowledgement counts toward commit. PostgreSQL's synchronous_commit
// names are in brackets.
type AckLevel uint8

const (
	// Local: the leader alone; replication is asynchronous [local]. A
	// write acknowledged at Local may exist only on the leader.
	Local AckLevel = iota + 1
	// Received: the sync followers have received and matched the entry,
	// not necessarily made it durable [remote_write].
	Received
	// Durable: the sync followers have appended the entry to their log
	// storage and synced it [on]. The default.
	Durable
	// Applied: the sync followers have applied the entry, so it is
	// readable there when the writer hears "committed" [remote_apply].
	Applied
)

func (a AckLevel) String() string {
	switch a {
	case Local:
		return "Local"
	case Received:
		return "Received"
	case Durable:
		return "Durable"
	case Applied:
		return "Applied"
	}
	return fmt.Sprintf("AckLevel(%d)", uint8(a))
}

// Quorum says how the sync followers' acknowledgements combine.
type Quorum uint8

const (
	// First n: the n highest-priority live followers of SyncFollowers (in
	// list order) must acknowledge, like PostgreSQL's FIRST n (...). The
	// default.
	First Quorum = iota + 1
	// Any n: any n of SyncFollowers must acknowledge, like PostgreSQL's
	// ANY n (...).
	Any
)

func (q Quorum) String() string {
	switch q {
	case First:
		return "FIRST"
	case Any:
		return "ANY"
	}
	return fmt.Sprintf("Quorum(%d)", uint8(q))
}

type syncLossKind uint8

const (
	syncLossBlock syncLossKind = iota
	syncLossReplace
	syncLossDegrade
)

// SyncLossPolicy says what the leader does when its sync set cannot
// answer: fewer than SyncCount of its members are live. Use Block, Replace
// or DegradeAfter.
type SyncLossPolicy struct {
	kind  syncLossKind
	after time.Duration
}

var (
	// Block keeps the commit rule: writes wait, and fail with
	// ErrNotAcknowledged when their context ends. Never acknowledged. The
	// default.
	Block = SyncLossPolicy{kind: syncLossBlock}
	// Replace moves a live async follower that has caught up with the
	// commit LSN into the sync set in place of a lost member (which becomes
	// async). Each change is an event and is recorded in the sync-set
	// history that failover consults.
	Replace = SyncLossPolicy{kind: syncLossReplace}
)

// DegradeAfter falls back to asynchronous commit (ack level Local) once the
// sync set has been unable to answer for d, like MySQL's semi-sync timeout.
// Degrading and recovering are reported as events and in Stats, never
// silently. The leader returns to the configured rule as soon as enough
// sync followers are live again; new writes then wait for them to catch
// up. Both changes take effect only once the coordinator has recorded
// them, so a failover knows which writes the leader acknowledged alone.
func DegradeAfter(d time.Duration) SyncLossPolicy {
	return SyncLossPolicy{kind: syncLossDegrade, after: d}
}

func (p SyncLossPolicy) String() string {
	switch p.kind {
	case syncLossBlock:
		return "Block"
	case syncLossReplace:
		return "Replace"
	case syncLossDegrade:
		return fmt.Sprintf("DegradeAfter(%v)", p.after)
	}
	return "SyncLossPolicy(?)"
}

// Config describes an in-process cluster. DefaultConfig gives a working
// one; zero numeric and policy fields take the defaults named on them, but
// node lists are used as given.
type Config struct {
	// Leader is the node that leads epoch 1. Default config: "n1".
	Leader NodeID
	// SyncFollowers are the followers eligible for the sync set, in
	// priority order (FIRST uses the order). Default config: {"n2"}.
	SyncFollowers []NodeID
	// AsyncFollowers receive the same log but never count toward commit
	// (unless Replace moves one into the sync set). Default config: {"n3"}.
	AsyncFollowers []NodeID
	// Quorum is First (default) or Any.
	Quorum Quorum
	// SyncCount is n in FIRST n / ANY n: how many sync followers must
	// acknowledge. Default 1: one synchronous follower plus the leader.
	SyncCount int
	// AckLevel is how far the sync followers must take an entry. Default
	// Durable.
	AckLevel AckLevel
	// SyncLoss is what happens when the sync set cannot answer. Default
	// Block.
	SyncLoss SyncLossPolicy

	// TickInterval is one tick of the logical clock that drives heartbeats
	// and failure detection. Default 10ms.
	TickInterval time.Duration
	// ManualTicks turns the ticker off: time advances only when the caller
	// calls Cluster.Tick (tests use this to be deterministic).
	ManualTicks bool
	// HeartbeatTicks is how often, in ticks, the leader contacts an idle
	// follower. Default 1.
	HeartbeatTicks int
	// FollowerTimeoutTicks is how many ticks without an answer make the
	// leader consider a follower not live (for FIRST and SyncLoss).
	// Default 10.
	FollowerTimeoutTicks int
	// SuspectTicks is the failure detector's timeout: a follower that has
	// not heard from its leader for this many ticks tells the coordinator,
	// which fails over once enough followers do. Default 100 (1 s at the
	// default tick): long enough that a leader busy with a snapshot or a GC
	// under load is not taken for dead.
	SuspectTicks int
	// FenceTicks bounds a fencing round: a failover that has not heard
	// from enough nodes after this many ticks gives up (and is tried again
	// later). Default 10.
	FenceTicks int
	// ManualFailover turns automatic failover off: only Failover and
	// Switchover promote.
	ManualFailover bool
	// AllowDataLoss lets automatic failover promote the most up-to-date
	// reachable node even when it cannot prove that node holds every
	// acknowledged write; the LSN range that may be lost is reported
	// (EventDataLoss) before the promotion. Off by default.
	AllowDataLoss bool
	// Coordinator decides promotions. Default: QuorumCoordinator.
	Coordinator Coordinator

	// RetainEntries and RetainBytes cap the log each node keeps: entries
	// older than both what a follower still needs and the cap are
	// compacted, and a follower that needs compacted entries is reseeded
	// from a snapshot. So a follower down for a long time cannot make the
	// leader's memory grow without bound. Defaults 1<<20 entries, 256 MiB.
	RetainEntries int
	RetainBytes   int64
	// SnapshotChunkBytes is the size of one snapshot chunk. Default 256 KiB.
	SnapshotChunkBytes int
	// CaughtUpLag is how close (in entries) a follower that has just
	// started or joined must come to the leader's log before it serves
	// reads (ReplicaState.CaughtUp). Default 64.
	CaughtUpLag int

	// MaxBatch is the most entries in one append message. Default 1024.
	MaxBatch int
	// MaxInflight is the most entries sent to one follower and not yet
	// acknowledged (pipelining window). Default 8192.
	MaxInflight int
	// MaxKeyBytes bounds keys and series names. Default 1024.
	MaxKeyBytes int
	// MaxValueBytes bounds values (and raw commands). Default 1 MiB.
	MaxValueBytes int

	// DisableForwarding makes a Node that does not lead refuse writes with
	// *NotLeaderError (naming the leader it knows) instead of forwarding
	// them to the leader.
	DisableForwarding bool

	// NewStateMachine makes a node's state machine (at start and after a
	// crash). Default: NewStore, the telemetry store. A nil result is
	// refused: the node does not start (ErrInvalidConfig).
	NewStateMachine func() StateMachine
	// NewLogStore makes node id's log storage, once per node (a durable
	// implementation finds its files by id). It survives a crash of the
	// node (Cluster.Crash), as a disk would. Default: NewMemLog. A nil
	// store without an error is refused (ErrInvalidConfig).
	NewLogStore func(id NodeID) (LogStore, error)
	// NewHardState makes node id's hard state store (epoch, commit hint,
	// snapshot, topology), once per node. Default: NewMemHardState. A
	// nil store without an error is refused (ErrInvalidConfig).
	NewHardState func(id NodeID) (HardStateStore, error)
	// Logger receives the cluster's log lines. Nil discards them.
	Logger *slog.Logger
	// OnEvent, if set, is called with every Event (sync set changes,
	// degrading, step-downs). It runs on a node's goroutine: it must not
	// block or call back into the cluster.
	OnEvent func(Event)
}

// DefaultConfig is a leader "n1", one sync follower "n2" and one async
// follower "n3", FIRST 1, ack level Durable, policy Block.
func DefaultConfig() Config {
	return Config{
		Leader:         "n1",
		SyncFollowers:  []NodeID{"n2"},
		AsyncFollowers: []NodeID{"n3"},
	}.withDefaults()
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults() Config {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Quorum == 0 {
		c.Quorum = First
	}
	setInt(&c.SyncCount, 1)
	if c.AckLevel == 0 {
		c.AckLevel = Durable
	}
	if c.TickInterval == 0 {
		c.TickInterval = 10 * time.Millisecond
	}
	setInt(&c.HeartbeatTicks, 1)
	setInt(&c.FollowerTimeoutTicks, 10)
	setInt(&c.SuspectTicks, 100)
	setInt(&c.RetainEntries, 1<<20)
	setInt(&c.SnapshotChunkBytes, 256<<10)
	setInt(&c.CaughtUpLag, 64)
	if c.RetainBytes == 0 {
		c.RetainBytes = 256 << 20
	}
	setInt(&c.FenceTicks, 10)
	if c.Coordinator == nil {
		c.Coordinator = QuorumCoordinator{}
	}
	setInt(&c.MaxBatch, 1024)
	setInt(&c.MaxInflight, 8192)
	setInt(&c.MaxKeyBytes, 1024)
	setInt(&c.MaxValueBytes, 1<<20)
	if c.NewStateMachine == nil {
		c.NewStateMachine = func() StateMachine { return NewStore() }
	}
	if c.NewLogStore == nil {
		c.NewLogStore = func(NodeID) (LogStore, error) { return NewMemLog(), nil }
		if testLogStore != nil {
			c.NewLogStore = testLogStore
		}
	}
	if c.NewHardState == nil {
		c.NewHardState = func(NodeID) (HardStateStore, error) { return NewMemHardState(), nil }
		if testHardState != nil {
			c.NewHardState = testHardState
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first field that is wrong, naming it and what is
// allowed: a negative number or duration, a node ID that is empty, used
// twice or CoordinatorID (reserved for the coordinator), and the rules
// that tie fields together. Zero fields that have defaults are accepted.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if c.Leader == "" {
		return bad("Leader", "empty; name the node that leads (e.g. \"n1\")")
	}
	if c.Leader == CoordinatorID {
		return bad("Leader", "%q is reserved for the coordinator; name a node", c.Leader)
	}
	seen := map[NodeID]string{c.Leader: "Leader"}
	for _, f := range []struct {
		field string
		ids   []NodeID
	}{{"SyncFollowers", c.SyncFollowers}, {"AsyncFollowers", c.AsyncFollowers}} {
		field := f.field
		for _, id := range f.ids {
			if id == "" {
				return bad(field, "contains an empty node ID")
			}
			if id == CoordinatorID {
				return bad(field, "contains %q, which is reserved for the coordinator", id)
			}
			if other, dup := seen[id]; dup {
				return bad(field, "node %q is also in %s; each node has one role", id, other)
			}
			seen[id] = field
		}
	}
	c = c.withDefaults()
	if c.Quorum != First && c.Quorum != Any {
		return bad("Quorum", "%v; want First or Any", c.Quorum)
	}
	if c.AckLevel < Local || c.AckLevel > Applied {
		return bad("AckLevel", "%v; want Local, Received, Durable or Applied", c.AckLevel)
	}
	if c.AckLevel != Local && len(c.SyncFollowers) == 0 {
		return bad("SyncFollowers", "empty, but AckLevel %v needs at least one sync follower (use AckLevel Local for asynchronous replication)", c.AckLevel)
	}
	if c.SyncCount < 1 || (len(c.SyncFollowers) > 0 && c.SyncCount > len(c.SyncFollowers)) {
		return bad("SyncCount", "%d; want 1 to len(SyncFollowers) = %d", c.SyncCount, len(c.SyncFollowers))
	}
	if c.SyncLoss.kind == syncLossDegrade && c.SyncLoss.after <= 0 {
		return bad("SyncLoss", "DegradeAfter(%v); the duration must be positive", c.SyncLoss.after)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"HeartbeatTicks", c.HeartbeatTicks}, {"FollowerTimeoutTicks", c.FollowerTimeoutTicks}, {"SuspectTicks", c.SuspectTicks}, {"FenceTicks", c.FenceTicks}, {"RetainEntries", c.RetainEntries}, {"SnapshotChunkBytes", c.SnapshotChunkBytes}, {"CaughtUpLag", c.CaughtUpLag}, {"MaxBatch", c.MaxBatch},
		{"MaxInflight", c.MaxInflight}, {"MaxKeyBytes", c.MaxKeyBytes}, {"MaxValueBytes", c.MaxValueBytes}} {
		if f.v < 0 {
			return bad(f.name, "%d; must be positive (0 takes the default)", f.v)
		}
	}
	if c.RetainBytes < 0 {
		return bad("RetainBytes", "%d; must be positive (0 takes the default)", c.RetainBytes)
	}
	if c.TickInterval < 0 {
		return bad("TickInterval", "%v; must be positive (0 takes the default)", c.TickInterval)
	}
	if c.FollowerTimeoutTicks <= c.HeartbeatTicks {
		return bad("FollowerTimeoutTicks", "%d; must exceed HeartbeatTicks (%d), or every follower looks dead between heartbeats", c.FollowerTimeoutTicks, c.HeartbeatTicks)
	}
	if c.SuspectTicks <= c.HeartbeatTicks {
		return bad("SuspectTicks", "%d; must exceed HeartbeatTicks (%d), or every leader looks dead between heartbeats", c.SuspectTicks, c.HeartbeatTicks)
	}
	if c.MaxInflight < c.MaxBatch {
		return bad("MaxInflight", "%d; must be at least MaxBatch (%d)", c.MaxInflight, c.MaxBatch)
	}
	return nil
}

// ticksFor converts a duration to whole ticks, at least 1.
func (c Config) ticksFor(d time.Duration) int {
	t := int((d + c.TickInterval - 1) / c.TickInterval)
	return max(t, 1)
}

// testLogStore and testHardState replace the in-memory default storage
// when this package's tests run with REPLSTORE_TEST_STORAGE=wal (see
// walsuite_test.go): the whole suite then runs on files once. Nothing
// else sets them; they are nil in every program.
var (
	testLogStore  func(id NodeID) (LogStore, error)
	testHardState func(id NodeID) (HardStateStore, error)
)
