package wal

import "testing"

func TestRecList(t *testing.T) {
	for _, cut := range []int{0, 1, recChunk - 1, recChunk, recChunk + 1, 2 * recChunk, 9999, 10000, 20000} {
		var r recList
		for i := range 10000 {
			r.add(recIndex{off: int64(i)})
		}
		r.truncate(cut)
		want := min(cut, 10000)
		if r.len() != want {
			t.Fatalf("truncate(%d): len %d", cut, r.len())
		}
		for i := want; i < want+5000; i++ {
			r.add(recIndex{off: int64(-i)})
		}
		for i := range r.len() {
			w := int64(i)
			if i >= want {
				w = int64(-i)
			}
			if got := r.at(i).off; got != w {
				t.Fatalf("truncate(%d): at(%d) = %d, want %d", cut, i, got, w)
			}
		}
	}
}
