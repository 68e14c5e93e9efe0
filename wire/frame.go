// Package wire is replstore's binary frame format: how a Message, and the
// handshake that opens a connection, travel over a byte stream.
//
// A frame is an 8-byte header followed by a payload:
//
//	magic    uint16 big-endian, 0x5253 ("RS")
//	version  uint8, the frame format (Version)
//	kind     uint8, a FrameKind
//	length   uint32 big-endian, the payload's size in bytes
//
// Message payloads are described in message.go, handshake payloads in
// hello.go. Decoders never panic, check every count against the bytes
// that remain before allocating, and refuse a frame longer than the
// caller's limit before reading its body.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

const (
	// Magic opens every frame.
	Magic uint16 = 0x5253
	// Version is the frame and payload format this package writes and
	// reads. A change to any payload layout bumps it.
	Version uint8 = 3
	// HeaderLen is the size of a frame header.
	HeaderLen = 8
	// DefaultMaxFrame is the default limit on a frame's payload: 64 MiB.
	DefaultMaxFrame = 64 << 20
)

// FrameKind says what a frame's payload is.
type FrameKind uint8

const (
	// FrameMessage carries one replstore.Message (AppendMessage).
	FrameMessage FrameKind = iota + 1
	// FrameHello opens a connection: the dialer's Hello.
	FrameHello
	// FrameHelloAnswer is the acceptor's HelloAnswer.
	FrameHelloAnswer
	// FramePing has an empty payload; it keeps an idle connection's
	// read deadline from expiring.
	FramePing

	maxFrameKind = FramePing
)

var frameKindNames = [...]string{FrameMessage: "message", FrameHello: "hello", FrameHelloAnswer: "hello-answer", FramePing: "ping"}

func (k FrameKind) String() string {
	if k != 0 && k <= maxFrameKind {
		return frameKindNames[k]
	}
	return fmt.Sprintf("FrameKind(%d)", uint8(k))
}

var (
	// ErrBadMagic: the bytes are not a replstore frame.
	ErrBadMagic = errors.New("wire: bad magic: not a replstore frame")
	// ErrVersion: the frame uses a format version this package cannot read.
	ErrVersion = errors.New("wire: unsupported protocol version")
	// ErrFrameKind: the header names no known FrameKind.
	ErrFrameKind = errors.New("wire: unknown frame kind")
	// ErrFrameTooLarge: the header announces a payload over the limit.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrMalformed: a payload does not decode (truncated, trailing bytes,
	// a count larger than the bytes that remain, an unknown field...).
	ErrMalformed = errors.New("wire: malformed payload")
	// ErrTooDeep: a TopologyUpdate's Base chain is longer than MaxUpdateDepth.
	ErrTooDeep = errors.New("wire: topology update nested too deep")
	// ErrUnknownKind: the message's MsgKind is not one this version knows.
	ErrUnknownKind = errors.New("wire: unknown message kind")
)

// AppendHeader appends a frame header for a payload of n bytes.
func AppendHeader(dst []byte, kind FrameKind, n int) []byte {
	dst = binary.BigEndian.AppendUint16(dst, Magic)
	dst = append(dst, Version, byte(kind))
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// AppendFrame appends a whole frame: header and payload.
func AppendFrame(dst []byte, kind FrameKind, payload []byte) []byte {
	return append(AppendHeader(dst, kind, len(payload)), payload...)
}

// WriteFrame writes one frame to w. With a bufio.Writer it makes no
// system call of its own; the caller flushes once per batch.
func WriteFrame(w io.Writer, kind FrameKind, payload []byte) error {
	var h [HeaderLen]byte
	AppendHeader(h[:0], kind, len(payload))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readChunk bounds how much ReadFrame allocates ahead of the bytes that
// have actually arrived, when buf is too small for the frame.
const readChunk = 64 << 10

// ReadFrame reads one frame from r. maxFrame (<= 0: DefaultMaxFrame)
// bounds the payload; a longer one is refused from its header, before
// any of its body is read. The payload is read into buf when it fits
// (so it is only valid until the next call that reuses buf); otherwise
// into a new slice that grows as the bytes arrive, so a header that lies
// about its length costs at most what was actually sent.
//
// A header with an unknown version is reported with ErrVersion and its
// kind, so that an acceptor can answer a Hello it cannot read.
func ReadFrame(r *bufio.Reader, maxFrame int, buf []byte) (FrameKind, []byte, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	h, err := r.Peek(HeaderLen)
	if err != nil {
		if len(h) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	r.Discard(HeaderLen) // h stays valid until the next read from r: read it all first
	if m := binary.BigEndian.Uint16(h[0:]); m != Magic {
		return 0, nil, fmt.Errorf("%w (got %#04x)", ErrBadMagic, m)
	}
	kind := FrameKind(h[3])
	if h[2] != Version {
		return kind, nil, fmt.Errorf("%w: frame version %d, this node speaks %d", ErrVersion, h[2], Version)
	}
	if kind == 0 || kind > maxFrameKind {
		return 0, nil, fmt.Errorf("%w %d", ErrFrameKind, h[3])
	}
	n := binary.BigEndian.Uint32(h[4:])
	if uint64(n) > uint64(maxFrame) {
		return kind, nil, fmt.Errorf("%w: %s frame of %d bytes, limit %d", ErrFrameTooLarge, kind, n, maxFrame)
	}
	if int(n) <= cap(buf) {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return kind, nil, truncated(err)
		}
		return kind, buf, nil
	}
	var p []byte
	for len(p) < int(n) {
		step := min(int(n)-len(p), max(len(p), readChunk))
		p = slices.Grow(p, step)[:len(p)+step]
		if _, err := io.ReadFull(r, p[len(p)-step:]); err != nil {
			return kind, nil, truncated(err)
		}
	}
	return kind, p, nil
}

// truncated turns an EOF inside a frame into io.ErrUnexpectedEOF: the
// stream ended between a header and the end of its payload.
func truncated(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
