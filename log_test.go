package replstore

import (
	"errors"
	"runtime"
	"testing"

	"pgregory.net/rapid"
)

// TestMemLogMatchesModel drives MemLog with random appends, truncations and
// compactions and compares every read with a plain slice. It also checks
// that slices handed out earlier never change.
func TestMemLogMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := NewMemLog()
		var model []Entry // model[i] has LSN base+1+i
		var base Position
		type view struct {
			got  []Entry
			want []Entry
		}
		var views []view
		epoch := Epoch(1)
		for step := 0; step < 60; step++ {
			last := base.LSN + LSN(len(model))
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2, 3:
				k := rapid.IntRange(1, 3*chunkSize/2).Draw(t, "n")
				if rapid.Bool().Draw(t, "newEpoch") {
					epoch++
				}
				batch := make([]Entry, k)
				for i := range batch {
					batch[i] = Entry{Pos: Position{epoch, last + 1 + LSN(i)}, Data: []byte{byte(i)}}
				}
				if err := l.Append(batch); err != nil {
					t.Fatal(err)
				}
				model = append(model, batch...)
			case 4:
				if err := l.Append([]Entry{{Pos: Position{epoch, last + 2}}}); err == nil {
					t.Fatal("append with a gap accepted")
				}
				if rapid.IntRange(0, 4).Draw(t, "reset") == 0 {
					epoch++
					base = Position{epoch, last + LSN(rapid.IntRange(0, 100).Draw(t, "resetAt"))}
					if err := l.Reset(base); err != nil {
						t.Fatal(err)
					}
					model = nil
				}
			case 5:
				lsn := LSN(rapid.Uint64Range(uint64(base.LSN), uint64(last)).Draw(t, "truncate"))
				if err := l.TruncateAfter(lsn); err != nil {
					t.Fatal(err)
				}
				model = model[:lsn-base.LSN]
			case 6:
				if len(model) == 0 {
					continue
				}
				lsn := LSN(rapid.Uint64Range(uint64(base.LSN+1), uint64(last)).Draw(t, "compact"))
				if err := l.CompactThrough(lsn); err != nil {
					t.Fatal(err)
				}
				base = model[lsn-base.LSN-1].Pos
				model = model[len(model)-int(last-lsn):]
			default:
				if len(model) == 0 {
					continue
				}
				lo := LSN(rapid.Uint64Range(uint64(base.LSN+1), uint64(last)).Draw(t, "lo"))
				hi := LSN(rapid.Uint64Range(uint64(lo), uint64(last)+5).Draw(t, "hi"))
				got, err := l.Entries(lo, hi)
				if err != nil || len(got) == 0 {
					t.Fatalf("Entries(%d, %d): %v, %d entries", lo, hi, err, len(got))
				}
				want := model[lo-base.LSN-1 : lo-base.LSN-1+LSN(len(got))]
				views = append(views, view{got, append([]Entry(nil), want...)})
			}
			// Every read agrees with the model.
			if l.First() != base.LSN+1 {
				t.Fatalf("First %d, want %d", l.First(), base.LSN+1)
			}
			wantLast := base
			if len(model) > 0 {
				wantLast = model[len(model)-1].Pos
			}
			if l.Last() != wantLast {
				t.Fatalf("Last %v, want %v", l.Last(), wantLast)
			}
			var wantBytes int64
			for _, e := range model {
				wantBytes += int64(len(e.Data))
			}
			if n, b := l.Size(); n != len(model) || b != wantBytes {
				t.Fatalf("Size = %d entries, %d bytes; want %d, %d", n, b, len(model), wantBytes)
			}
			if e, err := l.EpochAt(base.LSN); err != nil || e != base.Epoch {
				t.Fatalf("EpochAt(base %v) = %d, %v", base, e, err)
			}
			if base.LSN > 0 {
				if _, err := l.EpochAt(base.LSN - 1); !errors.Is(err, ErrCompacted) {
					t.Fatalf("EpochAt below base: %v", err)
				}
			}
			for i, e := range model {
				if got, err := l.EpochAt(e.Pos.LSN); err != nil || got != e.Pos.Epoch {
					t.Fatalf("EpochAt(%d) = %d, %v; want %d (i=%d)", e.Pos.LSN, got, err, e.Pos.Epoch, i)
				}
			}
			for _, v := range views {
				for i := range v.got {
					if v.got[i].Pos != v.want[i].Pos || v.got[i].Data[0] != v.want[i].Data[0] {
						t.Fatalf("a slice handed out earlier changed at %d: %v, want %v", i, v.got[i].Pos, v.want[i].Pos)
					}
				}
			}
		}
	})
}

// BenchmarkMemLogBytesPerEntry reports the heap retained per log entry
// with a 64-byte command: the payload itself and the log's overhead on top
// of it (the Entry header and the chunk slots).
func BenchmarkMemLogBytesPerEntry(b *testing.B) {
	const entries = 1 << 18
	const payload = 64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l := NewMemLog()
		batch := make([]Entry, 256)
		for lsn := LSN(1); lsn <= entries; lsn += LSN(len(batch)) {
			for j := range batch {
				batch[j] = Entry{Pos: Position{1, lsn + LSN(j)}, Data: make([]byte, payload)}
			}
			if err := l.Append(batch); err != nil {
				b.Fatal(err)
			}
		}
		clear(batch)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry := float64(after.HeapAlloc-before.HeapAlloc) / entries
		b.ReportMetric(perEntry, "B/entry")
		b.ReportMetric(perEntry-payload, "overhead-B/entry")
		runtime.KeepAlive(l)
	}
}
