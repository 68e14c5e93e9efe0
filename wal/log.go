package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/replstore/replstore"
)

// Log is a durable replstore.LogStore kept in dir as segment files.
//
// Concurrency: Sync, SyncedLSN, Stats and Recovered are safe from any
// goroutine, concurrently with each other and with every other method.
// All other methods (Append, Entries, EpochAt, First, Last, Size,
// TruncateAfter, CompactThrough, Reset, Close) belong to one owner
// goroutine at a time, as replstore.LogStore says; they are serialized
// with Sync by a mutex, so calling them from several goroutines is
// memory-safe, but their order is the caller's business. An in-flight
// fdatasync never blocks Append, Entries, EpochAt, First, Last or Size;
// TruncateAfter, CompactThrough, Reset and Close wait for it to finish.
type Log struct {
	dir       string
	opts      Options
	lock      *os.File
	recovered Recovery

	mu   sync.Mutex
	cond *sync.Cond // broadcast when a sync round ends or the log closes

	// Invariant: segs is non-empty, segs[i+1].first == segs[i].last()+1,
	// segs[0].first <= base.LSN+1, and only the last segment is written.
	segs    []*segment
	base    replstore.Position // last compacted entry (persisted in META)
	lastPos replstore.Position // last entry, or base when none is held
	bytes   int64              // payload bytes of the held entries

	// buf holds framed records of the last segment not yet written; they
	// go at file offset tail().size. flushedLSN is the last LSN written.
	buf        []byte
	flushedLSN replstore.LSN

	// cache holds the entries cacheBase+1..lastPos.LSN. Invariant:
	// base.LSN <= cacheBase <= max(flushedLSN, base.LSN), so every held
	// entry not in the cache is in a file.
	cache     *replstore.MemLog
	cacheBase replstore.LSN

	// Group commit. writeSeq counts changes to the log and only grows;
	// syncedSeq is the writeSeq a finished sync round covered (only
	// grows); syncing says a round's fdatasync is running without mu.
	writeSeq  uint64
	syncedSeq uint64
	syncedLSN replstore.LSN // highest LSN known durable
	syncing   bool
	dirDirty  bool // a segment was created since the directory was last synced

	// damage is the first LSN lost to damage that Open cut off (with
	// Options.TruncateDamaged), 0 if none: kept in the DAMAGED file
	// until ClearDamage.
	damage replstore.LSN

	err    error // sticky storage failure: refuses every later write
	closed bool
	stats  Stats

	// Test hooks: fsync is fdatasync, beforeFsync (if set) runs in a sync
	// round just before its fdatasync, without mu; idleWait (if set) runs,
	// with mu, when an operation is about to wait for a running round.
	fsync       func(*os.File) error
	beforeFsync func()
	idleWait    func()
}

var (
	_ replstore.LogStore          = (*Log)(nil)
	_ replstore.DamageReporter    = (*Log)(nil)
	_ replstore.ConcurrentSyncLog = (*Log)(nil)
)

// Recovery reports what Open cut off a torn tail of the last segment.
// The zero Recovery means nothing was dropped.
type Recovery struct {
	File         string // segment file that was truncated
	Offset       int64  // where it now ends
	DroppedBytes int64  // bytes cut off
	Reason       string // what was wrong with the first dropped record
	// Damaged: what was cut off was not a torn tail but damage
	// (Options.TruncateDamaged): synced records from LostFrom on are
	// gone. DroppedBytes then counts only the damaged segment's bytes.
	Damaged  bool
	LostFrom replstore.LSN
}

// Stats counts what a Log did since Open.
type Stats struct {
	Appends       uint64 // entries appended
	Syncs         uint64 // Sync calls
	Fsyncs        uint64 // fdatasync rounds run by Sync (group commit makes this <= Syncs)
	RotationSyncs uint64 // fdatasyncs of a full segment when Append rotated
	Segments      int    // segment files now
}

// Open opens (creating if needed) the log in dir, locks the directory
// against other Logs, and recovers: a torn tail of the last segment is
// cut off (see Recovered); any other damage is an error wrapping
// replstore.ErrStorage that names the file and offset.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: create %s: %w", errStorage, dir, err)
	}
	lock, err := lockFile(filepath.Join(dir, "LOCK"), dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts.withDefaults(), lock: lock, cache: replstore.NewMemLog(), fsync: fdatasync}
	l.cond = sync.NewCond(&l.mu)
	if err := l.recover(); err != nil {
		l.closeFiles()
		unlockFile(lock)
		return nil, err
	}
	return l, nil
}

// recover loads META and the segments and rebuilds the memory state.
func (l *Log) recover() error {
	os.Remove(filepath.Join(l.dir, metaName+".tmp"))
	base, err := readMeta(l.dir)
	if err != nil {
		return err
	}
	l.base = base
	segs, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	l.segs = segs
	if l.damage, err = readDamage(l.dir); err != nil {
		return err
	}
	for i, s := range segs {
		cut := false
		if err := s.load(i == len(segs)-1, !l.opts.NoPreallocate, &l.recovered); err != nil {
			var de *damageError
			if !errors.As(err, &de) || !l.opts.TruncateDamaged {
				return err
			}
			if err := l.cutDamage(i, de); err != nil {
				return err
			}
			cut = true
		}
		if i > 0 && s.first != segs[i-1].last()+1 {
			return fmt.Errorf("%w: %s starts at LSN %d but %s ends at %d (LSNs must be consecutive)",
				errStorage, s.path, s.first, segs[i-1].path, segs[i-1].last())
		}
		if cut {
			segs = l.segs
			break
		}
	}
	switch {
	case len(segs) == 0 || segs[len(segs)-1].last() < base.LSN:
		// No log, or only entries below the base (a crash during Reset
		// or compaction): start afresh after the base.
		if err := l.removeSegments(0); err != nil {
			return err
		}
		if err := l.newSegment(base.LSN + 1); err != nil {
			return err
		}
	case segs[0].first > base.LSN+1:
		return fmt.Errorf("%w: %s starts at LSN %d, but the log's base (%s) is %v: entries %d..%d are missing",
			errStorage, segs[0].path, segs[0].first, metaName, base, base.LSN+1, segs[0].first-1)
	default:
		// Finish a compaction a crash interrupted.
		k := 0
		for k < len(l.segs)-1 && l.segs[k].last() <= base.LSN {
			k++
		}
		if k > 0 {
			for _, s := range l.segs[:k] {
				s.f.Close()
				if err := os.Remove(s.path); err != nil {
					return fmt.Errorf("%w: remove compacted %s: %w", errStorage, s.path, err)
				}
			}
			l.segs = l.segs[k:]
			if err := syncDir(l.dir); err != nil {
				return fmt.Errorf("%w: sync %s: %w", errStorage, l.dir, err)
			}
		}
	}
	l.lastPos = base
	if last := l.tail().last(); last > base.LSN {
		// The tail may be empty (a crash right after a rotation).
		l.lastPos = replstore.Position{Epoch: l.segs[l.segmentOf(last)].rec(last).epoch, LSN: last}
	}
	for _, s := range l.segs {
		for i := range s.recs.len() {
			if s.first+replstore.LSN(i) > base.LSN {
				l.bytes += int64(s.recs.at(i).dataLen)
			}
		}
	}
	if base.LSN > 0 && l.segs[0].first <= base.LSN {
		if e := l.segs[0].rec(base.LSN).epoch; e != base.Epoch {
			return fmt.Errorf("%w: %s says the base is %v, but %s holds LSN %d at epoch %d",
				errStorage, metaName, base, l.segs[0].path, base.LSN, e)
		}
	}
	l.flushedLSN = l.lastPos.LSN
	l.cacheBase = l.lastPos.LSN
	l.cache.Reset(replstore.Position{LSN: l.cacheBase})
	// What a crashed process wrote may still be only in the page cache:
	// make it durable before SyncedLSN claims it.
	if err := l.syncAllLocked(); err != nil {
		return l.err
	}
	return nil
}

func (l *Log) tail() *segment { return l.segs[len(l.segs)-1] }

// newSegment creates an empty segment file for LSNs from first on and
// makes it the tail. The directory entry is made durable by the next sync.
func (l *Log) newSegment(first replstore.LSN) error {
	path := filepath.Join(l.dir, segName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%w: create %s: %w", errStorage, path, err)
	}
	if !l.opts.NoPreallocate {
		if err := preallocate(f, l.opts.SegmentBytes); err != nil {
			f.Close()
			return fmt.Errorf("%w: preallocate %s: %w", errStorage, path, err)
		}
	}
	l.segs = append(l.segs, &segment{first: first, path: path, f: f})
	l.dirDirty = true
	return nil
}

// removeSegments closes and deletes segs[k:], newest first (so a crash
// leaves a prefix of the log), then syncs the directory.
func (l *Log) removeSegments(k int) error {
	if k >= len(l.segs) {
		return nil
	}
	for j := len(l.segs) - 1; j >= k; j-- {
		s := l.segs[j]
		if s.f != nil {
			s.f.Close()
		}
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("%w: remove %s: %w", errStorage, s.path, err)
		}
		l.segs = l.segs[:j]
	}
	if err := syncDir(l.dir); err != nil {
		return fmt.Errorf("%w: sync %s: %w", errStorage, l.dir, err)
	}
	return nil
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Recovered reports the torn tail Open cut off, if any.
func (l *Log) Recovered() Recovery { return l.recovered }

// Stats returns counters since Open.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	st.Segments = len(l.segs)
	return st
}

// usable returns why the log refuses writes: closed or a sticky storage
// failure. mu must be held.
func (l *Log) usable() error {
	if l.closed {
		return fmt.Errorf("%w: wal %s", replstore.ErrClosed, l.dir)
	}
	return l.err
}

// fail records a storage failure: every later write returns it.
func (l *Log) fail(err error) error {
	if !errors.Is(err, errStorage) {
		err = fmt.Errorf("%w: %w", errStorage, err)
	}
	if l.err == nil {
		l.err = fmt.Errorf("%w (the log refuses further writes)", err)
	}
	l.cond.Broadcast()
	return l.err
}

// waitIdle waits until no sync round is running. mu must be held.
func (l *Log) waitIdle() {
	if l.syncing && l.idleWait != nil {
		l.idleWait()
	}
	for l.syncing {
		l.cond.Wait()
	}
}

// Append implements replstore.LogStore. It encodes the entries into the
// write buffer and writes the buffer when it is full; it never fsyncs,
// except once per segment: starting a new segment first fdatasyncs the
// full one, so that a crash can only tear the last segment.
func (l *Log) Append(entries []replstore.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	next := l.lastPos.LSN + 1
	for i := range entries {
		if entries[i].Pos.LSN != next+replstore.LSN(i) {
			return fmt.Errorf("wal: append: entry %d has LSN %d, want %d", i, entries[i].Pos.LSN, next+replstore.LSN(i))
		}
		if len(entries[i].Data) > maxRecord-recordFixed {
			return fmt.Errorf("wal: append: entry %d (LSN %d) has %d data bytes, at most %d fit a record",
				i, entries[i].Pos.LSN, len(entries[i].Data), maxRecord-recordFixed)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	for i := range entries {
		e := &entries[i]
		t := l.tail()
		size := int64(recordSize(e))
		if t.recs.len() > 0 && t.size+int64(len(l.buf))+size > l.opts.SegmentBytes {
			if err := l.rotate(); err != nil {
				return err
			}
			t = l.tail()
		}
		t.recs.add(recIndex{off: t.size + int64(len(l.buf)), epoch: e.Pos.Epoch, dataLen: uint32(len(e.Data))})
		l.buf = appendRecord(l.buf, e)
		l.lastPos = e.Pos
		l.bytes += int64(len(e.Data))
		if len(l.buf) >= l.opts.BufferBytes {
			if err := l.flush(); err != nil {
				return err
			}
		}
	}
	l.writeSeq++
	l.stats.Appends += uint64(len(entries))
	if err := l.cache.Append(entries); err != nil {
		return l.fail(fmt.Errorf("wal: cache: %v", err))
	}
	l.trimCache()
	return nil
}

// flush writes the buffer to the tail segment. mu must be held.
func (l *Log) flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	t := l.tail()
	if _, err := t.f.WriteAt(l.buf, t.size); err != nil {
		return l.fail(fmt.Errorf("%w: write %s at %d: %w", errStorage, t.path, t.size, err))
	}
	t.size += int64(len(l.buf))
	l.flushedLSN = t.last()
	if cap(l.buf) > 4*l.opts.BufferBytes {
		l.buf = nil // one huge batch must not pin its buffer forever
	} else {
		l.buf = l.buf[:0]
	}
	return nil
}

// rotate writes and fdatasyncs the tail and starts a new segment.
func (l *Log) rotate() error {
	if err := l.flush(); err != nil {
		return err
	}
	t := l.tail()
	sync := l.fsync
	if fi, err := t.f.Stat(); err == nil && fi.Size() > t.size {
		// Cut off preallocated space: only the last segment may end
		// in zeroes. Shrinking needs a full fsync.
		if err := t.f.Truncate(t.size); err != nil {
			return l.fail(fmt.Errorf("%w: truncate %s at %d: %w", errStorage, t.path, t.size, err))
		}
		sync = (*os.File).Sync
	}
	if err := sync(t.f); err != nil {
		return l.fail(fmt.Errorf("%w: sync %s: %w", errStorage, t.path, err))
	}
	l.stats.RotationSyncs++
	if err := l.newSegment(t.last() + 1); err != nil {
		return l.fail(err)
	}
	return nil
}

// trimCache drops the oldest cached entries that are written to a file
// while the cache is over budget.
func (l *Log) trimCache() {
	n, b := l.cache.Size()
	if b <= l.opts.CacheBytes && n <= maxCacheEntries {
		return
	}
	through := min(l.cacheBase+replstore.LSN(n/2)+1, l.flushedLSN)
	if through <= l.cacheBase {
		return
	}
	if l.cache.CompactThrough(through) == nil {
		l.cacheBase = through
	}
}

// segmentOf returns the index of the segment holding lsn (lsn must be
// held or be the base inside a segment).
func (l *Log) segmentOf(lsn replstore.LSN) int {
	return sort.Search(len(l.segs), func(i int) bool { return l.segs[i].last() >= lsn })
}

// Entries implements replstore.LogStore. Recent entries come from memory
// (at most one cache chunk a call), older ones from one segment file (at
// most about 1 MiB a call); either way the result is never changed later.
func (l *Log) Entries(lo, hi replstore.LSN) ([]replstore.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, l.usable()
	}
	if lo <= l.base.LSN {
		return nil, fmt.Errorf("%w: LSN %d (first held is %d)", replstore.ErrCompacted, lo, l.base.LSN+1)
	}
	hi = min(hi, l.lastPos.LSN)
	if lo > hi {
		return nil, nil
	}
	if lo > l.cacheBase {
		return l.cache.Entries(lo, hi)
	}
	s := l.segs[l.segmentOf(lo)]
	return s.readEntries(lo, min(hi, l.cacheBase, s.last()), maxReadBytes)
}

// EpochAt implements replstore.LogStore.
func (l *Log) EpochAt(lsn replstore.LSN) (replstore.Epoch, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return 0, l.usable()
	case lsn == l.base.LSN:
		return l.base.Epoch, nil
	case lsn < l.base.LSN:
		return 0, fmt.Errorf("%w: LSN %d (first held is %d)", replstore.ErrCompacted, lsn, l.base.LSN+1)
	case lsn > l.lastPos.LSN:
		return 0, fmt.Errorf("%w: LSN %d (last is %d)", replstore.ErrNoEntry, lsn, l.lastPos.LSN)
	}
	return l.segs[l.segmentOf(lsn)].rec(lsn).epoch, nil
}

// First implements replstore.LogStore.
func (l *Log) First() replstore.LSN {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.base.LSN + 1
}

// Last implements replstore.LogStore.
func (l *Log) Last() replstore.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastPos
}

// Size implements replstore.LogStore.
func (l *Log) Size() (entries int, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.lastPos.LSN - l.base.LSN), l.bytes
}

// Close writes and syncs what is buffered, closes the files and releases
// the directory lock. Every later call fails with replstore.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.usable()
	}
	l.waitIdle()
	var err error
	if l.err == nil {
		if err = l.flush(); err == nil {
			err = l.syncAllLocked()
		}
	}
	l.closeFiles()
	if uerr := unlockFile(l.lock); err == nil && uerr != nil {
		err = fmt.Errorf("%w: unlock %s: %v", errStorage, l.dir, uerr)
	}
	l.closed = true
	l.cond.Broadcast()
	return err
}

func (l *Log) closeFiles() {
	for _, s := range l.segs {
		if s.f != nil {
			s.f.Close()
			s.f = nil
		}
	}
}

// String describes the log for debugging.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "wal %s base=%v last=%v synced=%d segs=[", l.dir, l.base, l.lastPos, l.syncedLSN)
	for i, s := range l.segs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d..%d", s.first, s.last())
	}
	b.WriteString("]")
	return b.String()
}
