package wal

// recList is a segment's record index in fixed-size chunks, so that
// growing it never copies (a 64 MiB segment of small records holds
// hundreds of thousands of them).
type recList struct {
	chunks [][]recIndex // each full but the last
	n      int
}

const recChunk = 4096

func (r *recList) len() int { return r.n }

func (r *recList) at(i int) recIndex { return r.chunks[i/recChunk][i%recChunk] }

func (r *recList) add(x recIndex) {
	if r.n%recChunk == 0 && r.n/recChunk == len(r.chunks) {
		r.chunks = append(r.chunks, make([]recIndex, 0, recChunk))
	}
	c := r.n / recChunk
	r.chunks[c] = append(r.chunks[c], x)
	r.n++
}

// truncate keeps the first n records.
func (r *recList) truncate(n int) {
	if n >= r.n {
		return
	}
	keep := (n + recChunk - 1) / recChunk
	clear(r.chunks[keep:])
	r.chunks = r.chunks[:keep]
	if n%recChunk != 0 {
		r.chunks[keep-1] = r.chunks[keep-1][:n%recChunk]
	}
	r.n = n
}
