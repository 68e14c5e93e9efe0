package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"testing"

	"github.com/replstore/replstore"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEveryKindRoundTrips enumerates every MsgKind the core names: one
// that wire does not carry (MaxKind not raised) fails here.
func TestEveryKindRoundTrips(t *testing.T) {
	kinds := allKinds(t)
	require.Equal(t, kinds[len(kinds)-1], MaxKind,
		"replstore names MsgKinds 1..%d but wire.MaxKind is %d: raise MaxKind (and check the new kind's fields are in msgFields)",
		kinds[len(kinds)-1], MaxKind)
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				m := genMessage(k).Draw(t, "msg")
				p, err := AppendMessage(nil, &m)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				got, err := DecodeMessage(p)
				if err != nil {
					t.Fatalf("decode: %v\npayload %x", err, p)
				}
				require.Equal(t, m, got)

				// The same through a frame and ReadFrame, with a reused buffer.
				f, err := AppendMessageFrame([]byte("junk"), &m)
				require.NoError(t, err)
				require.Equal(t, "junk", string(f[:4]))
				kind, payload, err := ReadFrame(bufio.NewReader(bytes.NewReader(f[4:])), 0, make([]byte, 0, 64))
				require.NoError(t, err)
				require.Equal(t, FrameMessage, kind)
				require.Equal(t, p, payload)
			})
		})
	}
}

func TestUnknownKindRefused(t *testing.T) {
	for _, k := range []replstore.MsgKind{0, MaxKind + 1, 255} {
		_, err := AppendMessage(nil, &replstore.Message{Kind: k})
		require.ErrorIs(t, err, ErrUnknownKind, "encode %d", k)
		_, err = DecodeMessage([]byte{byte(k), 0})
		require.ErrorIs(t, err, ErrUnknownKind, "decode %d", k)
	}
}

// goldenMessage sets every field, so that golden bytes cover the layout
// of each; goldenHex is its payload. The format must not change by
// accident: if this test fails, either undo the change or bump Version
// and update goldenHex deliberately.
var goldenMessage = replstore.Message{
	Kind: replstore.MsgAppend, From: "n1", To: "n2", Epoch: 7,
	Prev: replstore.Position{Epoch: 6, LSN: 300},
	Entries: []replstore.Entry{
		{Pos: replstore.Position{Epoch: 7, LSN: 301}, Kind: replstore.EntryEpoch, Time: 1700000000000000000},
		{Pos: replstore.Position{Epoch: 7, LSN: 302}, Kind: replstore.EntryCommand, Time: -1, Data: []byte("set k v")},
	},
	Commit: 299, Time: 1700000000000000001, WantAck: true, ReadSeq: 9,
	Reject: true, Hint: 250, Received: 301, Durable: 300, Applied: 299,
	Last: replstore.Position{Epoch: 7, LSN: 302}, Target: "n3",
	Update: &replstore.TopologyUpdate{
		Topology: replstore.Topology{Leader: "n1", Sync: []replstore.NodeID{"n2"}, Async: []replstore.NodeID{"n3", "n4"}},
		Version:  3, Degraded: true, DegradedFrom: 280,
		Base: &replstore.TopologyUpdate{Topology: replstore.Topology{Leader: "n1"}, Version: 2, Settled: true},
	},
	Snapshot: &replstore.SnapshotChunk{Pos: replstore.Position{Epoch: 5, LSN: 200}, Offset: 4096, Total: 10000, Data: []byte{0, 1, 2}, Reseed: true},
	ReqID:    42, Data: []byte("query"), ErrCode: replstore.ErrCodeNotLeader, ErrText: "not the leader",
	Op: replstore.ReadGet, AtLeast: replstore.Position{Epoch: 7, LSN: 290}, Confirm: true, WaitTicks: 100,
	Replicas: []replstore.ReplicaState{
		{ID: "n1", Leader: true, Epoch: 7, Applied: replstore.Position{Epoch: 7, LSN: 299}, CaughtUp: true},
		{ID: "n2", Epoch: 7, Applied: replstore.Position{Epoch: 6, LSN: 250}, LagEntries: 52, LagTime: 1500000, Down: true},
	},
	MemberVersion: 5,
	Incarnation:   1700000000000000005,
}

const goldenHex = "01ffffffff01026e31026e320706ac020207ad02018080d0e2c6bfce972f00" +
	"07ae02000107736574206b2076ab028280d0e2c6bfce972f09fa01ad02ac" +
	"02ab0207ae02026e33bf01026e3101026e3202026e33026e340398024902" +
	"6e31021f05c8018040a09c01030001022a057175657279030e6e6f742074" +
	"6865206c65616465720107a20264028f01026e310707ab027d026e320706" +
	"fa0134c08db701" +
	"05" + // MemberVersion (version 3)
	"8580a8b1e39fe7cb17" // Incarnation (version 3)

func TestGoldenBytes(t *testing.T) {
	// Every field set: a field added to Message must be added here too
	// (and goldenHex updated with it).
	v := reflect.ValueOf(goldenMessage)
	for i := range v.NumField() {
		require.False(t, v.Field(i).IsZero(), "goldenMessage.%s is not set", v.Type().Field(i).Name)
	}
	p, err := AppendMessage(nil, &goldenMessage)
	require.NoError(t, err)
	want, err := hex.DecodeString(goldenHex)
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(p),
		"the Message layout changed: bump wire.Version and update goldenHex only if that is deliberate")
	got, err := DecodeMessage(want)
	require.NoError(t, err)
	require.Equal(t, goldenMessage, got)

	f, err := AppendMessageFrame(nil, &goldenMessage)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("5253%02x%02x%08x", Version, uint8(FrameMessage), len(p)), hex.EncodeToString(f[:HeaderLen]))
}

func TestUpdateDepthBounded(t *testing.T) {
	chain := func(n int) *replstore.TopologyUpdate {
		var u *replstore.TopologyUpdate
		for i := range n {
			u = &replstore.TopologyUpdate{Version: uint64(i + 1), Base: u}
		}
		return u
	}
	m := replstore.Message{Kind: replstore.MsgStatus, Update: chain(MaxUpdateDepth)}
	p, err := AppendMessage(nil, &m)
	require.NoError(t, err)
	got, err := DecodeMessage(p)
	require.NoError(t, err)
	require.Equal(t, m, got)

	m.Update = chain(MaxUpdateDepth + 1)
	_, err = AppendMessage(nil, &m)
	require.ErrorIs(t, err, ErrTooDeep)

	// Hand-made: a chain of 1000 empty updates with Base set each time.
	deep := []byte{byte(replstore.MsgStatus), 0x80, 0x80, 0x04} // mask: bit 16, Update
	for range 1000 {
		deep = binary.AppendUvarint(deep, updateBaseBit)
	}
	deep = append(deep, 0)
	_, err = DecodeMessage(deep)
	require.ErrorIs(t, err, ErrTooDeep)
}

func TestDecodedDataDoesNotAliasPayload(t *testing.T) {
	p, err := AppendMessage(nil, &goldenMessage)
	require.NoError(t, err)
	m, err := DecodeMessage(p)
	require.NoError(t, err)
	for i := range p {
		p[i] = 0xee
	}
	require.Equal(t, goldenMessage, m)
}

func TestTruncatedPayloadsFail(t *testing.T) {
	p, err := AppendMessage(nil, &goldenMessage)
	require.NoError(t, err)
	for n := range len(p) {
		_, err := DecodeMessage(p[:n])
		require.ErrorIs(t, err, ErrMalformed, "prefix of %d bytes", n)
	}
	_, err = DecodeMessage(append(p, 0))
	require.ErrorIs(t, err, ErrMalformed, "trailing byte")
}

// allocated returns the bytes f allocates, averaged over runs calls (so
// that what the runtime and the test framework allocate meanwhile
// hardly counts).
func allocated(runs int, f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

func TestHostileCountsDoNotAllocate(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	cases := map[string][]byte{
		"entries":     append([]byte{byte(replstore.MsgAppend), 0x10}, huge...),
		"from":        append([]byte{byte(replstore.MsgAppend), 0x01}, huge...),
		"entry data":  append([]byte{byte(replstore.MsgAppend), 0x10, 1, 1, 1, 0, 0}, huge...),
		"sync list":   append([]byte{byte(replstore.MsgStatus), 0x80, 0x80, 0x04, 0x02}, huge...),
		"chunk data":  append([]byte{byte(replstore.MsgSnapshot), 0x80, 0x80, 0x08, 0x08}, huge...),
		"mask bits":   {byte(replstore.MsgAppend), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"bad varint":  append([]byte{byte(replstore.MsgAppend), 0x04}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"empty slice": {byte(replstore.MsgAppend), 0x10, 0},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			n := allocated(1000, func() { _, err = DecodeMessage(p) })
			require.ErrorIs(t, err, ErrMalformed)
			require.Less(t, n, uint64(4096), "allocated %d bytes for a %d-byte payload", n, len(p))
		})
	}
}

func TestReadFrameLimits(t *testing.T) {
	good, err := AppendMessageFrame(nil, &goldenMessage)
	require.NoError(t, err)
	read := func(b []byte, max int) (FrameKind, []byte, error) {
		return ReadFrame(bufio.NewReader(bytes.NewReader(b)), max, nil)
	}

	t.Run("oversized refused from the header", func(t *testing.T) {
		// Only the header: had ReadFrame tried to read the body it
		// would report io.ErrUnexpectedEOF instead.
		_, _, err := read(good[:HeaderLen], len(good)-HeaderLen-1)
		require.ErrorIs(t, err, ErrFrameTooLarge)
		_, _, err = read(AppendHeader(nil, FrameMessage, 1<<32-1), 0)
		require.ErrorIs(t, err, ErrFrameTooLarge)
	})
	t.Run("exact limit accepted", func(t *testing.T) {
		_, p, err := read(good, len(good)-HeaderLen)
		require.NoError(t, err)
		require.Equal(t, good[HeaderLen:], p)
	})
	t.Run("bad magic", func(t *testing.T) {
		_, _, err := read([]byte("GET / HTTP/1.1\r\n\r\n"), 0)
		require.ErrorIs(t, err, ErrBadMagic)
	})
	t.Run("version", func(t *testing.T) {
		b := bytes.Clone(good)
		b[2] = Version + 1
		kind, _, err := read(b, 0)
		require.ErrorIs(t, err, ErrVersion)
		require.Equal(t, FrameMessage, kind)
	})
	t.Run("frame kind", func(t *testing.T) {
		for _, k := range []byte{0, byte(maxFrameKind) + 1} {
			b := bytes.Clone(good)
			b[3] = k
			_, _, err := read(b, 0)
			require.ErrorIs(t, err, ErrFrameKind)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for n := 1; n < len(good); n++ {
			_, _, err := read(good[:n], 0)
			require.Error(t, err)
			require.NotErrorIs(t, err, errors.New("eof"))
			if n != 0 {
				require.ErrorContains(t, err, "unexpected EOF", "prefix %d", n)
			}
		}
		_, _, err := read(nil, 0)
		require.Equal(t, "EOF", err.Error(), "a clean end between frames is io.EOF")
	})
	t.Run("lying length allocates what arrived", func(t *testing.T) {
		b := append(AppendHeader(nil, FrameMessage, DefaultMaxFrame), make([]byte, 100)...)
		var err error
		n := allocated(10, func() { _, _, err = read(b, 0) })
		require.ErrorContains(t, err, "unexpected EOF")
		require.Less(t, n, uint64(4*readChunk), "allocated %d bytes for a frame with 100 bytes of body", n)
	})
	t.Run("large frame read in chunks", func(t *testing.T) {
		m := replstore.Message{Kind: replstore.MsgSnapshot, Snapshot: &replstore.SnapshotChunk{Data: bytes.Repeat([]byte("abc"), 300_000)}}
		f, err := AppendMessageFrame(nil, &m)
		require.NoError(t, err)
		_, p, err := read(f, 0)
		require.NoError(t, err)
		got, err := DecodeMessage(p)
		require.NoError(t, err)
		require.Equal(t, m, got)
	})
}

func TestHelloRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := Hello{ClusterID: rapid.String().Draw(t, "cluster"), Version: rapid.Uint8().Draw(t, "version"),
			From: replstore.NodeID(rapid.String().Draw(t, "from")), Want: replstore.NodeID(rapid.String().Draw(t, "want"))}
		got, err := DecodeHello(AppendHello(nil, &h))
		require.NoError(t, err)
		require.Equal(t, h, got)
		a := HelloAnswer{Accepted: rapid.Bool().Draw(t, "ok"), Version: rapid.Uint8().Draw(t, "version"),
			From: replstore.NodeID(rapid.String().Draw(t, "from")), Reason: rapid.String().Draw(t, "reason")}
		gotA, err := DecodeHelloAnswer(AppendHelloAnswer(nil, &a))
		require.NoError(t, err)
		require.Equal(t, a, gotA)
	})
	_, err := DecodeHelloAnswer([]byte{1, 2, 0, 0})
	require.ErrorIs(t, err, ErrMalformed)
	_, err = DecodeHello([]byte{1, 5, 'a'})
	require.ErrorIs(t, err, ErrMalformed)
}

// A Decoder with Names decodes a heartbeat without allocating, and an
// append with one allocation per slice it returns.
func TestDecoderAllocations(t *testing.T) {
	dec := Decoder{Names: map[string]replstore.NodeID{"n1": "n1", "n2": "n2"}}
	hb := replstore.Message{Kind: replstore.MsgAppend, From: "n1", To: "n2", Epoch: 3, Commit: 10, Time: 5, ReadSeq: 1, WantAck: true}
	p, err := AppendMessage(nil, &hb)
	require.NoError(t, err)
	var m replstore.Message
	require.Zero(t, testing.AllocsPerRun(100, func() {
		if err := dec.Decode(&m, p); err != nil {
			t.Fatal(err)
		}
	}))
	require.Equal(t, hb, m)

	app := hb
	app.Entries = []replstore.Entry{{Pos: replstore.Position{Epoch: 3, LSN: 11}, Data: make([]byte, 64)}}
	p, err = AppendMessage(nil, &app)
	require.NoError(t, err)
	require.Equal(t, 2.0, testing.AllocsPerRun(100, func() {
		if err := dec.Decode(&m, p); err != nil {
			t.Fatal(err)
		}
	}), "the Entries slice and the entry's Data")
	require.Equal(t, app, m)

	// On error the message is zeroed, not half-filled.
	require.Error(t, dec.Decode(&m, p[:len(p)-1]))
	require.Equal(t, replstore.Message{}, m)
}

func TestWriteFrameReadFrame(t *testing.T) {
	var stream bytes.Buffer
	bw := bufio.NewWriter(&stream)
	p, err := AppendMessage(nil, &goldenMessage)
	require.NoError(t, err)
	require.NoError(t, WriteFrame(bw, FrameMessage, p))
	require.NoError(t, WriteFrame(bw, FramePing, nil))
	require.NoError(t, WriteFrame(bw, FrameHello, AppendHello(nil, &Hello{ClusterID: "c", Version: Version, From: "n1"})))
	require.NoError(t, bw.Flush())
	f, err := AppendMessageFrame(nil, &goldenMessage)
	require.NoError(t, err)
	require.Equal(t, f, stream.Bytes()[:len(f)], "WriteFrame and AppendMessageFrame agree")

	r := bufio.NewReader(&stream)
	buf := make([]byte, 0, 16) // too small for the message: ReadFrame allocates
	for _, want := range []FrameKind{FrameMessage, FramePing, FrameHello} {
		kind, payload, err := ReadFrame(r, 0, buf)
		require.NoError(t, err)
		require.Equal(t, want, kind)
		if kind == FrameMessage {
			require.Equal(t, p, payload)
		}
	}
	_, _, err = ReadFrame(r, 0, buf)
	require.ErrorIs(t, err, io.EOF)
}
