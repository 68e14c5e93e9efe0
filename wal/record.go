package wal

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/replstore/replstore"
)

// A record is one log entry in a segment file:
//
//	length u32   bytes after the CRC: recordFixed + len(data)
//	crc    u32   CRC-32C (Castagnoli) of everything after it
//	epoch  u64
//	lsn    u64
//	kind   u8
//	time   i64   Entry.Time, Unix nanoseconds
//	data   []byte
//
// All integers are little-endian.
const (
	frameHeader = 8  // length + crc
	recordFixed = 25 // epoch + lsn + kind + time
	// maxRecord bounds the length field, so that garbage cannot make the
	// reader allocate or skip gigabytes.
	maxRecord = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSize is the framed size of e.
func recordSize(e *replstore.Entry) int { return frameHeader + recordFixed + len(e.Data) }

// appendRecord appends the framed record of e to buf.
func appendRecord(buf []byte, e *replstore.Entry) []byte {
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(recordFixed+len(e.Data)))
	buf = binary.LittleEndian.AppendUint32(buf, 0) // crc, filled below
	buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Pos.Epoch))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Pos.LSN))
	buf = append(buf, byte(e.Kind))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Time))
	buf = append(buf, e.Data...)
	crc := crc32.Checksum(buf[start+frameHeader:], castagnoli)
	binary.LittleEndian.PutUint32(buf[start+4:], crc)
	return buf
}

// frameStatus says why a record could not be decoded.
type frameStatus int

const (
	frameOK     frameStatus = iota
	frameShort              // fewer bytes than the header or the length says
	frameBadLen             // length field out of range
	frameBadCRC             // checksum mismatch
)

func (s frameStatus) String() string {
	switch s {
	case frameShort:
		return "record cut short"
	case frameBadLen:
		return "bad record length"
	case frameBadCRC:
		return "checksum mismatch"
	}
	return "ok"
}

// decodeRecord decodes the record at the start of b. On success it
// returns the entry (Data aliases b) and the framed size.
func decodeRecord(b []byte) (replstore.Entry, int, frameStatus) {
	if len(b) < frameHeader {
		return replstore.Entry{}, 0, frameShort
	}
	n := binary.LittleEndian.Uint32(b)
	if n < recordFixed || n > maxRecord {
		return replstore.Entry{}, 0, frameBadLen
	}
	if uint64(len(b)) < uint64(frameHeader)+uint64(n) {
		return replstore.Entry{}, 0, frameShort
	}
	body := b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return replstore.Entry{}, 0, frameBadCRC
	}
	e := replstore.Entry{
		Pos: replstore.Position{
			Epoch: replstore.Epoch(binary.LittleEndian.Uint64(body)),
			LSN:   replstore.LSN(binary.LittleEndian.Uint64(body[8:])),
		},
		Kind: replstore.EntryKind(body[16]),
		Time: int64(binary.LittleEndian.Uint64(body[17:])),
	}
	if len(body) > recordFixed {
		e.Data = body[recordFixed:len(body):len(body)]
	}
	return e, frameHeader + int(n), frameOK
}

// findValidRecord reports whether some offset in b holds an intact record
// with an LSN in [minLSN, minLSN+len(b)): proof that a bad record before it
// is damage in the middle of the log, not a torn tail. The LSN is checked
// before the checksum so that scanning garbage stays cheap.
func findValidRecord(b []byte, minLSN replstore.LSN) (int, bool) {
	maxLSN := minLSN + replstore.LSN(len(b))
	for off := 0; off+frameHeader+recordFixed <= len(b); off++ {
		n := binary.LittleEndian.Uint32(b[off:])
		if n < recordFixed || uint64(off)+frameHeader+uint64(n) > uint64(len(b)) {
			continue
		}
		lsn := replstore.LSN(binary.LittleEndian.Uint64(b[off+frameHeader+8:]))
		if lsn < minLSN || lsn >= maxLSN {
			continue
		}
		if _, _, st := decodeRecord(b[off:]); st == frameOK {
			return off, true
		}
	}
	return 0, false
}
