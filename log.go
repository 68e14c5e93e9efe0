package replstore

import (
	"fmt"
	"slices"
)

// LSN is a log sequence number: the 1-based index of an entry in the log.
// 0 means "nothing".
type LSN uint64

// Epoch is a leadership generation. Every promotion takes a strictly larger
// epoch, and every entry and message carries the epoch of the leader that
// produced it.
type Epoch uint64

// Position is the place of one entry in the log: the epoch of the leader
// that wrote it and its LSN. Two logs that hold an entry with the same
// Position hold the same entries up to it (log matching).
type Position struct {
	Epoch Epoch
	LSN   LSN
}

// String prints p as "epoch:lsn", e.g. "3:1042".
func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Epoch, p.LSN) }

// Less orders positions the way logs are compared for being up to date:
// by epoch, then by LSN.
func (p Position) Less(q Position) bool {
	if p.Epoch != q.Epoch {
		return p.Epoch < q.Epoch
	}
	return p.LSN < q.LSN
}

// EntryKind says what an entry carries.
type EntryKind uint8

const (
	// EntryCommand carries a command for the state machine.
	EntryCommand EntryKind = iota
	// EntryEpoch opens an epoch: a new leader appends one before any
	// command, so that its first commit also commits everything before it.
	// The state machine never sees it.
	EntryEpoch
)

// Entry is one record of the replicated log. Entries are immutable once
// appended: stores and messages share them, never modify them.
type Entry struct {
	Pos  Position
	Kind EntryKind
	// Time is the leader's clock (Unix nanoseconds) when it appended the
	// entry. Apply uses it instead of reading a clock, so every replica
	// computes the same state.
	Time int64
	// Data is the encoded command (see Store for the built-in ones).
	Data []byte
}

// LogStore keeps one node's log. Implementations need not be safe for
// concurrent use: only the node that owns a LogStore calls it. Slices it
// returns may alias its memory and must not be modified by the caller; a
// later TruncateAfter or CompactThrough must not change what an earlier
// Entries call returned (the in-memory store copies instead of reusing).
type LogStore interface {
	// Append adds entries at the end. The first must have LSN Last().LSN+1
	// and the LSNs must be consecutive.
	Append(entries []Entry) error
	// Sync makes everything appended durable (a no-op in memory). An ack
	// at level Durable is sent only after Sync returns.
	Sync() error
	// Entries returns the entries with lo <= LSN <= hi. It fails with
	// ErrCompacted if lo is below First, and returns fewer entries if hi is
	// past the end.
	Entries(lo, hi LSN) ([]Entry, error)
	// EpochAt returns the epoch of the entry at lsn, also for the last
	// compacted LSN (0 for LSN 0). ErrCompacted below that, ErrNoEntry past
	// the end.
	EpochAt(lsn LSN) (Epoch, error)
	// First is the lowest LSN still held (Last().LSN+1 when empty).
	First() LSN
	// Last is the Position of the last entry, or of the last compacted
	// one when the log is empty.
	Last() Position
	// TruncateAfter removes every entry with LSN > lsn. It cannot remove
	// compacted entries (ErrCompacted).
	TruncateAfter(lsn LSN) error
	// CompactThrough drops every entry with LSN <= lsn, remembering the
	// Position of the last one dropped.
	CompactThrough(lsn LSN) error
}

// MemLog is the in-memory LogStore. Entries live in one slice; memory per
// retained entry is the Entry header (56 bytes on 64-bit) plus its Data,
// which is shared with the caller, not copied.
type MemLog struct {
	base    Position // last compacted entry; {0,0} at start
	entries []Entry  // entries[i].Pos.LSN == base.LSN+1+i
}

// NewMemLog returns an empty in-memory log.
func NewMemLog() *MemLog { return &MemLog{} }

// Append implements LogStore.
func (l *MemLog) Append(entries []Entry) error {
	next := l.base.LSN + LSN(len(l.entries)) + 1
	for i, e := range entries {
		if e.Pos.LSN != next+LSN(i) {
			return fmt.Errorf("replstore: log append: entry %d has LSN %d, want %d", i, e.Pos.LSN, next+LSN(i))
		}
	}
	l.entries = append(l.entries, entries...)
	return nil
}

// Sync implements LogStore; memory has nothing to flush.
func (l *MemLog) Sync() error { return nil }

// Entries implements LogStore.
func (l *MemLog) Entries(lo, hi LSN) ([]Entry, error) {
	if lo <= l.base.LSN {
		return nil, fmt.Errorf("%w: LSN %d (first held is %d)", ErrCompacted, lo, l.base.LSN+1)
	}
	last := l.base.LSN + LSN(len(l.entries))
	if hi > last {
		hi = last
	}
	if lo > hi {
		return nil, nil
	}
	i, j := int(lo-l.base.LSN-1), int(hi-l.base.LSN)
	return l.entries[i:j:j], nil
}

// EpochAt implements LogStore.
func (l *MemLog) EpochAt(lsn LSN) (Epoch, error) {
	switch {
	case lsn == l.base.LSN:
		return l.base.Epoch, nil
	case lsn < l.base.LSN:
		return 0, fmt.Errorf("%w: LSN %d (first held is %d)", ErrCompacted, lsn, l.base.LSN+1)
	case lsn > l.base.LSN+LSN(len(l.entries)):
		return 0, fmt.Errorf("%w: LSN %d (last is %d)", ErrNoEntry, lsn, l.base.LSN+LSN(len(l.entries)))
	}
	return l.entries[lsn-l.base.LSN-1].Pos.Epoch, nil
}

// First implements LogStore.
func (l *MemLog) First() LSN { return l.base.LSN + 1 }

// Last implements LogStore.
func (l *MemLog) Last() Position {
	if len(l.entries) == 0 {
		return l.base
	}
	return l.entries[len(l.entries)-1].Pos
}

// TruncateAfter implements LogStore. It copies the kept entries into a new
// slice, so slices handed out earlier stay unchanged.
func (l *MemLog) TruncateAfter(lsn LSN) error {
	if lsn < l.base.LSN {
		return fmt.Errorf("%w: cannot truncate after %d, entries through %d are compacted", ErrCompacted, lsn, l.base.LSN)
	}
	keep := int(lsn - l.base.LSN)
	if keep >= len(l.entries) {
		return nil
	}
	l.entries = slices.Clone(l.entries[:keep])
	return nil
}

// CompactThrough implements LogStore.
func (l *MemLog) CompactThrough(lsn LSN) error {
	if lsn <= l.base.LSN {
		return nil
	}
	last := l.base.LSN + LSN(len(l.entries))
	if lsn > last {
		return fmt.Errorf("%w: cannot compact through %d, last is %d", ErrNoEntry, lsn, last)
	}
	n := int(lsn - l.base.LSN)
	l.base = l.entries[n-1].Pos
	// Copy the survivors so the dropped prefix can be collected.
	l.entries = slices.Clone(l.entries[n:])
	return nil
}
