package replstore

import (
	"errors"
	"fmt"
	"sync"
)

// HardState is what a node keeps across a crash besides its log: what it
// has promised and what it knows, so that a restart never undoes a
// promise. The driver stores it (HardStateStore.Save) before any message
// that depends on it leaves the node: the epoch a node was fenced with is
// stored before its fence reply, a promotion before the new leader's
// first append.
type HardState struct {
	// Epoch is the highest epoch the node has seen: promised to a
	// coordinator's fence, led, or followed. It only grows; the node
	// refuses every message of an older epoch.
	Epoch Epoch
	// Commit is a commit hint: an LSN the node learned was committed (it
	// may be behind; it is never ahead of what was committed).
	Commit LSN
	// Snapshot is the position of the node's snapshot, the state machine
	// at its log's compaction point (zero if it has none). The snapshot's
	// bytes are stored with SaveSnapshot before Snapshot names them.
	Snapshot Position
	// Topology is the topology the node last knew (from its promotion or
	// its leader), and TopologyVersion its version.
	Topology        Topology
	TopologyVersion uint64
	// StorageIncarnation names this life of the node's storage. It
	// changes (to a larger value) whenever the node finds that its
	// storage lost data it had synced (a record that fails its
	// checksum, see DamageReporter) or starts from nothing; it never
	// changes on a clean restart. A follower sends it with every
	// acknowledgement, so a leader never credits it with entries an
	// earlier incarnation acknowledged and this one no longer holds. It
	// is unrelated to membership: a follower removed and re-added keeps
	// its storage incarnation.
	StorageIncarnation uint64
	// Repairing: the node lost synced data and has not yet been
	// repaired by a leader that knows its new StorageIncarnation (see
	// core.noteRepaired). Until then it takes a fencing round's epoch
	// but does not answer it, and refuses a promotion: its answers would
	// claim less than it acknowledged, or more than it holds.
	Repairing bool
	// Led: this node was promoted to lead Epoch. A leader never leads an
	// epoch twice: after a restart, a promotion to the same epoch (the
	// coordinator resends it) is refused, since the node may have sent
	// entries of that epoch and lost them with its unsynced tail, and
	// leading again would write different entries at their positions.
	Led bool
}

// IsZero reports whether hs is the hard state of a node that has never
// run.
func (hs HardState) IsZero() bool {
	return hs.Epoch == 0 && hs.Commit == 0 && hs.Snapshot == (Position{}) && hs.Topology.Leader == "" &&
		len(hs.Topology.Sync) == 0 && len(hs.Topology.Async) == 0 && hs.TopologyVersion == 0 &&
		hs.StorageIncarnation == 0 && !hs.Repairing && !hs.Led
}

// clone returns hs with slices of its own.
func (hs HardState) clone() HardState {
	hs.Topology = hs.Topology.clone()
	return hs
}

// HardStateStore keeps one node's hard state and its snapshot. Only the
// node that owns it calls it, from one goroutine at a time. MemHardState
// keeps them in memory (they survive Cluster.Crash, as a disk would); a
// durable implementation writes each atomically (temporary file, fsync,
// rename, fsync the directory).
type HardStateStore interface {
	// Load returns the stored hard state; the zero HardState for a node
	// that has never stored one.
	Load() (HardState, error)
	// Save stores hs, atomically and durably: once it returns, a crash
	// loads hs, and before it returns a crash loads the previous state.
	Save(hs HardState) error
	// SaveSnapshot stores the node's snapshot at pos, atomically: a
	// crash leaves the previous snapshot or this one, never a mix. It
	// replaces the previous one. data is opaque to the store: the
	// node's header (the history of epochs of the log the snapshot
	// covers), then the state machine's snapshot.
	SaveSnapshot(pos Position, data []byte) error
	// LoadSnapshot returns the stored snapshot, or a zero Position and nil
	// data if there is none. A snapshot that fails its checksum is an
	// error wrapping ErrBadSnapshot.
	LoadSnapshot() (Position, []byte, error)
}

// MemHardState is the in-memory HardStateStore. Its zero value is ready.
// It is safe for concurrent use (Cluster reads it while a node is down).
type MemHardState struct {
	mu      sync.Mutex
	hs      HardState
	snapPos Position
	snap    []byte
	saves   int
}

var _ HardStateStore = (*MemHardState)(nil)

// NewMemHardState returns an empty in-memory hard state store.
func NewMemHardState() *MemHardState { return &MemHardState{} }

// Load implements HardStateStore.
func (m *MemHardState) Load() (HardState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hs.clone(), nil
}

// Save implements HardStateStore.
func (m *MemHardState) Save(hs HardState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if hs.Epoch < m.hs.Epoch {
		return fmt.Errorf("replstore: hard state: epoch would go back from %d to %d", m.hs.Epoch, hs.Epoch)
	}
	m.hs = hs.clone()
	m.saves++
	return nil
}

// SaveSnapshot implements HardStateStore. It keeps data (the caller must
// not modify it).
func (m *MemHardState) SaveSnapshot(pos Position, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snapPos, m.snap = pos, data
	return nil
}

// StageSnapshot implements SnapshotStager: in memory there is nothing
// slow to do ahead; Install keeps data.
func (m *MemHardState) StageSnapshot(pos Position, data []byte) (StagedSnapshot, error) {
	return memStaged{m, pos, data}, nil
}

type memStaged struct {
	m    *MemHardState
	pos  Position
	data []byte
}

func (s memStaged) Install() error { return s.m.SaveSnapshot(s.pos, s.data) }
func (s memStaged) Discard()       {}

// LoadSnapshot implements HardStateStore.
func (m *MemHardState) LoadSnapshot() (Position, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snapPos, m.snap, nil
}

// Saves counts the Save calls that succeeded.
func (m *MemHardState) Saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}

// SnapshotStager is implemented by a HardStateStore that can write a
// snapshot's bytes ahead, off the node's goroutine (the slow part: the
// data and its fsync), and install them later with a quick atomic step
// on it. The node keeps serving while a snapshot for compaction is
// written. A crash before Install leaves the previous snapshot.
type SnapshotStager interface {
	// StageSnapshot writes a snapshot of the state machine at pos
	// aside, durably, without replacing the current one. It may run
	// concurrently with every other method of the store; only one
	// staged snapshot is outstanding at a time.
	StageSnapshot(pos Position, data []byte) (StagedSnapshot, error)
}

// StagedSnapshot is a snapshot written aside by StageSnapshot.
type StagedSnapshot interface {
	// Install makes it the store's snapshot, atomically: a crash leaves
	// the previous snapshot or this one, never a mix.
	Install() error
	// Discard removes it.
	Discard()
}

// DamageReporter is implemented by a LogStore that can find, when it
// opens, that it lost records it had synced (a record that fails its
// checksum where no torn write can explain it) and cut the log off
// before them instead of refusing to open. The driver records such a
// loss in the node's hard state (a new StorageIncarnation, Repairing)
// before the node sends anything, then calls ClearDamage. A log keeps
// reporting the damage, across reopenings, until ClearDamage returns
// nil, so a crash between the two cannot hide it.
type DamageReporter interface {
	// Damage reports the first LSN the log lost, and ok true, if it
	// cut off synced records.
	Damage() (from LSN, ok bool)
	// ClearDamage forgets the report (durably).
	ClearDamage() error
}

// storageErr is a failure of the node's LogStore doing op, marked as
// ErrStorage (once) with its cause kept for errors.Is.
func storageErr(op string, err error) error {
	if errors.Is(err, ErrStorage) {
		return fmt.Errorf("%s: %w", op, inner(err))
	}
	return fmt.Errorf("%w: %s: %w", ErrStorage, op, err)
}

// ErrStorage marks a failure of a node's own storage (its log, hard state
// or snapshot): the node stops acknowledging rather than lie.
var ErrStorage = errors.New("replstore: storage failure")
