package wal

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/replstore/replstore"
)

const segSuffix = ".seg"

// segment is one file of the log, named by the LSN of its first record.
// Records follow each other from offset 0 with no file header.
//
// Invariant: recs[i] is the record of LSN first+i; recs[i].off grows; every
// record before the last segment's buffered tail lies below size.
type segment struct {
	first replstore.LSN
	path  string
	f     *os.File
	size  int64   // bytes written to the file (buffered records come after)
	recs  recList // every record in the file, compacted ones included
}

// recIndex locates one record and keeps what EpochAt and Size need.
type recIndex struct {
	off     int64
	epoch   replstore.Epoch
	dataLen uint32
}

func segName(first replstore.LSN) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

// last is the LSN of the segment's last record (first-1 when empty).
func (s *segment) last() replstore.LSN { return s.first + replstore.LSN(s.recs.len()) - 1 }

// rec returns the index entry of lsn, which the segment holds.
func (s *segment) rec(lsn replstore.LSN) recIndex { return s.recs.at(int(lsn - s.first)) }

// recEnd is the offset just past the record of lsn, which must be written.
func (s *segment) recEnd(lsn replstore.LSN) int64 {
	if i := int(lsn-s.first) + 1; i < s.recs.len() {
		return s.recs.at(i).off
	}
	return s.size
}

// listSegments returns dir's segments sorted by first LSN, not opened.
func listSegments(dir string) ([]*segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: list %s: %w", errStorage, dir, err)
	}
	var segs []*segment
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil || first == 0 {
			return nil, fmt.Errorf("%w: %s: not a segment name (want 20 digits, the first LSN, then %s)",
				errStorage, filepath.Join(dir, name), segSuffix)
		}
		segs = append(segs, &segment{first: replstore.LSN(first), path: filepath.Join(dir, name)})
	}
	slices.SortFunc(segs, func(a, b *segment) int { return cmp.Compare(a.first, b.first) })
	return segs, nil
}

// load opens s and indexes its records. In the last segment (isLast) a
// torn tail, that is a bad or short record with no intact record after it,
// is cut off and reported in *rec; anywhere else a bad record is an error
// naming the file and offset.
//
// With keepZeroes (preallocation), a last segment whose records are
// followed by zeroes only keeps its length and nothing is reported.
func (s *segment) load(isLast, keepZeroes bool, rec *Recovery) error {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: open %s: %w", errStorage, s.path, err)
	}
	s.f = f
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("%w: read %s: %w", errStorage, s.path, err)
	}
	off, next := 0, s.first
	for off < len(data) {
		e, n, st := decodeRecord(data[off:])
		if st == frameOK && e.Pos.LSN != next {
			s.size = int64(off)
			return &damageError{path: s.path, off: int64(off), lsn: next,
				what: fmt.Sprintf("record has LSN %d, want %d (LSNs must be consecutive)", e.Pos.LSN, next)}
		}
		if st != frameOK {
			if !isLast {
				s.size = int64(off)
				return &damageError{path: s.path, off: int64(off), lsn: next, what: fmt.Sprintf("%v (LSN %d, not the last segment)", st, next)}
			}
			if allZero(data[off:]) {
				if keepZeroes {
					break
				}
			} else if at, ok := findValidRecord(data[off+1:], next); ok {
				s.size = int64(off)
				return &damageError{path: s.path, off: int64(off), lsn: next,
					what: fmt.Sprintf("%v (LSN %d; an intact record follows at offset %d, so this is damage, not a torn tail)", st, next, off+1+at)}
			}
			if err := f.Truncate(int64(off)); err != nil {
				return fmt.Errorf("%w: truncate torn tail of %s at %d: %w", errStorage, s.path, off, err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("%w: sync %s: %w", errStorage, s.path, err)
			}
			*rec = Recovery{File: s.path, Offset: int64(off), DroppedBytes: int64(len(data) - off), Reason: st.String()}
			break
		}
		s.recs.add(recIndex{off: int64(off), epoch: e.Pos.Epoch, dataLen: uint32(len(e.Data))})
		off += n
		next++
	}
	s.size = int64(off)
	return nil
}

// damageError is a record that fails its checksum (or breaks the LSN
// sequence) where no torn write can explain it: synced data was lost.
// The records before it in the segment are indexed (size ends there).
type damageError struct {
	path string
	off  int64
	lsn  replstore.LSN
	what string
}

func (e *damageError) Error() string {
	return fmt.Sprintf("%v: %s: offset %d: %s", errStorage, e.path, e.off, e.what)
}

func (e *damageError) Unwrap() error { return errStorage }

// readEntries reads the records lo..hi (held and written) from the file,
// stopping early after maxBytes. The entries own their memory.
func (s *segment) readEntries(lo, hi replstore.LSN, maxBytes int64) ([]replstore.Entry, error) {
	start := s.rec(lo).off
	end := s.recEnd(lo)
	for lsn := lo + 1; lsn <= hi && s.recEnd(lsn)-start <= maxBytes; lsn++ {
		end = s.recEnd(lsn)
	}
	buf := make([]byte, end-start)
	if _, err := s.f.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("%w: read %s at %d: %w", errStorage, s.path, start, err)
	}
	var out []replstore.Entry
	for off, lsn := 0, lo; off < len(buf); lsn++ {
		e, n, st := decodeRecord(buf[off:])
		if st != frameOK || e.Pos.LSN != lsn {
			return nil, fmt.Errorf("%w: %s: offset %d: %v reading LSN %d (found %d)", errStorage, s.path, start+int64(off), st, lsn, e.Pos.LSN)
		}
		out = append(out, e)
		off += n
	}
	return out, nil
}

var zeroBlock [64 << 10]byte

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
