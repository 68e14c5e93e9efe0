package wal

import (
	"fmt"
	"os"

	"github.com/replstore/replstore"
)

// TruncateAfter implements replstore.LogStore: it deletes the segments
// after the one holding lsn+1 (newest first), cuts that one at the record
// boundary and syncs, so that a crash never brings the suffix back. Slices
// returned by Entries earlier are not changed. On return the whole
// remaining log is durable.
func (l *Log) TruncateAfter(lsn replstore.LSN) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if lsn < l.base.LSN {
		return fmt.Errorf("%w: cannot truncate after %d, entries through %d are compacted", replstore.ErrCompacted, lsn, l.base.LSN)
	}
	if lsn >= l.lastPos.LSN {
		return nil
	}
	l.waitIdle()
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.flush(); err != nil {
		return err
	}
	k := l.segmentOf(lsn + 1)
	for _, s := range l.segs[k:] {
		for i := max(lsn+1, s.first); i <= s.last(); i++ {
			l.bytes -= int64(s.rec(i).dataLen)
		}
	}
	if err := l.removeSegments(k + 1); err != nil {
		return l.fail(err)
	}
	s := l.tail()
	off := s.rec(lsn + 1).off
	if err := s.f.Truncate(off); err != nil {
		return l.fail(fmt.Errorf("%w: truncate %s at %d: %w", errStorage, s.path, off, err))
	}
	// A full fsync: shrinking is a metadata change fdatasync need not
	// write, and the cut suffix must never come back.
	if err := s.f.Sync(); err != nil {
		return l.fail(fmt.Errorf("%w: sync %s: %w", errStorage, s.path, err))
	}
	s.size = off
	s.recs.truncate(int(lsn + 1 - s.first))
	l.flushedLSN = lsn
	l.lastPos = l.base
	if lsn > l.base.LSN {
		l.lastPos = replstore.Position{Epoch: l.segs[l.segmentOf(lsn)].rec(lsn).epoch, LSN: lsn}
	}
	if lsn >= l.cacheBase {
		if err := l.cache.TruncateAfter(lsn); err != nil {
			return l.fail(fmt.Errorf("wal: cache: %v", err))
		}
	} else {
		l.cacheBase = lsn
		l.cache.Reset(replstore.Position{LSN: lsn})
	}
	l.writeSeq++
	l.syncedLSN = min(l.syncedLSN, lsn)
	return l.syncAllLocked()
}

// CompactThrough implements replstore.LogStore: it stores the new base in
// META (atomically and durably), then deletes the segments that hold only
// entries at or below it. The last segment is never deleted.
func (l *Log) CompactThrough(lsn replstore.LSN) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if lsn <= l.base.LSN {
		return nil
	}
	if lsn > l.lastPos.LSN {
		return fmt.Errorf("%w: cannot compact through %d, last is %d", replstore.ErrNoEntry, lsn, l.lastPos.LSN)
	}
	l.waitIdle()
	if err := l.usable(); err != nil {
		return err
	}
	newBase := replstore.Position{Epoch: l.segs[l.segmentOf(lsn)].rec(lsn).epoch, LSN: lsn}
	if err := writeFileAtomic(l.dir, metaName, encodeMeta(newBase)); err != nil {
		return l.fail(err)
	}
	for i := l.base.LSN + 1; i <= lsn; i++ {
		l.bytes -= int64(l.segs[l.segmentOf(i)].rec(i).dataLen)
	}
	l.base = newBase
	k := 0
	for k < len(l.segs)-1 && l.segs[k].last() <= lsn {
		k++
	}
	if k > 0 {
		for _, s := range l.segs[:k] {
			s.f.Close()
			s.f = nil
			if err := os.Remove(s.path); err != nil {
				l.segs = l.segs[k:]
				return l.fail(fmt.Errorf("%w: remove %s: %w", errStorage, s.path, err))
			}
		}
		l.segs = l.segs[k:]
		if err := syncDir(l.dir); err != nil {
			return l.fail(fmt.Errorf("%w: sync %s: %w", errStorage, l.dir, err))
		}
	}
	if lsn > l.cacheBase {
		if err := l.cache.CompactThrough(lsn); err != nil {
			return l.fail(fmt.Errorf("wal: cache: %v", err))
		}
		l.cacheBase = lsn
	}
	l.writeSeq++
	return nil
}

// Reset implements replstore.LogStore: it deletes every segment (newest
// first, so a crash leaves a prefix of the old log), stores base in META
// and starts an empty segment at base.LSN+1. On return that is durable.
func (l *Log) Reset(base replstore.Position) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	l.waitIdle()
	if err := l.usable(); err != nil {
		return err
	}
	l.buf = l.buf[:0]
	if err := l.removeSegments(0); err != nil {
		return l.fail(err)
	}
	if err := writeFileAtomic(l.dir, metaName, encodeMeta(base)); err != nil {
		return l.fail(err)
	}
	if err := l.newSegment(base.LSN + 1); err != nil {
		return l.fail(err)
	}
	l.base, l.lastPos, l.bytes = base, base, 0
	l.flushedLSN, l.cacheBase = base.LSN, base.LSN
	l.cache.Reset(replstore.Position{LSN: base.LSN})
	l.writeSeq++
	l.syncedLSN = base.LSN
	return l.syncAllLocked()
}
