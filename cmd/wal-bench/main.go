// Command wal-bench compares wal.Log against a raw write+fdatasync loop on
// the same disk, interleaved batch by batch (log, raw, log, raw, ...; raw
// first on odd reps) so that the noise of a shared machine hits both
// sides alike. Each side's rate is its batches over the time its own
// batches took.
//
// One batch is an Append of -batch entries, each a 64-byte command, then
// Sync. The raw loop writes the same framed bytes (taken from a scratch
// log's segment file) with one write(2) and one fdatasync per batch, into
// a file in a fresh directory under the same parent (-dir, default
// $WAL_BENCH_DIR, else the system temp directory).
//
//	go run ./cmd/wal-bench -batches 1,16,256 -reps 6 -dur 1s
//
// It prints, per batch size, the median appends/s of each side over the
// reps and their ratio (log/raw); "paired", the median over every
// (log batch, raw batch) pair of raw time / log time, which is robust to
// the bursts of a shared disk; and the ratio of each rep. -aa runs the
// raw loop on both sides, to show the harness's own noise.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wal"
)

func main() {
	dir := flag.String("dir", os.Getenv("WAL_BENCH_DIR"), "parent directory of the scratch directories (default: system temp dir)")
	batches := flag.String("batches", "1,16,256", "comma-separated batch sizes")
	reps := flag.Int("reps", 6, "interleaved repetitions per batch size")
	dur := flag.Duration("dur", time.Second, "duration of one run")
	size := flag.Int("size", 64, "command bytes per entry")
	flag.BoolVar(&logNoPrealloc, "nopreallocate", false, "open the log with Options.NoPreallocate")
	flag.BoolVar(&selfTest, "aa", false, "A/A check of the harness: run the raw loop on both sides")
	flag.BoolVar(&prealloc, "prealloc", false, "experiment: the first side is a raw loop writing into a 64 MiB file pre-filled with zeroes (or -fallocate) and fsynced")
	flag.BoolVar(&useFallocate, "fallocate", false, "with -prealloc: fallocate(2) the file instead of writing zeroes")
	flag.Parse()
	var ks []int
	for _, s := range strings.Split(*batches, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k < 1 {
			fail(fmt.Errorf("-batches %q: want positive integers", *batches))
		}
		ks = append(ks, k)
	}
	if *reps < 1 || *dur <= 0 {
		fail(fmt.Errorf("need -reps >= 1 and -dur > 0"))
	}
	fmt.Printf("wal-bench: dir=%q reps=%d dur=%v size=%d nopreallocate=%v aa=%v prealloc-raw=%v fallocate=%v\n",
		*dir, *reps, *dur, *size, logNoPrealloc, selfTest, prealloc, useFallocate)
	fmt.Printf("%-6s %14s %14s %7s %7s %7s  %s\n", "batch", "log appends/s", "raw appends/s", "ratio", "paired", "pairs", "per-rep ratios")
	for _, k := range ks {
		framed := framedBatch(*dir, k, *size)
		var logRates, rawRates, ratios, pairs []float64
		for r := range *reps {
			lr, rr, p := run(*dir, k, *size, framed, *dur, r)
			pairs = append(pairs, p...)
			logRates, rawRates, ratios = append(logRates, lr), append(rawRates, rr), append(ratios, lr/rr)
		}
		ml, mr := median(logRates), median(rawRates)
		var rs []string
		for _, x := range ratios {
			rs = append(rs, fmt.Sprintf("%.2f", x))
		}
		fmt.Printf("%-6d %14.0f %14.0f %7.2f %7.2f %7d  %s\n", k, ml, mr, ml/mr, median(pairs), len(pairs), strings.Join(rs, " "))
	}
}

// framedBatch returns the bytes a Log writes for k entries: it appends
// them to a scratch log and reads its segment file.
func framedBatch(parent string, k, size int) []byte {
	dir := mkdir(parent)
	defer os.RemoveAll(dir)
	// No preallocation here: the file must end at its last record.
	l, err := wal.Open(dir, wal.Options{NoPreallocate: true})
	if err != nil {
		fail(err)
	}
	if err := l.Append(batch(1, k, make([]byte, size))); err != nil {
		fail(err)
	}
	if err := l.Close(); err != nil {
		fail(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		fail(fmt.Errorf("scratch log has %d segments", len(segs)))
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		fail(err)
	}
	// The frame: length and CRC-32C (4 bytes each), epoch, LSN, kind and
	// time (25 bytes), data.
	if want := k * (8 + 25 + size); len(b) != want {
		fail(fmt.Errorf("scratch segment holds %d bytes, want %d for %d records", len(b), want, k))
	}
	return b
}

func batch(first replstore.LSN, k int, data []byte) []replstore.Entry {
	es := make([]replstore.Entry, k)
	for i := range es {
		lsn := first + replstore.LSN(i)
		es[i] = replstore.Entry{Pos: replstore.Position{Epoch: 1, LSN: lsn}, Time: int64(lsn), Data: data}
	}
	return es
}

// selfTest (-aa) puts a raw loop in the log's place, to check that the
// harness itself has no bias between its two sides.
var selfTest bool

// prealloc (-prealloc) puts a raw loop over a pre-zeroed file in the log's
// place, to measure what preallocating segments could gain.
var prealloc, useFallocate bool

// logNoPrealloc (-nopreallocate) sets Options.NoPreallocate on the
// measured log.
var logNoPrealloc bool

type side interface {
	step()
	close()
}

// logSide runs Append(k)+Sync batches on a fresh Log.
type logSide struct {
	dir  string
	l    *wal.Log
	es   []replstore.Entry
	data []byte
	next replstore.LSN
}

func newLogSide(parent string, k, size int) *logSide {
	s := &logSide{dir: mkdir(parent), es: make([]replstore.Entry, k), data: make([]byte, size), next: 1}
	l, err := wal.Open(s.dir, wal.Options{NoPreallocate: logNoPrealloc})
	if err != nil {
		fail(err)
	}
	s.l = l
	return s
}

func (s *logSide) step() {
	for i := range s.es {
		s.es[i] = replstore.Entry{Pos: replstore.Position{Epoch: 1, LSN: s.next}, Time: int64(s.next), Data: s.data}
		s.next++
	}
	if err := s.l.Append(s.es); err != nil {
		fail(err)
	}
	if err := s.l.Sync(); err != nil {
		fail(err)
	}
}

func (s *logSide) close() {
	if err := s.l.Close(); err != nil {
		fail(err)
	}
	os.RemoveAll(s.dir)
}

// rawSide writes the same framed bytes with write(2)+fdatasync.
type rawSide struct {
	dir    string
	f      *os.File
	framed []byte
}

func newRawSide(parent string, framed []byte) *rawSide {
	s := &rawSide{dir: mkdir(parent), framed: framed}
	f, err := os.Create(filepath.Join(s.dir, "raw"))
	if err != nil {
		fail(err)
	}
	s.f = f
	return s
}

func (s *rawSide) step() {
	fd := int(s.f.Fd())
	if _, err := syscall.Write(fd, s.framed); err != nil {
		fail(err)
	}
	if err := syscall.Fdatasync(fd); err != nil {
		fail(err)
	}
}

// preallocate fills the file with n zero bytes, fsyncs it and rewinds,
// so that later writes overwrite allocated blocks without growing it.
func (s *rawSide) preallocate(n int64) {
	if useFallocate {
		if err := syscall.Fallocate(int(s.f.Fd()), 0, 0, n); err != nil {
			fail(err)
		}
		n = 0
	}
	zero := make([]byte, 1<<20)
	for off := int64(0); off < n; off += int64(len(zero)) {
		if _, err := s.f.Write(zero); err != nil {
			fail(err)
		}
	}
	if err := s.f.Sync(); err != nil {
		fail(err)
	}
	if _, err := s.f.Seek(0, 0); err != nil {
		fail(err)
	}
}

func (s *rawSide) close() {
	s.f.Close()
	os.RemoveAll(s.dir)
}

// run alternates log and raw batches (log first on even reps) for about
// dur, timing each batch, and returns the appends/s of each side over
// the time it spent. One unmeasured batch each goes first: the log's
// first Sync also syncs the directory entry of its new segment.
func run(parent string, k, size int, framed []byte, dur time.Duration, rep int) (logRate, rawRate float64, pairs []float64) {
	var ls side
	switch {
	case prealloc:
		r := newRawSide(parent, framed)
		r.preallocate(64 << 20)
		ls = r
	case selfTest:
		ls = newRawSide(parent, framed)
	default:
		ls = newLogSide(parent, k, size)
	}
	rs := newRawSide(parent, framed)
	defer ls.close()
	defer rs.close()
	ls.step()
	rs.step()
	var logT, rawT time.Duration
	n := 0
	for start := time.Now(); time.Since(start) < dur; n++ {
		var l, r time.Duration
		for i := range 2 {
			t0 := time.Now()
			if (i+rep)%2 == 0 {
				ls.step()
				l = time.Since(t0)
			} else {
				rs.step()
				r = time.Since(t0)
			}
		}
		logT, rawT = logT+l, rawT+r
		pairs = append(pairs, float64(r)/float64(l))
	}
	return float64(n*k) / logT.Seconds(), float64(n*k) / rawT.Seconds(), pairs
}

func mkdir(parent string) string {
	dir, err := os.MkdirTemp(parent, "wal-bench-")
	if err != nil {
		fail(err)
	}
	return dir
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wal-bench:", err)
	os.Exit(1)
}
