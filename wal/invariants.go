package wal

import (
	"fmt"

	"github.com/replstore/replstore"
)

// checkInvariants returns the first broken invariant of the memory state;
// tests call it after every step.
func (l *Log) checkInvariants() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	if len(l.segs) == 0 {
		return fmt.Errorf("no segments")
	}
	if l.segs[0].first > l.base.LSN+1 {
		return fmt.Errorf("first segment starts at %d, after base %v", l.segs[0].first, l.base)
	}
	var bytes int64
	for i, s := range l.segs {
		if i > 0 && s.first != l.segs[i-1].last()+1 {
			return fmt.Errorf("segment %d starts at %d, previous ends at %d", i, s.first, l.segs[i-1].last())
		}
		for j := range s.recs.len() {
			r := s.recs.at(j)
			if j > 0 && r.off <= s.recs.at(j-1).off {
				return fmt.Errorf("segment %d: record offsets not increasing at %d", i, j)
			}
			if s.first+replstore.LSN(j) > l.base.LSN {
				bytes += int64(r.dataLen)
			}
		}
		if i < len(l.segs)-1 && (s.recs.len() == 0 || s.recs.at(s.recs.len()-1).off >= s.size) {
			return fmt.Errorf("segment %d is not the tail but not fully written", i)
		}
	}
	t := l.tail()
	if t.last() != l.lastPos.LSN {
		return fmt.Errorf("tail ends at %d, last is %v", t.last(), l.lastPos)
	}
	if last := l.lastPos.LSN; last > l.base.LSN {
		if e := l.segs[l.segmentOf(last)].rec(last).epoch; e != l.lastPos.Epoch {
			return fmt.Errorf("last %v has epoch %d in the index", l.lastPos, e)
		}
	}
	if l.lastPos.LSN == l.base.LSN && l.lastPos != l.base {
		return fmt.Errorf("empty log: last %v != base %v", l.lastPos, l.base)
	}
	if bytes != l.bytes {
		return fmt.Errorf("bytes %d, index says %d", l.bytes, bytes)
	}
	if l.cacheBase > max(l.flushedLSN, l.base.LSN) {
		return fmt.Errorf("cache base %d above flushed %d", l.cacheBase, l.flushedLSN)
	}
	if n, _ := l.cache.Size(); l.cache.First() != l.cacheBase+1 || l.cacheBase+replstore.LSN(n) != l.lastPos.LSN {
		return fmt.Errorf("cache holds %d..%d, want %d..%d", l.cache.First(), l.cache.First()+replstore.LSN(n)-1, l.cacheBase+1, l.lastPos.LSN)
	}
	if l.syncedSeq > l.writeSeq {
		return fmt.Errorf("synced seq %d > write seq %d", l.syncedSeq, l.writeSeq)
	}
	if l.syncedLSN > l.lastPos.LSN && l.syncedLSN != l.base.LSN {
		return fmt.Errorf("synced LSN %d past last %v", l.syncedLSN, l.lastPos)
	}
	return nil
}
