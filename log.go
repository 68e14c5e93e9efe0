package replstore

import "fmt"

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
// concurrent use: only the node that owns a LogStore calls it, from one
// goroutine (except a ConcurrentSyncLog's Sync, which a leader runs on
// another). Slices it
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
	// Reset drops every entry: the log continues after base, as after
	// installing a snapshot taken at base.
	Reset(base Position) error
	// Size returns how many entries the log holds and their payload
	// bytes (Data), for retention (Config.RetainBytes).
	Size() (entries int, bytes int64)
}

// ConcurrentSyncLog is a LogStore whose Sync may run on another goroutine
// while its owner calls Append, Entries, EpochAt, First, Last and Size,
// and concurrently with another Sync; TruncateAfter, CompactThrough,
// Reset and Close wait for a Sync in progress. Sync still makes durable
// everything appended before it was called. A leader flushes such a log
// off its node's goroutine: it streams a batch to its followers while
// its own flush runs, and counts itself toward commit only once the
// flush is done. Other logs are synced inline, before the batch's
// messages leave. Package wal's Log is one.
type ConcurrentSyncLog interface {
	LogStore
	// ConcurrentSync marks the implementation; it is never called.
	ConcurrentSync()
}

// MemLog is the in-memory LogStore. Entries live in fixed-size chunks, so
// appending never copies the log and an old chunk is never written again
// once a slice of it was handed out (truncation copies the chunk it cuts).
// Memory per retained entry is the Entry header (56 bytes on 64-bit) plus
// its Data, which is shared with the caller, not copied.
type MemLog struct {
	base   Position  // last compacted entry; {0,0} at start
	off    int       // entries of chunks[0] before base.LSN+1 (dropped)
	chunks [][]Entry // each holds up to chunkSize entries; only the last is partial
	n      int       // entries held
	bytes  int64     // payload bytes held
}

const chunkSize = 4096

// NewMemLog returns an empty in-memory log.
func NewMemLog() *MemLog { return &MemLog{} }

// locate returns the chunk and index of the held entry at lsn.
func (l *MemLog) locate(lsn LSN) (int, int) {
	i := int(lsn-l.base.LSN-1) + l.off
	return i / chunkSize, i % chunkSize
}

func (l *MemLog) lastLSN() LSN { return l.base.LSN + LSN(l.n) }

// Append implements LogStore.
func (l *MemLog) Append(entries []Entry) error {
	next := l.lastLSN() + 1
	for i, e := range entries {
		if e.Pos.LSN != next+LSN(i) {
			return fmt.Errorf("replstore: log append: entry %d has LSN %d, want %d", i, e.Pos.LSN, next+LSN(i))
		}
	}
	for len(entries) > 0 {
		k := len(l.chunks) - 1
		if k < 0 || len(l.chunks[k]) == chunkSize {
			l.chunks = append(l.chunks, make([]Entry, 0, chunkSize))
			k++
		}
		room := chunkSize - len(l.chunks[k])
		m := min(room, len(entries))
		l.chunks[k] = append(l.chunks[k], entries[:m]...)
		l.bytes += payload(entries[:m])
		entries = entries[m:]
		l.n += m
	}
	return nil
}

// Sync implements LogStore; memory has nothing to flush.
func (l *MemLog) Sync() error { return nil }

// Entries implements LogStore. The result lies within one chunk, so it
// may hold fewer entries than asked for (at least one if lo is held).
func (l *MemLog) Entries(lo, hi LSN) ([]Entry, error) {
	if lo <= l.base.LSN {
		return nil, fmt.Errorf("%w: LSN %d (first held is %d)", ErrCompacted, lo, l.base.LSN+1)
	}
	hi = min(hi, l.lastLSN())
	if lo > hi {
		return nil, nil
	}
	c, i := l.locate(lo)
	j := min(i+int(hi-lo)+1, len(l.chunks[c]))
	return l.chunks[c][i:j:j], nil
}

// EpochAt implements LogStore.
func (l *MemLog) EpochAt(lsn LSN) (Epoch, error) {
	switch {
	case lsn == l.base.LSN:
		return l.base.Epoch, nil
	case lsn < l.base.LSN:
		return 0, fmt.Errorf("%w: LSN %d (first held is %d)", ErrCompacted, lsn, l.base.LSN+1)
	case lsn > l.lastLSN():
		return 0, fmt.Errorf("%w: LSN %d (last is %d)", ErrNoEntry, lsn, l.lastLSN())
	}
	c, i := l.locate(lsn)
	return l.chunks[c][i].Pos.Epoch, nil
}

// First implements LogStore.
func (l *MemLog) First() LSN { return l.base.LSN + 1 }

// Last implements LogStore.
func (l *MemLog) Last() Position {
	if l.n == 0 {
		return l.base
	}
	c := l.chunks[len(l.chunks)-1]
	return c[len(c)-1].Pos
}

// TruncateAfter implements LogStore. The chunk it cuts is copied, so
// slices handed out earlier stay unchanged.
func (l *MemLog) TruncateAfter(lsn LSN) error {
	if lsn < l.base.LSN {
		return fmt.Errorf("%w: cannot truncate after %d, entries through %d are compacted", ErrCompacted, lsn, l.base.LSN)
	}
	if lsn >= l.lastLSN() {
		return nil
	}
	dropped, _ := l.Entries(lsn+1, l.lastLSN())
	for len(dropped) > 0 {
		l.bytes -= payload(dropped)
		next := dropped[len(dropped)-1].Pos.LSN + 1
		dropped, _ = l.Entries(next, l.lastLSN())
	}
	l.n = int(lsn - l.base.LSN)
	if l.n == 0 {
		l.chunks, l.off, l.bytes = nil, 0, 0
		return nil
	}
	c, i := l.locate(lsn)
	clear(l.chunks[c+1:])
	l.chunks = l.chunks[:c+1]
	cut := make([]Entry, i+1, chunkSize)
	copy(cut, l.chunks[c][:i+1])
	l.chunks[c] = cut
	return nil
}

// Reset implements LogStore.
func (l *MemLog) Reset(base Position) error {
	l.base, l.off, l.chunks, l.n, l.bytes = base, 0, nil, 0, 0
	return nil
}

// Size returns how many entries the log holds and their payload bytes.
func (l *MemLog) Size() (entries int, bytes int64) { return l.n, l.bytes }

func payload(es []Entry) int64 {
	var b int64
	for _, e := range es {
		b += int64(len(e.Data))
	}
	return b
}

// CompactThrough implements LogStore.
func (l *MemLog) CompactThrough(lsn LSN) error {
	if lsn <= l.base.LSN {
		return nil
	}
	if lsn > l.lastLSN() {
		return fmt.Errorf("%w: cannot compact through %d, last is %d", ErrNoEntry, lsn, l.lastLSN())
	}
	for lo := l.base.LSN + 1; lo <= lsn; {
		dropped, _ := l.Entries(lo, lsn)
		l.bytes -= payload(dropped)
		lo += LSN(len(dropped))
	}
	c, i := l.locate(lsn)
	l.base = l.chunks[c][i].Pos
	l.n -= (c*chunkSize + i + 1) - l.off
	// Whole chunks before c go; entries of chunk c up to i are kept in
	// memory but no longer reachable through the log.
	clear(l.chunks[:c])
	l.chunks = l.chunks[c:]
	l.off = i + 1
	if l.off == chunkSize {
		l.chunks, l.off = l.chunks[1:], 0
	}
	return nil
}
