package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/replstore/replstore"
)

// The primitive encodings every payload is built from. Integers are
// uvarints (varints when signed), strings and byte slices are a uvarint
// length followed by the bytes.

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// decoder reads primitives from b. The first failure sticks in err and
// every later read returns a zero value, so a decode function reads
// straight through and checks err once.
type decoder struct {
	b     []byte
	err   error
	names map[string]replstore.NodeID // strings to reuse instead of allocating; may be nil
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("%s: bad or truncated uvarint", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("%s: bad or truncated varint", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("%s: truncated", what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a uvarint count of items that take at least minSize bytes
// each, and refuses one the remaining bytes cannot hold: what the caller
// then allocates is bounded by the payload's length.
func (d *decoder) count(what string, minSize int) int {
	v := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)/minSize) {
		d.fail("%s: count %d but only %d bytes remain", what, v, len(d.b))
		return 0
	}
	return int(v)
}

func (d *decoder) string(what string) string {
	n := d.count(what, 1)
	if d.err != nil {
		return ""
	}
	b := d.b[:n]
	d.b = d.b[n:]
	if id, ok := d.names[string(b)]; ok {
		return string(id)
	}
	return string(b)
}

// bytes returns a copy, never a slice of d.b: the payload usually lives in
// a read buffer that the next frame overwrites. Empty is nil.
func (d *decoder) bytes(what string) []byte {
	n := d.count(what, 1)
	if d.err != nil || n == 0 {
		return nil
	}
	b := make([]byte, n)
	copy(b, d.b)
	d.b = d.b[n:]
	return b
}

// fieldMask reads a field-presence mask and refuses bits outside known.
func (d *decoder) fieldMask(what string, known uint64) uint64 {
	m := d.uvarint(what)
	if m&^known != 0 {
		d.fail("%s: unknown fields %#x", what, m&^known)
		return 0
	}
	return m
}

// end refuses trailing bytes.
func (d *decoder) end(what string) {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%s: %d trailing bytes", what, len(d.b))
	}
}
