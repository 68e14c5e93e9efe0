package replstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// ---- commands ----

func TestCommandRoundTrip(t *testing.T) {
	long := strings.Repeat("k", 200) // a two-byte key length
	when := time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC)
	tests := []struct {
		name string
		data []byte
		size int
		want command
	}{
		{"put", AppendPut(nil, "k", []byte("v")), PutSize("k", []byte("v")),
			command{op: opPut, key: []byte("k"), value: []byte("v")}},
		{"put empty value", AppendPut(nil, long, nil), PutSize(long, nil),
			command{op: opPut, key: []byte(long), value: []byte{}}},
		{"delete", AppendDelete(nil, "k"), DeleteSize("k"),
			command{op: opDelete, key: []byte("k")}},
		{"cas absent", AppendCompareAndSwap(nil, "k", 0, []byte("v")), CompareAndSwapSize("k", 0, []byte("v")),
			command{op: opCompareAndSwap, key: []byte("k"), value: []byte("v")}},
		{"cas big version", AppendCompareAndSwap(nil, "k", math.MaxUint64, nil), CompareAndSwapSize("k", math.MaxUint64, nil),
			command{op: opCompareAndSwap, key: []byte("k"), version: math.MaxUint64, value: []byte{}}},
		{"sample", AppendSample(nil, "cpu", when, -1.5), SampleSize("cpu"),
			command{op: opAppendSample, key: []byte("cpu"), time: when.UnixNano(), sample: -1.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.data) != tt.size {
				t.Errorf("encoded %d bytes, size helper says %d", len(tt.data), tt.size)
			}
			got, err := decodeCommand(tt.data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !sameCommand(got, tt.want) {
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCommandAppendsToDst(t *testing.T) {
	dst := make([]byte, 2, 2+PutSize("k", []byte("v")))
	out := AppendPut(dst, "k", []byte("v"))
	if &out[0] != &dst[0] || cap(out) != cap(dst) {
		t.Errorf("AppendPut reallocated a buffer sized with PutSize")
	}
	if c, err := decodeCommand(out[2:]); err != nil || string(c.value) != "v" {
		t.Errorf("decode after prefix = %+v, %v", c, err)
	}
}

func TestCommandDecodeErrors(t *testing.T) {
	put := AppendPut(nil, "key", []byte("value"))
	tests := []struct {
		name string
		data []byte
		want string // in the message
	}{
		{"empty", nil, "empty"},
		{"op zero", []byte{0, 1, 'k'}, "unknown op 0"},
		{"op five", []byte{5, 1, 'k'}, "unknown op 5"},
		{"no key length", []byte{1}, "truncated varint"},
		{"key length truncated varint", []byte{1, 0x80}, "truncated varint"},
		{"key length overlong", []byte{1, 0x81, 0x00, 'k'}, "shortest form"},
		{"key length overflow", slices.Concat([]byte{1}, bytes.Repeat([]byte{0xff}, 9), []byte{2}), "overflows"},
		{"key past end", put[:4], "exceeds"},
		{"empty key", []byte{1, 0, 'v'}, "empty key"},
		{"delete trailing", append(AppendDelete(nil, "k"), 'x'), "trailing"},
		{"cas no version", []byte{3, 1, 'k'}, "truncated varint"},
		{"cas overlong version", []byte{3, 1, 'k', 0x80, 0x00}, "shortest form"},
		{"sample short", AppendSample(nil, "s", time.Unix(0, 1), 1)[:18], "payload is 15 bytes"},
		{"sample long", append(AppendSample(nil, "s", time.Unix(0, 1), 1), 0), "payload is 17 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeCommand(tt.data)
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("err = %v, want ErrBadCommand", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := decodeCommand([]byte{1, 0}); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("empty key: err = %v, want ErrEmptyKey too", err)
	}
}

// FuzzDecode checks that decoding never panics, that anything it accepts
// re-encodes to the same bytes, and that every command round-trips.
func FuzzDecode(f *testing.F) {
	f.Add(AppendPut(nil, "k", []byte("v")), "k", []byte("v"), uint64(7), int64(1), uint64(0))
	f.Add(AppendDelete(nil, "cabin/C14"), "x", []byte{}, uint64(0), int64(-1), math.Float64bits(math.NaN()))
	f.Add(AppendCompareAndSwap(nil, "k", 300, []byte("v")), "κ", []byte{0}, uint64(math.MaxUint64), int64(math.MinInt64), uint64(1))
	f.Add(AppendSample(nil, "cpu", time.Unix(5, 6), 0.25), strings.Repeat("s", 130), []byte(nil), uint64(128), int64(math.MaxInt64), math.Float64bits(-0.0))
	f.Add([]byte{3, 1, 'k', 0x80}, "", []byte(nil), uint64(0), int64(0), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, key string, value []byte, version uint64, nanos int64, bits uint64) {
		if c, err := decodeCommand(data); err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("decode(%x) = %v, not ErrBadCommand", data, err)
			}
		} else if again := encodeCommand(c); !bytes.Equal(again, data) {
			t.Fatalf("decode(%x) re-encodes to %x", data, again)
		}
		if key != "" {
			checkCommandRoundTrip(t, key, value, LSN(version), nanos, math.Float64frombits(bits))
		}
	})
}

// checkCommandRoundTrip encodes each command from the arguments, checks
// its size helper, and decodes it back.
func checkCommandRoundTrip(t *testing.T, key string, value []byte, version LSN, nanos int64, v float64) {
	t.Helper()
	cases := []struct {
		data []byte
		size int
		want command
	}{
		{AppendPut(nil, key, value), PutSize(key, value), command{op: opPut, key: []byte(key), value: value}},
		{AppendDelete(nil, key), DeleteSize(key), command{op: opDelete, key: []byte(key)}},
		{AppendCompareAndSwap(nil, key, version, value), CompareAndSwapSize(key, version, value),
			command{op: opCompareAndSwap, key: []byte(key), version: version, value: value}},
		{AppendSample(nil, key, unixTime(nanos), v), SampleSize(key),
			command{op: opAppendSample, key: []byte(key), time: nanos, sample: v}},
	}
	for _, c := range cases {
		if len(c.data) != c.size {
			t.Fatalf("op %d: encoded %d bytes, size helper says %d", c.want.op, len(c.data), c.size)
		}
		got, err := decodeCommand(c.data)
		if err != nil || !sameCommand(got, c.want) {
			t.Fatalf("op %d: decode(%x) = %+v, %v; want %+v", c.want.op, c.data, got, err, c.want)
		}
	}
}

// encodeCommand encodes c with the exported encoders.
func encodeCommand(c command) []byte {
	key := string(c.key)
	switch c.op {
	case opPut:
		return AppendPut(nil, key, c.value)
	case opDelete:
		return AppendDelete(nil, key)
	case opCompareAndSwap:
		return AppendCompareAndSwap(nil, key, c.version, c.value)
	case opAppendSample:
		return AppendSample(nil, key, unixTime(c.time), c.sample)
	}
	panic(fmt.Sprintf("unknown op %d", c.op))
}

func sameCommand(a, b command) bool {
	return a.op == b.op && bytes.Equal(a.key, b.key) && a.version == b.version &&
		bytes.Equal(a.value, b.value) && a.time == b.time &&
		math.Float64bits(a.sample) == math.Float64bits(b.sample)
}

// ---- applying commands ----

// applyAt applies a command entry at LSN lsn of epoch 1, written at leader
// time lsn*1000 ns.
func applyAt(s *Store, lsn LSN, data []byte) error {
	return s.Apply(Entry{Pos: Position{Epoch: 1, LSN: lsn}, Kind: EntryCommand, Time: int64(lsn) * 1000, Data: data})
}

// applyAll applies cmds at LSNs 1, 2, ... and fails on any error.
func applyAll(t testing.TB, s *Store, cmds ...[]byte) {
	t.Helper()
	for i, c := range cmds {
		if err := applyAt(s, s.LastApplied().LSN+1, c); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
}

func TestStoreApply(t *testing.T) {
	put := func(k, v string) []byte { return AppendPut(nil, k, []byte(v)) }
	cas := func(k string, version LSN, v string) []byte { return AppendCompareAndSwap(nil, k, version, []byte(v)) }
	type want struct {
		present bool
		value   string
		version LSN
	}
	tests := []struct {
		name    string
		prior   [][]byte // applied first, at LSN 1, 2, ...
		cmd     []byte
		wantErr error
		wantMsg string
		want    want // the record at "k" afterwards
	}{
		{"put new", nil, put("k", "v"), nil, "", want{true, "v", 1}},
		{"put overwrites", [][]byte{put("k", "old")}, put("k", "new"), nil, "", want{true, "new", 2}},
		{"put empty value", nil, put("k", ""), nil, "", want{true, "", 1}},
		{"put other key", [][]byte{put("k", "v")}, put("j", "w"), nil, "", want{true, "v", 1}},
		{"delete", [][]byte{put("k", "v")}, AppendDelete(nil, "k"), nil, "", want{}},
		{"delete absent", nil, AppendDelete(nil, "k"), nil, "", want{}},
		{"cas absent with 0", nil, cas("k", 0, "v"), nil, "", want{true, "v", 1}},
		{"cas absent with version", nil, cas("k", 5, "v"), ErrVersionMismatch,
			`key "k" is at version 0, expected 5`, want{}},
		{"cas present with 0", [][]byte{put("k", "v")}, cas("k", 0, "w"), ErrVersionMismatch,
			`key "k" is at version 1, expected 0`, want{true, "v", 1}},
		{"cas matching", [][]byte{put("k", "v")}, cas("k", 1, "w"), nil, "", want{true, "w", 2}},
		{"cas stale", [][]byte{put("k", "v"), put("k", "w")}, cas("k", 1, "x"), ErrVersionMismatch,
			`key "k" is at version 2, expected 1`, want{true, "w", 2}},
		{"cas after delete with 0", [][]byte{put("k", "v"), AppendDelete(nil, "k")}, cas("k", 0, "w"), nil, "", want{true, "w", 3}},
		{"malformed", [][]byte{put("k", "v")}, []byte{9, 1, 'k'}, ErrBadCommand, "unknown op 9", want{true, "v", 1}},
		{"empty data", [][]byte{put("k", "v")}, nil, ErrBadCommand, "empty", want{true, "v", 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			applyAll(t, s, tt.prior...)
			lsn := LSN(len(tt.prior) + 1)
			err := applyAt(s, lsn, tt.cmd)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.wantMsg)
			}
			rec, ok := s.Get("k")
			got := want{ok, string(rec.Value), rec.Pos.LSN}
			if got != tt.want {
				t.Errorf("Get(k) = %+v, want %+v", got, tt.want)
			}
			if ok && !rec.Time.Equal(time.Unix(0, int64(rec.Pos.LSN)*1000)) {
				t.Errorf("record time %v is not its entry's time", rec.Time)
			}
			if s.LastApplied() != (Position{Epoch: 1, LSN: lsn}) {
				t.Errorf("LastApplied = %v, want 1:%d", s.LastApplied(), lsn)
			}
			if err := s.checkInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestStoreIgnoresNonCommandEntries(t *testing.T) {
	s := NewStore()
	applyAll(t, s, AppendPut(nil, "k", []byte("v")))
	err := s.Apply(Entry{Pos: Position{Epoch: 2, LSN: 2}, Kind: EntryEpoch, Data: AppendDelete(nil, "k")})
	if err != nil {
		t.Fatalf("epoch entry: %v", err)
	}
	if _, ok := s.Get("k"); !ok {
		t.Error("an epoch entry changed the state")
	}
	if got := s.LastApplied(); got != (Position{Epoch: 2, LSN: 2}) {
		t.Errorf("LastApplied = %v, want 2:2", got)
	}
}

// Alice and Bob both see cabin C14 free at version 1 and both ask to
// reserve it "only if still free". The log orders their writes; the first
// wins and the second is told the cabin moved on, so nobody is double-booked.
func TestStoreCompareAndSwapReservesCabinOnce(t *testing.T) {
	s := NewStore()
	applyAll(t, s, AppendPut(nil, "cabin/C14", []byte("free")))
	seen, _ := s.Get("cabin/C14")

	alice := AppendCompareAndSwap(nil, "cabin/C14", seen.Pos.LSN, []byte("reserved:alice"))
	bob := AppendCompareAndSwap(nil, "cabin/C14", seen.Pos.LSN, []byte("reserved:bob"))
	if err := applyAt(s, 2, alice); err != nil {
		t.Fatalf("alice: %v", err)
	}
	err := applyAt(s, 3, bob)
	if !errors.Is(err, ErrVersionMismatch) || !strings.Contains(err.Error(), "version 2, expected 1") {
		t.Fatalf("bob: err = %v, want a version mismatch naming versions 2 and 1", err)
	}
	if rec, _ := s.Get("cabin/C14"); string(rec.Value) != "reserved:alice" || rec.Pos.LSN != 2 {
		t.Fatalf("cabin/C14 = %q at %v, want alice's reservation at LSN 2", rec.Value, rec.Pos)
	}

	// Carol claims C15, which nobody has listed yet: version 0 = "only if absent".
	claim := AppendCompareAndSwap(nil, "cabin/C15", 0, []byte("reserved:carol"))
	if err := applyAt(s, 4, claim); err != nil {
		t.Fatalf("carol: %v", err)
	}
	if err := applyAt(s, 5, claim); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("carol again: err = %v, want ErrVersionMismatch", err)
	}
}

func TestStoreAppendSample(t *testing.T) {
	type point struct {
		t int64
		v float64
	}
	tests := []struct {
		name   string
		append []point
		want   []point
	}{
		{"in order", []point{{1, 1}, {2, 2}, {3, 3}}, []point{{1, 1}, {2, 2}, {3, 3}}},
		{"out of order", []point{{3, 3}, {1, 1}, {2, 2}}, []point{{1, 1}, {2, 2}, {3, 3}}},
		{"same time replaces", []point{{1, 1}, {2, 2}, {1, 9}}, []point{{1, 9}, {2, 2}}},
		{"replace last", []point{{1, 1}, {2, 2}, {2, 7}}, []point{{1, 1}, {2, 7}}},
		{"negative and extreme", []point{{0, 0}, {math.MinInt64, -1}, {math.MaxInt64, 1}, {-5, -5}},
			[]point{{math.MinInt64, -1}, {-5, -5}, {0, 0}, {math.MaxInt64, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			for _, p := range tt.append {
				applyAll(t, s, AppendSample(nil, "cpu", unixTime(p.t), p.v))
			}
			all := s.Range("cpu", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
			var got []point
			for _, sm := range all {
				got = append(got, point{sm.Time.UnixNano(), sm.Value})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("series = %v, want %v", got, tt.want)
			}
			latest, ok := s.Latest("cpu")
			if last := tt.want[len(tt.want)-1]; !ok || latest.Time.UnixNano() != last.t || latest.Value != last.v {
				t.Errorf("Latest = %+v, %v; want %v", latest, ok, last)
			}
			if err := s.checkInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestStoreRange(t *testing.T) {
	s := NewStore()
	for _, ns := range []int64{10, 20, 30, 40} {
		applyAll(t, s, AppendSample(nil, "cpu", unixTime(ns), float64(ns)))
	}
	at := unixTime
	farPast, farFuture := time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		series   string
		from, to time.Time
		want     []int64
	}{
		{"all", "cpu", at(0), at(100), []int64{10, 20, 30, 40}},
		{"from inclusive, to exclusive", "cpu", at(20), at(40), []int64{20, 30}},
		{"between samples", "cpu", at(11), at(29), []int64{20}},
		{"empty window", "cpu", at(20), at(20), nil},
		{"reversed window", "cpu", at(40), at(10), nil},
		{"before all", "cpu", at(0), at(10), nil},
		{"after all", "cpu", at(41), at(100), nil},
		{"beyond int64 nanoseconds", "cpu", farPast, farFuture, []int64{10, 20, 30, 40}},
		{"entirely in the far past", "cpu", farPast, farPast.Add(time.Hour), nil},
		{"unknown series", "mem", at(0), at(100), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for _, sm := range s.Range(tt.series, tt.from, tt.to) {
				got = append(got, sm.Time.UnixNano())
				if sm.Value != float64(sm.Time.UnixNano()) || sm.Pos.LSN == 0 {
					t.Errorf("sample %+v lost its value or position", sm)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Range = %v, want %v", got, tt.want)
			}
		})
	}
	if _, ok := s.Latest("mem"); ok {
		t.Error("Latest of an unknown series found a sample")
	}
}

func TestStorePutExistingKeyAllocs(t *testing.T) {
	s := NewStore()
	applyAll(t, s, AppendPut(nil, "sensor/42", []byte("old")))
	e := Entry{Pos: Position{Epoch: 1, LSN: 2}, Kind: EntryCommand, Data: AppendPut(nil, "sensor/42", []byte("new"))}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := s.Apply(e); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Put of an existing key: %v allocations, want 0", allocs)
	}
}

func BenchmarkStoreApplyPut(b *testing.B) {
	const keys = 1024
	s := NewStore()
	entries := make([]Entry, keys)
	value := []byte("temperature=21.5")
	for i := range entries {
		key := fmt.Sprintf("sensor/%04d", i)
		data := AppendPut(make([]byte, 0, PutSize(key, value)), key, value)
		entries[i] = Entry{Pos: Position{Epoch: 1, LSN: LSN(i + 1)}, Kind: EntryCommand, Data: data}
		if err := s.Apply(entries[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Apply(entries[i%keys]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// ---- reference model ----

// model is the naive store the real one is checked against: plain maps,
// a slice scanned linearly, and its own decoder built on bytes.Reader.
type model struct {
	records map[string]Record
	series  map[string][]Sample // sorted by time
	applied Position
}

func newModel() *model {
	return &model{records: map[string]Record{}, series: map[string][]Sample{}}
}

type modelCommand struct {
	op      byte
	key     string
	version LSN
	value   []byte
	time    int64
	sample  float64
}

// modelDecode reports ok=false for anything malformed.
func modelDecode(data []byte) (c modelCommand, ok bool) {
	r := bytes.NewReader(data)
	op, err := r.ReadByte()
	if err != nil {
		return c, false
	}
	n, ok := modelUvarint(r)
	if !ok || n == 0 || n > uint64(r.Len()) {
		return c, false
	}
	key := make([]byte, n)
	_, _ = io.ReadFull(r, key)
	rest, _ := io.ReadAll(r)
	c = modelCommand{op: op, key: string(key)}
	switch op {
	case 1:
		c.value = rest
	case 2:
		return c, len(rest) == 0
	case 3:
		rr := bytes.NewReader(rest)
		v, ok := modelUvarint(rr)
		c.version, c.value = LSN(v), rest[len(rest)-rr.Len():]
		return c, ok
	case 4:
		if len(rest) != 16 {
			return c, false
		}
		c.time = int64(binary.LittleEndian.Uint64(rest))
		c.sample = math.Float64frombits(binary.LittleEndian.Uint64(rest[8:]))
	default:
		return c, false
	}
	return c, true
}

// modelUvarint accepts only shortest-form uvarints.
func modelUvarint(r *bytes.Reader) (uint64, bool) {
	before := r.Len()
	x, err := binary.ReadUvarint(r)
	return x, err == nil && before-r.Len() == len(binary.AppendUvarint(nil, x))
}

func (m *model) apply(e Entry) error {
	m.applied = e.Pos
	if e.Kind != EntryCommand {
		return nil
	}
	c, ok := modelDecode(e.Data)
	if !ok {
		return ErrBadCommand
	}
	rec := Record{Key: c.key, Value: c.value, Pos: e.Pos, Time: time.Unix(0, e.Time)}
	switch c.op {
	case 1:
		m.records[c.key] = rec
	case 2:
		delete(m.records, c.key)
	case 3:
		old, exists := m.records[c.key]
		if (c.version == 0 && exists) || (c.version != 0 && (!exists || old.Pos.LSN != c.version)) {
			return ErrVersionMismatch
		}
		m.records[c.key] = rec
	case 4:
		m.addSample(c.key, Sample{Time: time.Unix(0, c.time), Value: c.sample, Pos: e.Pos})
	}
	return nil
}

func (m *model) addSample(name string, sm Sample) {
	list := m.series[name]
	for i := range list {
		if list[i].Time.Equal(sm.Time) {
			list[i] = sm
			return
		}
	}
	list = append(list, sm)
	slices.SortFunc(list, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	m.series[name] = list
}

func (m *model) latest(name string) (Sample, bool) {
	list := m.series[name]
	if len(list) == 0 {
		return Sample{}, false
	}
	return list[len(list)-1], true
}

func (m *model) rangeSamples(name string, from, to time.Time) []Sample {
	var out []Sample
	for _, sm := range m.series[name] {
		if !sm.Time.Before(from) && sm.Time.Before(to) {
			out = append(out, sm)
		}
	}
	return out
}

var (
	modelKeys   = []string{"a", "b", "cabin/C14", "κ"}
	modelSeries = []string{"a", "cpu", "mem"}
)

// TestStoreMatchesModel applies random command sequences, malformed ones
// included, to a Store and to the model, and compares every read after
// every step. On failure rapid prints the steps and how to replay them.
func TestStoreMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, m := NewStore(), newModel()
		pos := Position{Epoch: 1}
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for i := range steps {
			pos.LSN++
			if rapid.IntRange(0, 9).Draw(t, "new epoch") == 0 {
				pos.Epoch++
			}
			e := drawEntry(t, m, pos)
			got, want := s.Apply(e), m.apply(e)
			if !sameResult(got, want) {
				t.Fatalf("step %d: Apply = %v, model says %v", i, got, want)
			}
			checkAgainstModel(t, s, m)
		}
		restored := NewStore()
		snap := snapshotBytes(t, s)
		if err := restored.Restore(bytes.NewReader(snap)); err != nil {
			t.Fatalf("restore: %v", err)
		}
		checkAgainstModel(t, restored, m)
		if again := snapshotBytes(t, restored); !bytes.Equal(again, snap) {
			t.Fatalf("re-snapshot differs from the snapshot restored")
		}
	})
}

func drawEntry(t *rapid.T, m *model, pos Position) Entry {
	e := Entry{Pos: pos, Kind: EntryCommand, Time: rapid.Int64().Draw(t, "leader time")}
	if rapid.IntRange(0, 9).Draw(t, "epoch entry") == 0 {
		e.Kind = EntryEpoch
	}
	valid := drawCommand(t, m)
	switch rapid.IntRange(0, 9).Draw(t, "malform") {
	case 0:
		e.Data = rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(t, "random bytes")
	case 1:
		e.Data = valid[:rapid.IntRange(0, len(valid)).Draw(t, "truncate at")]
	case 2:
		e.Data = slices.Clone(valid)
		e.Data[rapid.IntRange(0, len(valid)-1).Draw(t, "flip byte")] ^= rapid.ByteRange(1, 255).Draw(t, "flip mask")
	default:
		e.Data = valid
	}
	return e
}

func drawCommand(t *rapid.T, m *model) []byte {
	key := rapid.SampledFrom(modelKeys).Draw(t, "key")
	value := rapid.SliceOfN(rapid.Byte(), 0, 4).Draw(t, "value")
	switch rapid.IntRange(0, 3).Draw(t, "op") {
	case 0:
		return AppendPut(nil, key, value)
	case 1:
		return AppendDelete(nil, key)
	case 2:
		version := rapid.Uint64Range(0, 70).Draw(t, "version")
		if rec, ok := m.records[key]; ok && rapid.Bool().Draw(t, "current version") {
			version = uint64(rec.Pos.LSN)
		}
		return AppendCompareAndSwap(nil, key, LSN(version), value)
	}
	name := rapid.SampledFrom(modelSeries).Draw(t, "series")
	ns := rapid.OneOf(rapid.Int64Range(-5, 5), rapid.Int64()).Draw(t, "sample time")
	v := math.Float64frombits(rapid.Uint64().Draw(t, "sample bits"))
	return AppendSample(nil, name, unixTime(ns), v)
}

// sameResult compares Apply results by sentinel.
func sameResult(got, want error) bool {
	if want == nil {
		return got == nil
	}
	return errors.Is(got, want)
}

func checkAgainstModel(t *rapid.T, s *Store, m *model) {
	if err := s.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	if s.LastApplied() != m.applied || s.Len() != len(m.records) {
		t.Fatalf("LastApplied, Len = %v, %d; model %v, %d", s.LastApplied(), s.Len(), m.applied, len(m.records))
	}
	for _, key := range modelKeys {
		got, ok := s.Get(key)
		want, wantOK := m.records[key]
		if ok != wantOK || (ok && !sameRecord(got, want)) {
			t.Fatalf("Get(%q) = %+v, %v; model %+v, %v", key, got, ok, want, wantOK)
		}
	}
	from := unixTime(rapid.Int64Range(-6, 6).Draw(t, "range from"))
	to := unixTime(rapid.Int64Range(-6, 6).Draw(t, "range to"))
	for _, name := range modelSeries {
		got, ok := s.Latest(name)
		want, wantOK := m.latest(name)
		if ok != wantOK || (ok && !sameSample(got, want)) {
			t.Fatalf("Latest(%q) = %+v, %v; model %+v, %v", name, got, ok, want, wantOK)
		}
		checkRange(t, s, m, name, from, to)
		checkRange(t, s, m, name, time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	}
}

func checkRange(t *rapid.T, s *Store, m *model, name string, from, to time.Time) {
	got, want := s.Range(name, from, to), m.rangeSamples(name, from, to)
	if !slices.EqualFunc(got, want, sameSample) {
		t.Fatalf("Range(%q, %v, %v) = %+v; model %+v", name, from, to, got, want)
	}
}

func sameRecord(a, b Record) bool {
	return a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.Pos == b.Pos && a.Time.Equal(b.Time)
}

func sameSample(a, b Sample) bool {
	return a.Time.Equal(b.Time) && math.Float64bits(a.Value) == math.Float64bits(b.Value) && a.Pos == b.Pos
}

// ---- snapshots ----

func snapshotBytes(t interface{ Fatalf(string, ...any) }, s *Store) []byte {
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return buf.Bytes()
}

// newPopulatedStore holds records, a deleted key, CAS history, series with
// out-of-order and replaced samples, and an epoch entry.
func newPopulatedStore(t *testing.T) *Store {
	t.Helper()
	s := NewStore()
	applyAll(t, s,
		AppendPut(nil, "b", []byte("bee")),
		AppendPut(nil, "a", []byte("")),
		AppendPut(nil, "gone", []byte("x")),
		AppendDelete(nil, "gone"),
		AppendCompareAndSwap(nil, "cabin/C14", 0, []byte("reserved")),
		AppendSample(nil, "cpu", unixTime(30), 0.3),
		AppendSample(nil, "cpu", unixTime(10), 0.1),
		AppendSample(nil, "cpu", unixTime(10), math.NaN()),
		AppendSample(nil, "mem", unixTime(-7), 1e9),
	)
	if err := s.Apply(Entry{Pos: Position{Epoch: 2, LSN: 10}, Kind: EntryEpoch}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreSnapshotRoundTrip(t *testing.T) {
	for _, src := range []*Store{NewStore(), newPopulatedStore(t)} {
		snap := snapshotBytes(t, src)
		dst := NewStore()
		applyAll(t, dst, AppendPut(nil, "stale", []byte("replaced by the restore")))
		if err := dst.Restore(bytes.NewReader(snap)); err != nil {
			t.Fatalf("restore: %v", err)
		}
		if again := snapshotBytes(t, dst); !bytes.Equal(again, snap) {
			t.Errorf("re-snapshot differs:\n got %x\nwant %x", again, snap)
		}
		checkSameReads(t, dst, src)
	}
}

func checkSameReads(t *testing.T, got, want *Store) {
	t.Helper()
	if got.LastApplied() != want.LastApplied() || got.Len() != want.Len() {
		t.Errorf("LastApplied, Len = %v, %d; want %v, %d", got.LastApplied(), got.Len(), want.LastApplied(), want.Len())
	}
	for _, key := range []string{"a", "b", "cabin/C14", "gone", "stale"} {
		g, gok := got.Get(key)
		w, wok := want.Get(key)
		if gok != wok || (gok && !sameRecord(g, w)) {
			t.Errorf("Get(%q) = %+v, %v; want %+v, %v", key, g, gok, w, wok)
		}
	}
	for _, name := range []string{"cpu", "mem", "none"} {
		g, gok := got.Latest(name)
		w, wok := want.Latest(name)
		if gok != wok || (gok && !sameSample(g, w)) {
			t.Errorf("Latest(%q) = %+v, %v; want %+v, %v", name, g, gok, w, wok)
		}
		from, to := time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		if g, w := got.Range(name, from, to), want.Range(name, from, to); !slices.EqualFunc(g, w, sameSample) {
			t.Errorf("Range(%q) = %+v; want %+v", name, g, w)
		}
	}
}

// checkRestoreRejected restores bad into a populated store and checks that
// it fails with ErrBadSnapshot and leaves the store as it was.
func checkRestoreRejected(t *testing.T, target *Store, before, bad []byte, mention string) {
	t.Helper()
	err := target.Restore(bytes.NewReader(bad))
	if !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("restore = %v, want ErrBadSnapshot", err)
	}
	if !strings.Contains(err.Error(), mention) {
		t.Errorf("restore = %q, want it to mention %q", err, mention)
	}
	if after := snapshotBytes(t, target); !bytes.Equal(after, before) {
		t.Fatalf("a rejected restore changed the store")
	}
}

func TestStoreRestoreRejectsTruncation(t *testing.T) {
	snap := snapshotBytes(t, newPopulatedStore(t))
	target := NewStore()
	applyAll(t, target, AppendPut(nil, "keep", []byte("me")))
	before := snapshotBytes(t, target)
	for n := range len(snap) {
		checkRestoreRejected(t, target, before, snap[:n], "")
	}
	checkRestoreRejected(t, target, before, append(slices.Clone(snap), 0), "length")
}

func TestStoreRestoreRejectsBitFlips(t *testing.T) {
	snap := snapshotBytes(t, newPopulatedStore(t))
	target := NewStore()
	applyAll(t, target, AppendPut(nil, "keep", []byte("me")))
	before := snapshotBytes(t, target)
	for i := range len(snap) {
		for bit := range 8 {
			bad := slices.Clone(snap)
			bad[i] ^= 1 << bit
			checkRestoreRejected(t, target, before, bad, "")
		}
	}
}

// TestStoreRestoreRejectsBadStructure feeds snapshots whose length and
// checksum are right but whose content is not a valid state.
func TestStoreRestoreRejectsBadStructure(t *testing.T) {
	rec := func(b []byte, key string) []byte {
		b = appendSnapshotBytes(b, []byte(key))
		b = appendSnapshotBytes(b, []byte("v"))
		b = appendSnapshotPosition(b, Position{Epoch: 1, LSN: 1})
		return binary.LittleEndian.AppendUint64(b, 0)
	}
	sm := func(b []byte, ns int64) []byte {
		b = binary.LittleEndian.AppendUint64(b, uint64(ns))
		b = binary.LittleEndian.AppendUint64(b, 0)
		return appendSnapshotPosition(b, Position{Epoch: 1, LSN: 1})
	}
	noSeries := []byte{0}
	tests := []struct {
		name    string
		body    []byte
		mention string
	}{
		{"valid", slices.Concat([]byte{1}, rec(nil, "a"), []byte{1, 1, 's', 2}, sm(nil, 1), sm(nil, 2)), ""},
		{"unsorted keys", slices.Concat([]byte{2}, rec(nil, "b"), rec(nil, "a"), noSeries), `"a" does not sort after "b"`},
		{"duplicate keys", slices.Concat([]byte{2}, rec(nil, "a"), rec(nil, "a"), noSeries), "does not sort after"},
		{"empty key", slices.Concat([]byte{1}, rec(nil, ""), noSeries), "empty record key"},
		{"empty series", []byte{0, 1, 1, 's', 0}, "has no samples"},
		{"unsorted samples", slices.Concat([]byte{0, 1, 1, 's', 2}, sm(nil, 2), sm(nil, 1)), "is not after"},
		{"count past end", []byte{0x7f}, "record count 127 exceeds"},
		{"value past end", []byte{1, 1, 'a', 9, 'v'}, "record value length 9 exceeds"},
		{"overlong varint", []byte{0x80, 0x00, 0}, "shortest form"},
		{"missing series count", []byte{0}, "truncated varint"},
		{"trailing bytes", []byte{0, 0, 0}, "1 trailing bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := NewStore()
			applyAll(t, target, AppendPut(nil, "keep", []byte("me")))
			before := snapshotBytes(t, target)
			data := sealSnapshot(snapshotMagic, snapshotVersion, tt.body)
			if tt.mention == "" {
				if err := target.Restore(bytes.NewReader(data)); err != nil {
					t.Fatalf("valid hand-built snapshot: %v", err)
				}
				return
			}
			checkRestoreRejected(t, target, before, data, tt.mention)
		})
	}
	t.Run("wrong magic", func(t *testing.T) {
		checkRestoreRejected(t, NewStore(), snapshotBytes(t, NewStore()), sealSnapshot("walfile!", snapshotVersion, []byte{0, 0}), "not a store snapshot")
	})
	t.Run("unsupported version", func(t *testing.T) {
		checkRestoreRejected(t, NewStore(), snapshotBytes(t, NewStore()), sealSnapshot(snapshotMagic, 2, []byte{0, 0}), "unsupported version 2")
	})
}

// sealSnapshot frames body with a header (applied 3:7) and a checksum.
func sealSnapshot(magic string, version uint32, body []byte) []byte {
	b := append([]byte(magic), binary.LittleEndian.AppendUint32(nil, version)...)
	b = binary.LittleEndian.AppendUint64(b, uint64(snapshotHeaderBytes+len(body)+snapshotCRCBytes))
	b = binary.LittleEndian.AppendUint64(b, 3)
	b = binary.LittleEndian.AppendUint64(b, 7)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

type failingIO struct{}

var errDiskGone = errors.New("disk gone")

func (failingIO) Read([]byte) (int, error)  { return 0, errDiskGone }
func (failingIO) Write([]byte) (int, error) { return 0, errDiskGone }

func TestStoreSnapshotIOErrors(t *testing.T) {
	s := newPopulatedStore(t)
	before := snapshotBytes(t, s)
	if err := s.Snapshot(failingIO{}); !errors.Is(err, errDiskGone) {
		t.Errorf("Snapshot to a failing writer = %v, want its error", err)
	}
	if err := s.Restore(failingIO{}); !errors.Is(err, errDiskGone) {
		t.Errorf("Restore from a failing reader = %v, want its error", err)
	}
	if after := snapshotBytes(t, s); !bytes.Equal(after, before) {
		t.Error("a failed Restore changed the store")
	}
}

// ---- concurrency ----

// TestStoreConcurrentReadsDuringApply runs readers while the node applies
// (run it with -race). Entry 3k+1 writes "a", 3k+2 writes "b" and 3k+3
// adds a sample at time 3k+3 to "seq"; every value is its own LSN. A Read
// must see exactly the prefix of the log ending at tx.Applied().
func TestStoreConcurrentReadsDuringApply(t *testing.T) {
	const entries = 3000
	s := NewStore()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { readUntil(t, s, stop) })
	}
	for lsn := LSN(1); lsn <= entries; lsn++ {
		if err := applyAt(s, lsn, sequenceCommand(lsn)); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	checkPrefix(t, s)
}

func sequenceCommand(lsn LSN) []byte {
	value := binary.AppendUvarint(nil, uint64(lsn))
	switch lsn % 3 {
	case 1:
		return AppendPut(nil, "a", value)
	case 2:
		return AppendPut(nil, "b", value)
	}
	return AppendSample(nil, "seq", unixTime(int64(lsn)), float64(lsn))
}

func readUntil(t *testing.T, s *Store, stop <-chan struct{}) {
	var last LSN
	for {
		select {
		case <-stop:
			return
		default:
		}
		applied := s.LastApplied().LSN
		if applied < last {
			t.Errorf("LastApplied went back from %d to %d", last, applied)
			return
		}
		last = applied
		if !checkPrefix(t, s) {
			return
		}
		s.Get("a")
		s.Range("seq", unixTime(0), unixTime(math.MaxInt64))
	}
}

// checkPrefix reads everything in one ReadTx and checks it matches the
// applied position.
func checkPrefix(t *testing.T, s *Store) bool {
	ok := true
	s.Read(func(tx *ReadTx) {
		applied := tx.Applied().LSN
		var newest LSN
		for _, key := range []string{"a", "b"} {
			if rec, found := tx.Get(key); found {
				v, _ := binary.Uvarint(rec.Value)
				if LSN(v) != rec.Pos.LSN || rec.Pos.LSN > applied {
					t.Errorf("at %d: %s = %d written at %v", applied, key, v, rec.Pos)
					ok = false
				}
				newest = max(newest, rec.Pos.LSN)
			}
		}
		samples := tx.Range("seq", unixTime(0), unixTime(math.MaxInt64))
		if latest, found := tx.Latest("seq"); found {
			newest = max(newest, latest.Pos.LSN)
		}
		if newest != applied || len(samples) != int(applied/3) {
			t.Errorf("at %d: newest write %d, %d samples; not one prefix", applied, newest, len(samples))
			ok = false
		}
	})
	return ok
}
