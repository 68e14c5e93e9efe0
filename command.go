package replstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Commands are how writes travel through the log. Replication is logical
// (row-based): an Entry's Data holds exactly one encoded command that says
// which row changes and to what, never a statement to re-evaluate.
//
//	op (1 byte) | uvarint len(key) | key | payload
//
//	put               value (the rest of the entry)
//	delete            nothing
//	compare-and-swap  uvarint expected version | value (the rest)
//	append-sample     int64 time, Unix ns | float64 bits (8 bytes each, little endian)
//
// Every varint is in its shortest form, so a command has exactly one
// encoding: decoding and re-encoding gives back the same bytes.

// op is the first byte of an encoded command.
type op byte

const (
	opPut            op = 1
	opDelete         op = 2
	opCompareAndSwap op = 3
	opAppendSample   op = 4
)

// samplePayloadBytes is the size of an append-sample payload: time, value.
const samplePayloadBytes = 16

// command is one decoded command. key and value alias the encoded bytes.
type command struct {
	op      op
	key     []byte  // record key or series name; never empty
	version LSN     // compare-and-swap: expected version, 0 = must be absent
	value   []byte  // put, compare-and-swap; len == cap, so appending copies
	time    int64   // append-sample: Unix nanoseconds
	sample  float64 // append-sample
}

// AppendPut appends to dst a command that sets key to value, and returns
// the extended slice. PutSize(key, value) bytes are appended.
func AppendPut(dst []byte, key string, value []byte) []byte {
	dst = appendCommandHeader(dst, opPut, key)
	return append(dst, value...)
}

// AppendDelete appends to dst a command that removes key, and returns the
// extended slice. Deleting an absent key is not an error. DeleteSize(key)
// bytes are appended.
func AppendDelete(dst []byte, key string) []byte {
	return appendCommandHeader(dst, opDelete, key)
}

// AppendCompareAndSwap appends to dst a command that sets key to value only
// if the record's version (the LSN of the entry that last wrote it) is
// version; version 0 means the key must be absent. Otherwise the command
// fails with ErrVersionMismatch and changes nothing.
// CompareAndSwapSize(key, version, value) bytes are appended.
func AppendCompareAndSwap(dst []byte, key string, version LSN, value []byte) []byte {
	dst = appendCommandHeader(dst, opCompareAndSwap, key)
	dst = binary.AppendUvarint(dst, uint64(version))
	return append(dst, value...)
}

// AppendSample appends to dst a command that adds the sample (t, v) to
// series, replacing a sample at the same time. t is stored as Unix
// nanoseconds, so it must lie within 1677-09-21 and 2262-04-11 (another
// time is stored as a different one; Cluster.AppendSample refuses it
// with ErrSampleTimeOutOfRange).
// SampleSize(series) bytes are appended.
func AppendSample(dst []byte, series string, t time.Time, v float64) []byte {
	dst = appendCommandHeader(dst, opAppendSample, series)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(t.UnixNano()))
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

// PutSize is the exact size of AppendPut's command, so a caller can
// allocate once: AppendPut(make([]byte, 0, PutSize(k, v)), k, v).
func PutSize(key string, value []byte) int {
	return commandHeaderSize(key) + len(value)
}

// DeleteSize is the exact size of AppendDelete's command.
func DeleteSize(key string) int {
	return commandHeaderSize(key)
}

// CompareAndSwapSize is the exact size of AppendCompareAndSwap's command.
func CompareAndSwapSize(key string, version LSN, value []byte) int {
	return commandHeaderSize(key) + uvarintLen(uint64(version)) + len(value)
}

// SampleSize is the exact size of AppendSample's command.
func SampleSize(series string) int {
	return commandHeaderSize(series) + samplePayloadBytes
}

func appendCommandHeader(dst []byte, o op, key string) []byte {
	dst = append(dst, byte(o))
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

func commandHeaderSize(key string) int {
	return 1 + uvarintLen(uint64(len(key))) + len(key)
}

// uvarintLen is the size of x in the shortest uvarint encoding.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// decodeCommand parses one command. It never panics: malformed input gives
// an error wrapping ErrBadCommand (and ErrEmptyKey for an empty key). It
// allocates nothing when data is well formed.
func decodeCommand(data []byte) (command, error) {
	if len(data) == 0 {
		return command{}, fmt.Errorf("%w: empty", ErrBadCommand)
	}
	c := command{op: op(data[0])}
	if c.op < opPut || c.op > opAppendSample {
		return command{}, fmt.Errorf("%w: unknown op %d", ErrBadCommand, data[0])
	}
	key, rest, err := decodeCommandKey(data[1:])
	if err != nil {
		return command{}, err
	}
	c.key = key
	if err := c.decodePayload(rest); err != nil {
		return command{}, err
	}
	return c, nil
}

// decodeCommandKey splits b into the length-prefixed key and what follows.
func decodeCommandKey(b []byte) (key, rest []byte, err error) {
	n, size, err := readUvarint(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: key length: %w", ErrBadCommand, inner(err))
	}
	b = b[size:]
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: key length %d exceeds the %d bytes left", ErrBadCommand, n, len(b))
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadCommand, inner(ErrEmptyKey))
	}
	return b[:n], b[n:], nil
}

// decodePayload parses what follows the key, according to c.op.
func (c *command) decodePayload(b []byte) error {
	switch c.op {
	case opPut:
		c.value = b[:len(b):len(b)]
	case opDelete:
		if len(b) != 0 {
			return fmt.Errorf("%w: delete has %d trailing bytes", ErrBadCommand, len(b))
		}
	case opCompareAndSwap:
		version, size, err := readUvarint(b)
		if err != nil {
			return fmt.Errorf("%w: compare-and-swap version: %w", ErrBadCommand, inner(err))
		}
		c.version = LSN(version)
		c.value = b[size:len(b):len(b)]
	case opAppendSample:
		if len(b) != samplePayloadBytes {
			return fmt.Errorf("%w: sample payload is %d bytes, want %d", ErrBadCommand, len(b), samplePayloadBytes)
		}
		c.time = int64(binary.LittleEndian.Uint64(b))
		c.sample = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
	}
	return nil
}

// Reasons a uvarint is rejected, for commands and snapshots alike.
var (
	errTruncatedVarint = errors.New("truncated varint")
	errVarintOverflow  = errors.New("varint overflows 64 bits")
	errOverlongVarint  = errors.New("varint not in shortest form")
)

// readUvarint decodes the uvarint at the start of b and its size. Only the
// shortest encoding is accepted.
func readUvarint(b []byte) (uint64, int, error) {
	x, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, errTruncatedVarint
	case n < 0:
		return 0, 0, errVarintOverflow
	case n != uvarintLen(x):
		return 0, 0, errOverlongVarint
	}
	return x, n, nil
}
