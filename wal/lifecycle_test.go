package wal

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/replstore/replstore"
)

func TestLockRefusesSecondOpen(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open: %v, want ErrLocked naming %s", err, dir)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, Options{})
	l.Close()
}

func TestUseAfterClose(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	if err := l.Append(entries(1, 3, 1, 8)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]error{
		"Append":         l.Append(entries(4, 1, 1, 8)),
		"Sync":           l.Sync(),
		"TruncateAfter":  l.TruncateAfter(1),
		"CompactThrough": l.CompactThrough(1),
		"Reset":          l.Reset(replstore.Position{Epoch: 2, LSN: 9}),
		"Close":          l.Close(),
	}
	_, err := l.Entries(1, 3)
	calls["Entries"] = err
	_, err = l.EpochAt(2)
	calls["EpochAt"] = err
	for name, err := range calls {
		if !errors.Is(err, replstore.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	// The reads that return no error still answer from memory.
	if l.Last().LSN != 3 || l.First() != 1 {
		t.Errorf("Last/First after Close: %v %d", l.Last(), l.First())
	}
}

// TestStorageFailureIsSticky: a failed fdatasync is returned wrapped with
// ErrStorage and the log refuses every later write.
func TestStorageFailureIsSticky(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	defer l.Close()
	boom := errors.New("EIO")
	l.mu.Lock()
	l.fsync = func(*os.File) error { return boom }
	l.mu.Unlock()
	if err := l.Append(entries(1, 2, 1, 8)); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); !errors.Is(err, replstore.ErrStorage) || !strings.Contains(err.Error(), "EIO") {
		t.Fatalf("Sync with failing fdatasync: %v", err)
	}
	if l.SyncedLSN() != 0 {
		t.Fatalf("SyncedLSN = %d after a failed sync", l.SyncedLSN())
	}
	l.mu.Lock()
	l.fsync = fdatasync
	l.mu.Unlock()
	for name, err := range map[string]error{
		"Append":        l.Append(entries(3, 1, 1, 8)),
		"Sync":          l.Sync(),
		"TruncateAfter": l.TruncateAfter(1),
	} {
		if !errors.Is(err, replstore.ErrStorage) {
			t.Errorf("%s after a storage failure: %v, want the sticky ErrStorage", name, err)
		}
	}
}

// TestWriteFailureIsSticky: a failed write(2) (here: the segment's file
// descriptor is gone) is an ErrStorage, and sticks.
func TestWriteFailureIsSticky(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{BufferBytes: 100})
	defer l.Close()
	l.mu.Lock()
	l.tail().f.Close()
	l.mu.Unlock()
	if err := l.Append(entries(1, 5, 1, 64)); !errors.Is(err, replstore.ErrStorage) {
		t.Fatalf("Append that must write: %v", err)
	}
	if err := l.Sync(); !errors.Is(err, replstore.ErrStorage) {
		t.Fatalf("Sync after a failed write: %v", err)
	}
}

// TestReadOnlyDirectory: creating a log where nothing can be written
// fails with ErrStorage (skipped as root, who can write anyway).
func TestReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o555)
	defer os.Chmod(dir, 0o755)
	if _, err := Open(dir, Options{}); !errors.Is(err, replstore.ErrStorage) {
		t.Fatalf("Open in a read-only directory: %v", err)
	}
}

// TestGroupCommit holds the first sync round's fdatasync until every
// other goroutine has appended and called Sync: they must all share one
// more round.
func TestGroupCommit(t *testing.T) {
	const n = 8
	l := mustOpen(t, t.TempDir(), Options{})
	defer l.Close()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var once sync.Once
	l.mu.Lock()
	l.beforeFsync = func() {
		once.Do(func() {
			entered <- struct{}{}
			<-release
		})
	}
	l.mu.Unlock()

	var appendMu sync.Mutex // Append has one owner at a time
	appendOne := func() replstore.LSN {
		appendMu.Lock()
		defer appendMu.Unlock()
		lsn := l.Last().LSN + 1
		if err := l.Append(entries(lsn, 1, 1, 64)); err != nil {
			t.Error(err)
		}
		return lsn
	}
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	syncer := func() {
		defer wg.Done()
		lsn := appendOne()
		errs <- l.Sync()
		if got := l.SyncedLSN(); got < lsn {
			t.Errorf("Sync returned but SyncedLSN %d < appended %d", got, lsn)
		}
	}
	wg.Add(1)
	go syncer()
	<-entered // the first round is in its fdatasync, without the lock
	wg.Add(n)
	for range n {
		go syncer()
	}
	// Appends do not wait for the running fdatasync; wait until all n
	// Syncs are queued behind it.
	for {
		if st := l.Stats(); st.Syncs == n+1 {
			break
		}
		appendMu.Lock() // yields until a goroutine makes progress
		appendMu.Unlock()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := l.Stats()
	t.Logf("stats: %+v", st)
	if st.Syncs != n+1 || st.Fsyncs != 2 {
		t.Fatalf("%d Syncs took %d fdatasyncs, want 2 (one held, one shared by the other %d)", st.Syncs, st.Fsyncs, n)
	}
}

// TestConcurrentSyncStress appends from several goroutines (one at a time)
// with Syncs racing them, then checks durability of everything synced by
// reopening.
func TestConcurrentSyncStress(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentBytes: 8 << 10})
	var appendMu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				appendMu.Lock()
				lsn := l.Last().LSN + 1
				err := l.Append(entries(lsn, 1+g, 1, 64))
				appendMu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if err := l.Sync(); err != nil {
					t.Error(err)
					return
				}
				if l.SyncedLSN() < lsn {
					t.Errorf("SyncedLSN %d < %d after Sync", l.SyncedLSN(), lsn)
				}
			}
		}()
	}
	wg.Wait()
	st := l.Stats()
	t.Logf("stats: %+v", st)
	last := l.Last()
	l.crash()
	l = mustOpen(t, dir, Options{SegmentBytes: 8 << 10})
	defer l.Close()
	if l.Last() != last {
		t.Fatalf("after crash: last %v, want %v", l.Last(), last)
	}
	if err := sameEntries(readAll(t, l), entries(1, int(last.LSN), 1, 64)); err != nil {
		t.Fatal(err)
	}
}

// TestCutsWaitForSync: a leader syncs its log on another goroutine while
// the node's goroutine goes on (replstore.ConcurrentSyncLog). A
// TruncateAfter, CompactThrough or Reset the owner calls while that Sync
// is in its fdatasync must wait for it, and then leave the log it says,
// also after a crash.
func TestCutsWaitForSync(t *testing.T) {
	cases := []struct {
		name  string
		cut   func(*Log) error
		first replstore.LSN
		last  replstore.Position
	}{
		{"TruncateAfter", func(l *Log) error { return l.TruncateAfter(15) }, 1, replstore.Position{Epoch: 1, LSN: 15}},
		{"CompactThrough", func(l *Log) error { return l.CompactThrough(12) }, 13, replstore.Position{Epoch: 1, LSN: 20}},
		{"Reset", func(l *Log) error { return l.Reset(replstore.Position{Epoch: 2, LSN: 30}) }, 31, replstore.Position{Epoch: 2, LSN: 30}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir, Options{NoPreallocate: true})
			if err := l.Append(entries(1, 10, 1, 64)); err != nil {
				t.Fatal(err)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := l.Append(entries(11, 10, 1, 64)); err != nil {
				t.Fatal(err)
			}
			entered, release, waiting := make(chan struct{}), make(chan struct{}), make(chan struct{})
			l.mu.Lock()
			l.beforeFsync = func() { close(entered); <-release }
			l.idleWait = func() { close(waiting) }
			l.mu.Unlock()

			synced := make(chan error, 1)
			go func() { synced <- l.Sync() }()
			<-entered // the round is in its fdatasync, without the lock
			cut := make(chan error, 1)
			go func() { cut <- tc.cut(l) }()
			<-waiting // the cut found the round running and waits for it
			select {
			case err := <-cut:
				t.Fatalf("%s returned (%v) while the sync round was still in its fdatasync", tc.name, err)
			default:
			}
			close(release)
			if err := <-synced; err != nil {
				t.Fatal(err)
			}
			if err := <-cut; err != nil {
				t.Fatal(err)
			}
			check := func(when string, l *Log) {
				t.Helper()
				if l.First() != tc.first || l.Last() != tc.last {
					t.Fatalf("%s: first %d last %v, want %d and %v", when, l.First(), l.Last(), tc.first, tc.last)
				}
				want := entries(tc.first, int(tc.last.LSN+1-tc.first), 1, 64)
				if err := sameEntries(readAll(t, l), want); err != nil {
					t.Fatalf("%s: %v", when, err)
				}
			}
			check("after "+tc.name, l)
			l.crash()
			l = mustOpen(t, dir, Options{NoPreallocate: true})
			defer l.Close()
			check("after a crash and reopen", l)
		})
	}
}
