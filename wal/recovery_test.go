package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/replstore/replstore"
)

// writeLog makes a closed log in a new directory holding n entries.
func writeLog(t *testing.T, opts Options, n int, size int) string {
	t.Helper()
	dir := t.TempDir()
	l := mustOpen(t, dir, opts)
	if err := l.Append(entries(1, n, 1, size)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil || len(m) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	return m // Glob sorts, and names are zero-padded
}

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	des, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, de.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// TestTornTailEveryOffset cuts the last record at every byte offset: Open
// drops it, reports the cut, and the log continues after the one before.
func TestTornTailEveryOffset(t *testing.T) {
	const n = 5
	exact := Options{NoPreallocate: true} // files end at their last record
	dir := writeLog(t, exact, n, 40)
	seg := segFiles(t, dir)[0]
	full, _ := os.ReadFile(seg)
	recLen := frameHeader + recordFixed + 40
	lastOff := len(full) - recLen
	for cut := lastOff + 1; cut < len(full); cut++ {
		d := copyDir(t, dir)
		path := filepath.Join(d, filepath.Base(seg))
		if err := os.Truncate(path, int64(cut)); err != nil {
			t.Fatal(err)
		}
		l := mustOpen(t, d, exact)
		rec := l.Recovered()
		want := Recovery{File: path, Offset: int64(lastOff), DroppedBytes: int64(cut - lastOff)}
		if rec.File != want.File || rec.Offset != want.Offset || rec.DroppedBytes != want.DroppedBytes || rec.Reason == "" {
			t.Fatalf("cut at %d: Recovered() = %+v, want %+v", cut, rec, want)
		}
		if got := l.Last(); got != (replstore.Position{Epoch: 1, LSN: n - 1}) {
			t.Fatalf("cut at %d: Last = %v", cut, got)
		}
		if err := sameEntries(readAll(t, l), entries(1, n-1, 1, 40)); err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		// The log goes on where the torn record was.
		if err := l.Append(entries(n, 1, 2, 3)); err != nil {
			t.Fatalf("cut at %d: append after repair: %v", cut, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, d, exact)
		if l.Last() != (replstore.Position{Epoch: 2, LSN: n}) || l.Recovered() != (Recovery{}) {
			t.Fatalf("cut at %d: reopened at %v, recovered %+v", cut, l.Last(), l.Recovered())
		}
		l.Close()
	}
}

// TestGarbageTail: zeroes or random bytes after the last full record are
// a torn tail too.
func TestGarbageTail(t *testing.T) {
	r := testRand(t)
	exact := Options{NoPreallocate: true}
	dir := writeLog(t, exact, 3, 10)
	seg := segFiles(t, dir)[0]
	full, _ := os.ReadFile(seg)
	for _, tail := range [][]byte{make([]byte, 1), make([]byte, 4096), {0xff, 0xff, 0xff, 0xff, 1, 2, 3}, randBytes(r, 777)} {
		d := copyDir(t, dir)
		path := filepath.Join(d, filepath.Base(seg))
		os.WriteFile(path, append(append([]byte(nil), full...), tail...), 0o644)
		l := mustOpen(t, d, exact)
		if rec := l.Recovered(); rec.Offset != int64(len(full)) || rec.DroppedBytes != int64(len(tail)) {
			t.Fatalf("tail of %d bytes: Recovered() = %+v", len(tail), rec)
		}
		if l.Last().LSN != 3 {
			t.Fatalf("Last = %v", l.Last())
		}
		l.Close()
	}
}

func randBytes(r interface{ Uint32() uint32 }, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestFlippedByteIsAnError flips every byte of a record in the middle of
// the last segment, and of the last record of a segment that is not the
// last: each is an error naming the file and the record's offset.
func TestFlippedByteIsAnError(t *testing.T) {
	const size = 20
	recLen := frameHeader + recordFixed + size
	dir := writeLog(t, Options{SegmentBytes: int64(4 * recLen)}, 11, size)
	segs := segFiles(t, dir)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	cases := []struct {
		seg string
		off int
	}{
		{segs[2], recLen},     // middle of the last segment
		{segs[2], 0},          // first of the last segment
		{segs[0], 3 * recLen}, // last record of the first segment
		{segs[1], recLen},
	}
	for _, c := range cases {
		for i := range recLen {
			d := copyDir(t, dir)
			path := filepath.Join(d, filepath.Base(c.seg))
			b, _ := os.ReadFile(path)
			b[c.off+i] ^= 0x40
			os.WriteFile(path, b, 0o644)
			l, err := Open(d, Options{SegmentBytes: int64(4 * recLen)})
			if err == nil {
				l.Close()
				t.Fatalf("%s: byte %d of record at %d flipped: Open succeeded", filepath.Base(c.seg), i, c.off)
			}
			if !errors.Is(err, replstore.ErrStorage) || !strings.Contains(err.Error(), path) ||
				!strings.Contains(err.Error(), fmt.Sprintf("offset %d:", c.off)) {
				t.Fatalf("byte %d of record at %d flipped: error %q should wrap ErrStorage and name %s and offset %d", i, c.off, err, path, c.off)
			}
		}
	}
}

// TestGapIsAnError: LSNs must be consecutive across segments.
func TestGapIsAnError(t *testing.T) {
	dir := writeLog(t, Options{SegmentBytes: 100}, 6, 20)
	segs := segFiles(t, dir)
	os.Remove(segs[1])
	_, err := Open(dir, Options{SegmentBytes: 100})
	if !errors.Is(err, replstore.ErrStorage) || !strings.Contains(err.Error(), "consecutive") {
		t.Fatalf("Open with a missing middle segment: %v", err)
	}
}

// TestRotationAndReopen writes across many segments, reads back from
// disk, compacts whole segments away and reopens.
func TestRotationAndReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096, BufferBytes: 512, CacheBytes: 1}
	l := mustOpen(t, dir, opts)
	want := entries(1, 2000, 1, 50)
	for i := 0; i < len(want); i += 7 {
		if err := l.Append(want[i:min(i+7, len(want))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Segments < 20 {
		t.Fatalf("%d segments, want many", st.Segments)
	}
	if err := sameEntries(readAll(t, l), want); err != nil {
		t.Fatal(err)
	}
	if err := l.CompactThrough(1234); err != nil {
		t.Fatal(err)
	}
	if after := l.Stats().Segments; after >= st.Segments {
		t.Fatalf("compaction kept %d of %d segments", after, st.Segments)
	}
	if err := l.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = mustOpen(t, dir, opts)
	defer l.Close()
	if l.First() != 1235 || l.Last() != want[len(want)-1].Pos {
		t.Fatalf("reopened: first %d last %v", l.First(), l.Last())
	}
	if e, err := l.EpochAt(1234); e != 1 || err != nil {
		t.Fatalf("EpochAt(base) after reopen = %d, %v", e, err)
	}
	if _, err := l.EpochAt(1233); !errors.Is(err, replstore.ErrCompacted) {
		t.Fatalf("EpochAt below base: %v", err)
	}
	if err := sameEntries(readAll(t, l), want[1234:]); err != nil {
		t.Fatal(err)
	}
	n, b := l.Size()
	if n != 2000-1234 || b != int64(50*n) {
		t.Fatalf("Size = %d, %d", n, b)
	}
}

// TestPreallocatedTail: preallocated, the last segment is reserved up
// to SegmentBytes; its zeroes are kept and not reported, a rotated segment
// is cut to its records, and a tear inside the records is still repaired.
func TestPreallocatedTail(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1 << 16}
	l := mustOpen(t, dir, opts)
	want := entries(1, 3000, 1, 40)
	if err := l.Append(want); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, dir)
	for i, p := range segs {
		fi, _ := os.Stat(p)
		if last := i == len(segs)-1; last != (fi.Size() == opts.SegmentBytes) {
			t.Fatalf("%s (last: %v) is %d bytes", p, last, fi.Size())
		}
	}
	l = mustOpen(t, dir, opts)
	if l.Recovered() != (Recovery{}) || l.Last().LSN != 3000 {
		t.Fatalf("reopen: recovered %+v, last %v", l.Recovered(), l.Last())
	}
	if err := sameEntries(readAll(t, l), want); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(entries(3001, 5, 2, 40)); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	tail := l.tail()
	path, off := tail.path, tail.rec(3003).off
	l.mu.Unlock()
	l.Close()
	// Tear record 3003 in the middle of the preallocated file: zeroes after.
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	f.WriteAt(make([]byte, 200), off+10)
	f.Close()
	l = mustOpen(t, dir, opts)
	defer l.Close()
	if rec := l.Recovered(); rec.Offset != off || rec.File != path || l.Last().LSN != 3002 {
		t.Fatalf("tear at %d: recovered %+v, last %v", off, rec, l.Last())
	}
}

// TestCrashMidCompaction: META already names the new base but the
// segments below it are still there (a crash between the two steps):
// Open finishes the compaction.
func TestCrashMidCompaction(t *testing.T) {
	opts := Options{SegmentBytes: 500}
	dir := writeLog(t, opts, 100, 20)
	before := len(segFiles(t, dir))
	if err := writeFileAtomic(dir, metaName, encodeMeta(replstore.Position{Epoch: 1, LSN: 60})); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, dir, opts)
	defer l.Close()
	if l.First() != 61 || l.Last().LSN != 100 {
		t.Fatalf("first %d last %v", l.First(), l.Last())
	}
	if after := len(segFiles(t, dir)); after >= before {
		t.Fatalf("%d segments before, %d after: compaction not finished", before, after)
	}
	if err := sameEntries(readAll(t, l), entries(61, 40, 1, 20)); err != nil {
		t.Fatal(err)
	}
}

// TestBadMeta: a damaged META is an error naming it; a META whose base
// epoch disagrees with the log is too.
func TestBadMeta(t *testing.T) {
	dir := writeLog(t, Options{}, 10, 20)
	path := filepath.Join(dir, metaName)
	good := encodeMeta(replstore.Position{Epoch: 1, LSN: 4})
	os.WriteFile(path, flip(good, 8), 0o644)
	if _, err := Open(dir, Options{}); !errors.Is(err, replstore.ErrStorage) || !strings.Contains(err.Error(), path) {
		t.Fatalf("corrupt META: %v", err)
	}
	os.WriteFile(path, encodeMeta(replstore.Position{Epoch: 9, LSN: 4}), 0o644)
	if _, err := Open(dir, Options{}); !errors.Is(err, replstore.ErrStorage) || !strings.Contains(err.Error(), "epoch") {
		t.Fatalf("META with a wrong epoch: %v", err)
	}
	os.WriteFile(path, good, 0o644)
	l := mustOpen(t, dir, Options{})
	defer l.Close()
	if e, err := l.EpochAt(4); l.First() != 5 || e != 1 || err != nil {
		t.Fatalf("first %d, EpochAt(4) = %d, %v", l.First(), e, err)
	}
}

// TestFlippedByteTruncatedWhenAsked: with TruncateDamaged, a flipped byte
// in a synced record that a torn write cannot explain cuts the log off
// before that record (later segments go too), and Damage reports the
// first LSN lost across reopenings until ClearDamage.
func TestFlippedByteTruncatedWhenAsked(t *testing.T) {
	const size = 20
	recLen := frameHeader + recordFixed + size
	opts := Options{SegmentBytes: int64(4 * recLen), TruncateDamaged: true}
	dir := writeLog(t, opts, 11, size) // segments 1-4, 5-8, 9-11
	segs := segFiles(t, dir)
	cases := []struct {
		seg  int
		off  int
		lost replstore.LSN
	}{
		{2, recLen, 10},    // middle of the last segment
		{2, 0, 9},          // first of the last segment
		{0, 3 * recLen, 4}, // last record of the first segment
		{1, recLen, 6},
	}
	for _, c := range cases {
		for i := 0; i < recLen; i += 11 { // every byte: TestFlippedByteIsAnError
			d := copyDir(t, dir)
			path := filepath.Join(d, filepath.Base(segs[c.seg]))
			b, _ := os.ReadFile(path)
			b[c.off+i] ^= 0x40
			os.WriteFile(path, b, 0o644)
			l, err := Open(d, opts)
			if err != nil {
				t.Fatalf("LSN %d byte %d flipped: Open: %v", c.lost, i, err)
			}
			from, ok := l.Damage()
			rec := l.Recovered()
			if !ok || from != c.lost || l.Last().LSN != c.lost-1 || !rec.Damaged || rec.LostFrom != c.lost || rec.File != path {
				t.Fatalf("LSN %d byte %d flipped: Damage %d %t, Last %v, Recovered %+v; want the log cut before LSN %d",
					c.lost, i, from, ok, l.Last(), rec, c.lost)
			}
			for lsn := replstore.LSN(1); lsn < c.lost; {
				ents, err := l.Entries(lsn, c.lost-1)
				if err != nil || len(ents) == 0 || ents[0].Pos.LSN != lsn {
					t.Fatalf("LSN %d flipped: Entries(%d, %d) = %d entries, %v", c.lost, lsn, c.lost-1, len(ents), err)
				}
				lsn += replstore.LSN(len(ents))
			}
			// It appends after the cut, and the report survives a reopen.
			if err := l.Append(entries(c.lost, 1, 2, size)); err != nil {
				t.Fatal(err)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			l = mustOpen(t, d, opts)
			if from, ok := l.Damage(); !ok || from != c.lost || l.Last() != (replstore.Position{Epoch: 2, LSN: c.lost}) {
				t.Fatalf("LSN %d flipped, reopened: Damage %d %t, Last %v", c.lost, from, ok, l.Last())
			}
			if err := l.ClearDamage(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			l = mustOpen(t, d, opts)
			if from, ok := l.Damage(); ok {
				t.Fatalf("after ClearDamage and a reopen: Damage %d", from)
			}
			l.Close()
		}
	}
}
