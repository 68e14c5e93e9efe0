package wire

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/replstore/replstore"
)

// A Message payload is
//
//	kind    uint8, the MsgKind
//	fields  uvarint, a mask: bit i set when msgFields[i] is present
//	...     each present field's value, in msgFields order
//
// A field is present when it is not its zero value, so a heartbeat
// carries only the few fields it sets. A bool has no value bytes: its
// bit is the value. Slices decode as nil when empty, pointers keep their
// nil-ness (an empty non-nil Update is present with no fields of its own).
//
// To add a field to Message: append one line to msgFields (a new bit;
// never reorder or reuse one) with the constructor for its type (strField,
// uintField, intField, boolField, posField, bytesField, idsField; a new
// struct type gets its own field table like chunkFields), set it in the
// test's goldenMessage and update goldenHex. To add a MsgKind: raise
// MaxKind. Either way bump Version: a node of the old version refuses an
// unknown field bit or kind as malformed and closes the connection,
// while a version mismatch is refused cleanly at the handshake. The
// tests fail until this is done: the round-trip test fills every field
// of Message by reflection and enumerates every named MsgKind, and the
// golden test wants every field set.

// MaxKind is the highest MsgKind this version encodes and decodes; the
// kinds are 1..MaxKind.
const MaxKind = replstore.MsgReadResp

// MaxUpdateDepth bounds a TopologyUpdate chain: an Update, its Base, the
// Base's Base... counting the Update itself. A deeper one is refused by
// both the encoder and the decoder.
const MaxUpdateDepth = 4

// field is one optional field of a struct T on the wire.
type field[T any] struct {
	name    string
	present func(*T) bool
	append  func([]byte, *T) ([]byte, error) // nil: a bool, its bit is its value
	decode  func(*decoder, *T)               // for a bool: set it true
}

type message = replstore.Message

// msgFields is every Message field in wire order (bit i = msgFields[i]).
var msgFields = [...]field[message]{
	strField("From", func(m *message) *replstore.NodeID { return &m.From }),
	strField("To", func(m *message) *replstore.NodeID { return &m.To }),
	uintField("Epoch", func(m *message) *replstore.Epoch { return &m.Epoch }),
	posField("Prev", func(m *message) *replstore.Position { return &m.Prev }),
	{"Entries", func(m *message) bool { return len(m.Entries) > 0 },
		func(b []byte, m *message) ([]byte, error) { return appendEntries(b, m.Entries), nil },
		func(d *decoder, m *message) { m.Entries = decodeEntries(d) }},
	uintField("Commit", func(m *message) *replstore.LSN { return &m.Commit }),
	intField("Time", func(m *message) *int64 { return &m.Time }),
	boolField("WantAck", func(m *message) *bool { return &m.WantAck }),
	uintField("ReadSeq", func(m *message) *uint64 { return &m.ReadSeq }),
	boolField("Reject", func(m *message) *bool { return &m.Reject }),
	uintField("Hint", func(m *message) *replstore.LSN { return &m.Hint }),
	uintField("Received", func(m *message) *replstore.LSN { return &m.Received }),
	uintField("Durable", func(m *message) *replstore.LSN { return &m.Durable }),
	uintField("Applied", func(m *message) *replstore.LSN { return &m.Applied }),
	posField("Last", func(m *message) *replstore.Position { return &m.Last }),
	strField("Target", func(m *message) *replstore.NodeID { return &m.Target }),
	{"Update", func(m *message) bool { return m.Update != nil },
		func(b []byte, m *message) ([]byte, error) { return appendUpdate(b, m.Update, 1) },
		func(d *decoder, m *message) { m.Update = decodeUpdate(d, 1) }},
	{"Snapshot", func(m *message) bool { return m.Snapshot != nil },
		func(b []byte, m *message) ([]byte, error) { return appendStruct(b, m.Snapshot, chunkFields[:]) },
		func(d *decoder, m *message) {
			m.Snapshot = new(replstore.SnapshotChunk)
			decodeStruct(d, "Snapshot fields", m.Snapshot, chunkFields[:])
		}},
	// Version 2: client requests between nodes and advertised replicas.
	uintField("ReqID", func(m *message) *uint64 { return &m.ReqID }),
	bytesField("Data", func(m *message) *[]byte { return &m.Data }),
	uintField("ErrCode", func(m *message) *replstore.ErrCode { return &m.ErrCode }),
	strField("ErrText", func(m *message) *string { return &m.ErrText }),
	uintField("Op", func(m *message) *replstore.ReadOp { return &m.Op }),
	posField("AtLeast", func(m *message) *replstore.Position { return &m.AtLeast }),
	boolField("Confirm", func(m *message) *bool { return &m.Confirm }),
	uintField("WaitTicks", func(m *message) *uint32 { return &m.WaitTicks }),
	{"Replicas", func(m *message) bool { return len(m.Replicas) > 0 },
		func(b []byte, m *message) ([]byte, error) {
			b = binary.AppendUvarint(b, uint64(len(m.Replicas)))
			for i := range m.Replicas {
				var err error
				if b, err = appendStruct(b, &m.Replicas[i], replicaFields[:]); err != nil {
					return b, err
				}
			}
			return b, nil
		},
		func(d *decoder, m *message) {
			n := d.count("Replicas", 1)
			m.Replicas = make([]replstore.ReplicaState, n)
			for i := range m.Replicas {
				decodeStruct(d, "Replicas fields", &m.Replicas[i], replicaFields[:])
			}
			if n == 0 {
				m.Replicas = nil
				d.fail("Replicas: present but empty")
			}
		}},
	// The leader's membership version of the receiver, echoed in answers
	// (replstore.Message.MemberVersion).
	uintField("MemberVersion", func(m *message) *uint64 { return &m.MemberVersion }),
	// Version 3: storage incarnations (replstore.Message.Incarnation).
	uintField("Incarnation", func(m *message) *uint64 { return &m.Incarnation }),
}

var replicaFields = [...]field[replstore.ReplicaState]{
	strField("ID", func(r *replstore.ReplicaState) *replstore.NodeID { return &r.ID }),
	boolField("Leader", func(r *replstore.ReplicaState) *bool { return &r.Leader }),
	uintField("Epoch", func(r *replstore.ReplicaState) *replstore.Epoch { return &r.Epoch }),
	posField("Applied", func(r *replstore.ReplicaState) *replstore.Position { return &r.Applied }),
	uintField("LagEntries", func(r *replstore.ReplicaState) *uint64 { return &r.LagEntries }),
	intField("LagTime", func(r *replstore.ReplicaState) *time.Duration { return &r.LagTime }),
	boolField("Down", func(r *replstore.ReplicaState) *bool { return &r.Down }),
	boolField("CaughtUp", func(r *replstore.ReplicaState) *bool { return &r.CaughtUp }),
}

var chunkFields = [...]field[replstore.SnapshotChunk]{
	posField("Pos", func(c *replstore.SnapshotChunk) *replstore.Position { return &c.Pos }),
	intField("Offset", func(c *replstore.SnapshotChunk) *int64 { return &c.Offset }),
	intField("Total", func(c *replstore.SnapshotChunk) *int64 { return &c.Total }),
	bytesField("Data", func(c *replstore.SnapshotChunk) *[]byte { return &c.Data }),
	boolField("Reseed", func(c *replstore.SnapshotChunk) *bool { return &c.Reseed }),
}

// updateFields lacks Base, which appendUpdate and decodeUpdate handle
// (they count the depth): bit len(updateFields) is Base.
var updateFields = [...]field[replstore.TopologyUpdate]{
	strField("Leader", func(u *replstore.TopologyUpdate) *replstore.NodeID { return &u.Topology.Leader }),
	idsField("Sync", func(u *replstore.TopologyUpdate) *[]replstore.NodeID { return &u.Topology.Sync }),
	idsField("Async", func(u *replstore.TopologyUpdate) *[]replstore.NodeID { return &u.Topology.Async }),
	uintField("Version", func(u *replstore.TopologyUpdate) *uint64 { return &u.Version }),
	boolField("Degraded", func(u *replstore.TopologyUpdate) *bool { return &u.Degraded }),
	uintField("DegradedFrom", func(u *replstore.TopologyUpdate) *replstore.LSN { return &u.DegradedFrom }),
	boolField("Settled", func(u *replstore.TopologyUpdate) *bool { return &u.Settled }),
}

const updateBaseBit = uint64(1) << len(updateFields)

// AppendMessage appends m's payload (no frame header) to dst. It fails
// on a kind outside 1..MaxKind or an Update chain deeper than
// MaxUpdateDepth; dst is then returned unchanged.
func AppendMessage(dst []byte, m *replstore.Message) ([]byte, error) {
	if m.Kind == 0 || m.Kind > MaxKind {
		return dst, fmt.Errorf("%w: %s", ErrUnknownKind, m.Kind)
	}
	out, err := appendStruct(append(dst, byte(m.Kind)), m, msgFields[:])
	if err != nil {
		return dst, err
	}
	return out, nil
}

// AppendMessageFrame appends a whole FrameMessage frame for m to dst.
func AppendMessageFrame(dst []byte, m *replstore.Message) ([]byte, error) {
	start := len(dst)
	out, err := AppendMessage(AppendHeader(dst, FrameMessage, 0), m)
	if err != nil {
		return dst, err
	}
	n := len(out) - start - HeaderLen
	if uint64(n) > 1<<32-1 {
		return dst, fmt.Errorf("%w: message of %d bytes", ErrFrameTooLarge, n)
	}
	binary.BigEndian.PutUint32(out[start+4:], uint32(n))
	return out, nil
}

// DecodeMessage decodes a payload written by AppendMessage. The result
// shares no memory with payload, which may be reused at once.
func DecodeMessage(payload []byte) (replstore.Message, error) {
	var m replstore.Message
	err := (&Decoder{}).Decode(&m, payload)
	return m, err
}

// A Decoder decodes message payloads like DecodeMessage, with less
// allocation: a connection's reader keeps one. It is not safe for
// concurrent use.
type Decoder struct {
	// Names are strings the decoder returns instead of allocating a new
	// one for an equal NodeID (or any other string field): a
	// transport's peers. Optional; not modified.
	Names map[string]replstore.NodeID

	d decoder // reused: the field functions make it escape
}

// Decode decodes payload into *m, which it overwrites entirely; on error
// *m is the zero Message. The result shares no memory with payload.
func (dec *Decoder) Decode(m *replstore.Message, payload []byte) error {
	*m = replstore.Message{}
	dec.d = decoder{b: payload, names: dec.Names}
	d := &dec.d
	defer func() { dec.d = decoder{} }() // keep no reference to payload
	m.Kind = replstore.MsgKind(d.byte("kind"))
	if d.err == nil && (m.Kind == 0 || m.Kind > MaxKind) {
		err := fmt.Errorf("%w: %s", ErrUnknownKind, m.Kind)
		*m = replstore.Message{}
		return err
	}
	decodeStruct(d, "message fields", m, msgFields[:])
	d.end("message")
	if d.err != nil {
		*m = replstore.Message{}
		return d.err
	}
	return nil
}

func appendStruct[T any](dst []byte, v *T, fields []field[T]) ([]byte, error) {
	var mask uint64
	for i := range fields {
		if fields[i].present(v) {
			mask |= 1 << i
		}
	}
	dst = binary.AppendUvarint(dst, mask)
	var err error
	for i := range fields {
		if mask&(1<<i) != 0 && fields[i].append != nil {
			if dst, err = fields[i].append(dst, v); err != nil {
				return nil, err
			}
		}
	}
	return dst, nil
}

func decodeStruct[T any](d *decoder, what string, v *T, fields []field[T]) {
	mask := d.fieldMask(what, 1<<len(fields)-1)
	decodeFields(d, mask, v, fields)
}

func decodeFields[T any](d *decoder, mask uint64, v *T, fields []field[T]) {
	for i := range fields {
		if d.err != nil {
			return
		}
		if mask&(1<<i) != 0 {
			fields[i].decode(d, v)
		}
	}
}

func appendUpdate(dst []byte, u *replstore.TopologyUpdate, depth int) ([]byte, error) {
	if depth > MaxUpdateDepth {
		return nil, fmt.Errorf("%w: more than %d levels of Base", ErrTooDeep, MaxUpdateDepth)
	}
	var mask uint64
	for i := range updateFields {
		if updateFields[i].present(u) {
			mask |= 1 << i
		}
	}
	if u.Base != nil {
		mask |= updateBaseBit
	}
	dst = binary.AppendUvarint(dst, mask)
	for i := range updateFields {
		if mask&(1<<i) != 0 && updateFields[i].append != nil {
			dst, _ = updateFields[i].append(dst, u)
		}
	}
	if u.Base != nil {
		return appendUpdate(dst, u.Base, depth+1)
	}
	return dst, nil
}

func decodeUpdate(d *decoder, depth int) *replstore.TopologyUpdate {
	if depth > MaxUpdateDepth {
		if d.err == nil {
			d.err = fmt.Errorf("%w: more than %d levels of Base", ErrTooDeep, MaxUpdateDepth)
			d.b = nil
		}
		return nil
	}
	u := new(replstore.TopologyUpdate)
	mask := d.fieldMask("update fields", updateBaseBit<<1-1)
	decodeFields(d, mask, u, updateFields[:])
	if mask&updateBaseBit != 0 {
		u.Base = decodeUpdate(d, depth+1)
	}
	return u
}

// An entry is epoch, LSN (uvarints), kind (a byte), time (varint), data.
// minEntryBytes is its smallest size: what count checks entries against.
const minEntryBytes = 5

func appendEntries(dst []byte, es []replstore.Entry) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(es)))
	for i := range es {
		e := &es[i]
		dst = binary.AppendUvarint(dst, uint64(e.Pos.Epoch))
		dst = binary.AppendUvarint(dst, uint64(e.Pos.LSN))
		dst = append(dst, byte(e.Kind))
		dst = binary.AppendVarint(dst, e.Time)
		dst = appendBytes(dst, e.Data)
	}
	return dst
}

func decodeEntries(d *decoder) []replstore.Entry {
	n := d.count("entries", minEntryBytes)
	if d.err != nil || n == 0 {
		if d.err == nil {
			d.fail("entries: present but empty")
		}
		return nil
	}
	es := make([]replstore.Entry, n)
	for i := range es {
		e := &es[i]
		e.Pos.Epoch = replstore.Epoch(d.uvarint("entry epoch"))
		e.Pos.LSN = replstore.LSN(d.uvarint("entry lsn"))
		e.Kind = replstore.EntryKind(d.byte("entry kind"))
		e.Time = d.varint("entry time")
		e.Data = d.bytes("entry data")
	}
	return es
}

// Field constructors, one per Go type.

func strField[T any, S ~string](name string, at func(*T) *S) field[T] {
	return field[T]{name,
		func(v *T) bool { return *at(v) != "" },
		func(b []byte, v *T) ([]byte, error) { return appendString(b, string(*at(v))), nil },
		func(d *decoder, v *T) { *at(v) = S(d.string(name)) }}
}

// uintField is any unsigned integer type, as a uvarint; a value too large
// for the type is refused.
func uintField[T any, U ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uint](name string, at func(*T) *U) field[T] {
	return field[T]{name,
		func(v *T) bool { return *at(v) != 0 },
		func(b []byte, v *T) ([]byte, error) { return binary.AppendUvarint(b, uint64(*at(v))), nil },
		func(d *decoder, v *T) {
			x := d.uvarint(name)
			if *at(v) = U(x); uint64(*at(v)) != x {
				d.fail("%s: %d out of range", name, x)
			}
		}}
}

// intField is any signed integer type, as a varint; a value out of the
// type's range is refused.
func intField[T any, S ~int8 | ~int16 | ~int32 | ~int64 | ~int](name string, at func(*T) *S) field[T] {
	return field[T]{name,
		func(v *T) bool { return *at(v) != 0 },
		func(b []byte, v *T) ([]byte, error) { return binary.AppendVarint(b, int64(*at(v))), nil },
		func(d *decoder, v *T) {
			x := d.varint(name)
			if *at(v) = S(x); int64(*at(v)) != x {
				d.fail("%s: %d out of range", name, x)
			}
		}}
}

func boolField[T any](name string, at func(*T) *bool) field[T] {
	return field[T]{name,
		func(v *T) bool { return *at(v) },
		nil,
		func(d *decoder, v *T) { *at(v) = true }}
}

func posField[T any](name string, at func(*T) *replstore.Position) field[T] {
	return field[T]{name,
		func(v *T) bool { return *at(v) != replstore.Position{} },
		func(b []byte, v *T) ([]byte, error) {
			p := at(v)
			return binary.AppendUvarint(binary.AppendUvarint(b, uint64(p.Epoch)), uint64(p.LSN)), nil
		},
		func(d *decoder, v *T) {
			p := at(v)
			p.Epoch = replstore.Epoch(d.uvarint(name + " epoch"))
			p.LSN = replstore.LSN(d.uvarint(name + " lsn"))
		}}
}

func bytesField[T any](name string, at func(*T) *[]byte) field[T] {
	return field[T]{name,
		func(v *T) bool { return len(*at(v)) > 0 },
		func(b []byte, v *T) ([]byte, error) { return appendBytes(b, *at(v)), nil },
		func(d *decoder, v *T) {
			if *at(v) = d.bytes(name); *at(v) == nil {
				d.fail("%s: present but empty", name)
			}
		}}
}

func idsField[T any](name string, at func(*T) *[]replstore.NodeID) field[T] {
	return field[T]{name,
		func(v *T) bool { return len(*at(v)) > 0 },
		func(b []byte, v *T) ([]byte, error) {
			ids := *at(v)
			b = binary.AppendUvarint(b, uint64(len(ids)))
			for _, id := range ids {
				b = appendString(b, string(id))
			}
			return b, nil
		},
		func(d *decoder, v *T) {
			n := d.count(name, 1)
			if d.err != nil || n == 0 {
				d.fail("%s: present but empty", name)
				return
			}
			ids := make([]replstore.NodeID, n)
			for i := range ids {
				ids[i] = replstore.NodeID(d.string(name))
			}
			*at(v) = ids
		}}
}
