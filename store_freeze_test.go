package replstore

import (
	"bytes"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestSnapshotFuncIsPointInTime: whatever is applied after SnapshotFunc,
// the snapshot it writes is the state at the call, byte for byte; and
// afterwards writes go back to changing records in place.
func TestSnapshotFuncIsPointInTime(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := NewStore()
		lsn := LSN(0)
		apply := func(label string) {
			lsn++
			key := rapid.SampledFrom([]string{"a", "b", "c", "d"}).Draw(t, label+"key")
			var data []byte
			switch rapid.IntRange(0, 3).Draw(t, label+"op") {
			case 0:
				data = AppendPut(nil, key, []byte{byte(lsn)})
			case 1:
				data = AppendDelete(nil, key)
			case 2:
				data = AppendCompareAndSwap(nil, key, LSN(rapid.IntRange(0, int(lsn)).Draw(t, label+"ver")), []byte{byte(lsn)})
			default:
				at := time.Unix(int64(rapid.IntRange(0, 5).Draw(t, label+"at")), 0)
				data = AppendSample(nil, key, at, float64(lsn))
			}
			_ = s.Apply(Entry{Pos: Position{1, lsn}, Time: int64(lsn), Data: data})
		}
		for i := rapid.IntRange(0, 30).Draw(t, "before"); i > 0; i-- {
			apply("b")
		}
		var want bytes.Buffer
		if err := s.Snapshot(&want); err != nil {
			t.Fatal(err)
		}
		write := s.SnapshotFunc()
		for i := rapid.IntRange(0, 30).Draw(t, "after"); i > 0; i-- {
			apply("a")
		}
		var got bytes.Buffer
		if err := write(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			t.Fatalf("the frozen snapshot changed with later writes")
		}
		if s.frozen != 0 {
			t.Fatalf("frozen = %d after the snapshot was written", s.frozen)
		}
	})
}
