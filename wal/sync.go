package wal

import (
	"fmt"

	"github.com/replstore/replstore"
)

// Sync implements replstore.LogStore: it returns once everything appended
// before the call is durable (written, fdatasynced, and the directory
// synced if a segment was created). It is safe from any goroutine,
// concurrently with Append and other Syncs.
//
// Group commit: at most one sync round runs at a time, without holding
// the lock Append needs. A Sync that arrives while a round runs waits for
// it; if that round did not cover its appends, one of the waiters runs
// the next round, which covers everything appended meanwhile, so many
// concurrent Syncs share one fdatasync.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Syncs++
	if err := l.usable(); err != nil {
		return err
	}
	want := l.writeSeq
	for l.syncedSeq < want {
		if err := l.usable(); err != nil {
			return err
		}
		if l.syncing {
			l.cond.Wait()
			continue
		}
		l.syncRound()
	}
	return nil
}

// ConcurrentSync marks Log as a replstore.ConcurrentSyncLog: Sync is safe
// concurrently with Append and the reads, and TruncateAfter,
// CompactThrough, Reset and Close wait for a sync round in progress, so
// a leader may flush its log off its node's goroutine.
func (l *Log) ConcurrentSync() {}

// syncRound writes the buffer under mu, then fdatasyncs without it. mu
// must be held and no round running; it is held again on return.
func (l *Log) syncRound() {
	seq, lsn := l.writeSeq, l.lastPos.LSN
	if err := l.flush(); err != nil {
		return
	}
	t, dirty := l.tail(), l.dirDirty
	l.dirDirty = false
	l.syncing = true
	l.mu.Unlock()

	if l.beforeFsync != nil {
		l.beforeFsync()
	}
	err := l.fsync(t.f)
	if err != nil {
		err = fmt.Errorf("%w: sync %s: %w", errStorage, t.path, err)
	} else if dirty {
		if err = syncDir(l.dir); err != nil {
			err = fmt.Errorf("%w: sync %s: %w", errStorage, l.dir, err)
		}
	}

	l.mu.Lock()
	l.syncing = false
	l.stats.Fsyncs++
	if err != nil {
		l.dirDirty = l.dirDirty || dirty
		l.fail(err)
	} else {
		// No TruncateAfter, CompactThrough or Reset ran meanwhile (they
		// wait for the round), so seq and lsn still describe the log.
		l.syncedSeq = max(l.syncedSeq, seq)
		l.syncedLSN = max(l.syncedLSN, lsn)
	}
	l.cond.Broadcast()
}

// syncAllLocked makes everything written durable while holding mu (for
// the rare operations that change files: no round may be running).
func (l *Log) syncAllLocked() error {
	if err := l.flush(); err != nil {
		return err
	}
	t := l.tail()
	if err := l.fsync(t.f); err != nil {
		return l.fail(fmt.Errorf("%w: sync %s: %w", errStorage, t.path, err))
	}
	if l.dirDirty {
		if err := syncDir(l.dir); err != nil {
			return l.fail(fmt.Errorf("%w: sync %s: %w", errStorage, l.dir, err))
		}
		l.dirDirty = false
	}
	l.syncedSeq = l.writeSeq
	l.syncedLSN = l.lastPos.LSN
	l.cond.Broadcast()
	return nil
}

// SyncedLSN returns the highest LSN known durable: every entry up to it
// survives a crash. Safe from any goroutine.
func (l *Log) SyncedLSN() replstore.LSN {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncedLSN
}
