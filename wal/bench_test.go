package wal

import (
	"fmt"
	"os"
	"testing"

	"github.com/replstore/replstore"
)

// Benchmarks of one batch (Append of k entries with a 64-byte command,
// then Sync) against a raw loop doing the same writes: write(2) of the
// same framed bytes and one fdatasync per batch, in the same kind of
// directory (os.MkdirTemp under $WAL_BENCH_DIR, default the system temp
// directory). cmd/wal-bench runs both interleaved and prints ratios.
//
//	go test -run '^$' -bench 'AppendSync|RawFdatasync' -benchtime 2s ./wal/

var benchBatches = []int{1, 16, 256}

func benchDir(b *testing.B) string {
	dir, err := os.MkdirTemp(os.Getenv("WAL_BENCH_DIR"), "wal-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func BenchmarkAppendSync(b *testing.B) { benchAppend(b, false) }

// benchAppend appends batches of benchBatches sizes and syncs after each,
// reporting appends per second; with noFsync the sync's fdatasync is a
// no-op.
func benchAppend(b *testing.B, noFsync bool) {
	for _, k := range benchBatches {
		b.Run(fmt.Sprintf("batch=%d", k), func(b *testing.B) {
			l := mustOpen(b, benchDir(b), Options{})
			defer l.Close()
			if noFsync {
				l.mu.Lock()
				l.fsync = func(*os.File) error { return nil }
				l.mu.Unlock()
			}
			data := make([]byte, 64)
			batch := make([]replstore.Entry, k)
			next := replstore.LSN(1)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for i := range batch {
					batch[i] = replstore.Entry{Pos: replstore.Position{Epoch: 1, LSN: next}, Time: int64(next), Data: data}
					next++
				}
				if err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
				if err := l.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*k)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

func BenchmarkRawFdatasync(b *testing.B) {
	for _, k := range benchBatches {
		b.Run(fmt.Sprintf("batch=%d", k), func(b *testing.B) {
			var framed []byte
			for _, e := range entries(1, k, 1, 64) {
				framed = appendRecord(framed, &e)
			}
			f, err := os.Create(benchDir(b) + "/raw")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := f.Write(framed); err != nil {
					b.Fatal(err)
				}
				if err := fdatasync(f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*k)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// BenchmarkAppendNoFsync is BenchmarkAppendSync with fdatasync replaced by
// a no-op: the log's own cost per batch (encoding, checksums, index,
// cache, write(2)), to set against the disk's fdatasync latency.
func BenchmarkAppendNoFsync(b *testing.B) { benchAppend(b, true) }
