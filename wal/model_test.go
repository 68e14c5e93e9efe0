package wal

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/replstore/replstore"
	"pgregory.net/rapid"
)

// TestModel runs random operation sequences against a Log and a MemLog
// and compares them after every step; reopening (cleanly, or after a
// crash that loses what was not written) must keep what was synced.
// Replay a failure with the -rapid.seed it prints.
func TestModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		opts := Options{
			SegmentBytes:  int64(rapid.IntRange(40, 2000).Draw(rt, "segmentBytes")),
			BufferBytes:   rapid.IntRange(1, 4096).Draw(rt, "bufferBytes"),
			CacheBytes:    int64(rapid.SampledFrom([]int{1, 100, 1 << 20}).Draw(rt, "cacheBytes")),
			NoPreallocate: rapid.Bool().Draw(rt, "noPreallocate"),
		}
		l := mustOpen(t, dir, opts)
		defer func() { l.Close() }()
		m := replstore.NewMemLog()
		epoch := replstore.Epoch(1)
		type held struct {
			got, want []replstore.Entry
		}
		var earlier []held // results of Entries that must never change

		check := func(step string) {
			if err := l.checkInvariants(); err != nil {
				rt.Fatalf("after %s: invariant: %v\n%v", step, err, l)
			}
			if l.Last() != m.Last() || l.First() != m.First() {
				rt.Fatalf("after %s: log %v first %d, model last %v first %d\n%v", step, l.Last(), l.First(), m.Last(), m.First(), l)
			}
			ln, lb := l.Size()
			mn, mb := m.Size()
			if ln != mn || lb != mb {
				rt.Fatalf("after %s: size %d/%d, model %d/%d", step, ln, lb, mn, mb)
			}
			if err := sameEntries(readAll(t, l), readAll(t, m)); err != nil {
				rt.Fatalf("after %s: entries differ: %v\n%v", step, err, l)
			}
			for _, lsn := range []replstore.LSN{m.First() - 1, m.First(), m.Last().LSN} {
				le, lerr := l.EpochAt(lsn)
				me, merr := m.EpochAt(lsn)
				if le != me || (lerr == nil) != (merr == nil) {
					rt.Fatalf("after %s: EpochAt(%d) = %d, %v; model %d, %v", step, lsn, le, lerr, me, merr)
				}
			}
			for i, h := range earlier {
				if err := sameEntries(h.got, h.want); err != nil {
					rt.Fatalf("after %s: earlier Entries result %d changed: %v", step, i, err)
				}
			}
		}

		for step := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			last := m.Last().LSN
			base := m.First() - 1
			var name string
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); op {
			case 0, 1, 2:
				n := rapid.IntRange(0, 20).Draw(rt, "n")
				if rapid.IntRange(0, 4).Draw(rt, "newEpoch") == 0 {
					epoch++
				}
				es := entries(last+1, n, epoch, rapid.IntRange(0, 100).Draw(rt, "size"))
				name = fmt.Sprintf("Append(%d..%d)", last+1, last+replstore.LSN(n))
				if err := l.Append(es); err != nil {
					rt.Fatalf("%s: %v", name, err)
				}
				m.Append(es)
			case 3:
				lsn := replstore.LSN(rapid.Uint64Range(uint64(base), uint64(last)).Draw(rt, "lsn"))
				name = fmt.Sprintf("TruncateAfter(%d)", lsn)
				if err := l.TruncateAfter(lsn); err != nil {
					rt.Fatalf("%s: %v", name, err)
				}
				m.TruncateAfter(lsn)
			case 4:
				lsn := replstore.LSN(rapid.Uint64Range(uint64(base), uint64(last)).Draw(rt, "lsn"))
				name = fmt.Sprintf("CompactThrough(%d)", lsn)
				if err := l.CompactThrough(lsn); err != nil {
					rt.Fatalf("%s: %v", name, err)
				}
				m.CompactThrough(lsn)
			case 5:
				epoch++
				pos := replstore.Position{Epoch: epoch, LSN: replstore.LSN(rapid.Uint64Range(0, uint64(last)+30).Draw(rt, "resetLSN"))}
				name = fmt.Sprintf("Reset(%v)", pos)
				if err := l.Reset(pos); err != nil {
					rt.Fatalf("%s: %v", name, err)
				}
				m.Reset(pos)
			case 6:
				name = "Sync"
				if err := l.Sync(); err != nil {
					rt.Fatalf("Sync: %v", err)
				}
				if l.SyncedLSN() != last {
					rt.Fatalf("after Sync: SyncedLSN %d, last %d", l.SyncedLSN(), last)
				}
			case 7:
				name = "Close+Open"
				if err := l.Close(); err != nil {
					rt.Fatalf("Close: %v", err)
				}
				l = mustOpen(t, dir, opts)
				earlier = nil
			case 8:
				name = "crash+Open"
				synced := l.SyncedLSN()
				path, cutFrom := l.unsyncedTail(synced)
				l.crash()
				// The crash may tear what was written but not synced, or
				// leave zeroes after it.
				if fi, err := os.Stat(path); err == nil {
					switch rapid.IntRange(0, 2).Draw(rt, "tear") {
					case 1:
						if fi.Size() > cutFrom {
							cut := rapid.Int64Range(cutFrom, fi.Size()).Draw(rt, "cut")
							os.Truncate(path, cut)
							name += fmt.Sprintf(" (tail cut at %d of %d)", cut, fi.Size())
						}
					case 2:
						zeros := rapid.IntRange(1, 300).Draw(rt, "zeros")
						f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
						f.Write(make([]byte, zeros))
						f.Close()
						name += fmt.Sprintf(" (%d zero bytes added)", zeros)
					}
				}
				l = mustOpen(t, dir, opts)
				got := l.Last().LSN
				if got < synced || got > last || l.First() != m.First() {
					rt.Fatalf("after crash: last %d first %d; synced was %d, last %d, first %d\n%v", got, l.First(), synced, last, m.First(), l)
				}
				m.TruncateAfter(got)
				earlier = nil
			case 9:
				if last < base+1 {
					continue
				}
				lo := replstore.LSN(rapid.Uint64Range(uint64(base)+1, uint64(last)).Draw(rt, "lo"))
				name = fmt.Sprintf("Entries(%d, %d)", lo, last)
				got, err := l.Entries(lo, last)
				if err != nil {
					rt.Fatalf("%s: %v", name, err)
				}
				want, _ := m.Entries(lo, lo+replstore.LSN(len(got))-1)
				if len(got) == 0 {
					rt.Fatalf("%s: nothing", name)
				}
				earlier = append(earlier, held{got: got, want: append([]replstore.Entry(nil), want...)})
			}
			if _, err := l.Entries(m.First()-1, m.First()-1); m.First() > 1 && !errors.Is(err, replstore.ErrCompacted) {
				rt.Fatalf("step %d %s: Entries below First: %v, want ErrCompacted", step, name, err)
			}
			check(fmt.Sprintf("step %d %s", step, name))
		}
	})
}

// unsyncedTail returns the last segment's path and the offset from which
// its records are not known durable (segments before it were synced when
// the log rotated).
func (l *Log) unsyncedTail(synced replstore.LSN) (string, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tail()
	switch {
	case synced < t.first:
		return t.path, 0
	case synced >= t.last():
		return t.path, t.size
	}
	return t.path, t.rec(synced + 1).off
}
