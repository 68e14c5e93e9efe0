package wal

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/replstore/replstore"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testRand returns a seeded source and logs the seed; WAL_SEED=n replays.
func testRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WAL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WAL_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with WAL_SEED=%d go test -run '^%s$' ./wal/)", seed, seed, t.Name())
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// entries makes n entries from LSN first at epoch, with payloads of
// size bytes derived from the LSN.
func entries(first replstore.LSN, n int, epoch replstore.Epoch, size int) []replstore.Entry {
	es := make([]replstore.Entry, n)
	for i := range es {
		lsn := first + replstore.LSN(i)
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(uint64(lsn)*31 + uint64(j))
		}
		es[i] = replstore.Entry{Pos: replstore.Position{Epoch: epoch, LSN: lsn}, Time: int64(lsn) * 1000, Data: data}
	}
	return es
}

// readAll returns every held entry, checking each Entries call.
func readAll(t testing.TB, l replstore.LogStore) []replstore.Entry {
	t.Helper()
	var out []replstore.Entry
	last := l.Last().LSN
	for lsn := l.First(); lsn <= last; {
		es, err := l.Entries(lsn, last)
		if err != nil {
			t.Fatalf("Entries(%d, %d): %v", lsn, last, err)
		}
		if len(es) == 0 {
			t.Fatalf("Entries(%d, %d) returned nothing", lsn, last)
		}
		out = append(out, es...)
		lsn += replstore.LSN(len(es))
	}
	return out
}

func sameEntries(a, b []replstore.Entry) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d entries vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Pos != y.Pos || x.Kind != y.Kind || x.Time != y.Time || string(x.Data) != string(y.Data) {
			return fmt.Errorf("entry %d: %+v vs %+v", i, x, y)
		}
	}
	return nil
}

func mustOpen(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

// crash abandons l as a process crash would: what was not written to a
// file is lost (the page cache survives, as it does when only the
// process dies). It releases the directory lock.
func (l *Log) crash() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waitIdle()
	l.closeFiles()
	unlockFile(l.lock)
	l.closed = true
	l.cond.Broadcast()
}
