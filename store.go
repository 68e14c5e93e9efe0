package replstore

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// ErrBadSnapshot is returned by Store.Restore for a snapshot that is
// truncated, corrupted, of another format or of an unsupported version.
// The store is left unchanged.
var ErrBadSnapshot = errors.New("replstore: bad snapshot")

// Record is one keyed record of a Store.
type Record struct {
	Key string
	// Value aliases the Data of the entry that wrote it (entries are
	// immutable). Callers must not modify it.
	Value []byte
	// Pos is the entry that last wrote the record; Pos.LSN is the record's
	// version, the one CompareAndSwap compares.
	Pos Position
	// Time is the leader's time of that entry.
	Time time.Time
}

// Sample is one point of a time series.
type Sample struct {
	Time  time.Time // from the command, not a clock
	Value float64
	Pos   Position // the entry that wrote it
}

// Store is the built-in StateMachine: keyed records with put, delete and
// compare-and-swap on version, and time series of samples.
//
// Apply and Restore are called by one goroutine (the node's); reads may
// come from any goroutine at the same time. A write allocates nothing
// beyond what a new key or a new sample needs: Values alias the entries'
// Data instead of copying it, which is safe because entries are immutable.
type Store struct {
	mu    sync.RWMutex // guards state and frozen: Apply and Restore write, reads share
	state storeState
	// frozen counts snapshots taken by SnapshotFunc and not yet written:
	// while any is, writes copy instead of changing shared objects.
	frozen int
}

var _ StateMachine = (*Store)(nil)

// storeState is everything a Store holds; Restore swaps it whole.
type storeState struct {
	records map[string]*record // Invariant: keys non-empty, values non-nil
	series  map[string]*series // Invariant: names non-empty, series non-empty
	applied Position           // the last entry applied, of any kind
	// cow: a frozen copy shares records and sample arrays with this
	// state, so writes must replace them, not change them in place.
	cow bool
}

// record is a Record without its key, updated in place by a write.
type record struct {
	value []byte // aliases Entry.Data
	pos   Position
	time  int64 // Unix ns
}

// series holds the samples of one series.
type series struct {
	samples []sample // Invariant: time strictly increases
}

type sample struct {
	time  int64 // Unix ns
	value float64
	pos   Position
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{state: newStoreState()}
}

func newStoreState() storeState {
	return storeState{records: map[string]*record{}, series: map[string]*series{}}
}

// Apply implements StateMachine. Entries of a kind other than EntryCommand
// only move LastApplied. A malformed command fails with ErrBadCommand and a
// CompareAndSwap whose version does not match with ErrVersionMismatch;
// neither changes a record, but both count as applied. Apply reads no
// clock: record times come from e.Time, sample times from the command.
func (s *Store) Apply(e Entry) error {
	if e.Kind != EntryCommand {
		s.mu.Lock()
		s.state.applied = e.Pos
		s.mu.Unlock()
		return nil
	}
	cmd, err := decodeCommand(e.Data)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.applied = e.Pos
	s.state.cow = s.frozen > 0
	if err != nil {
		return err
	}
	return s.state.apply(cmd, e)
}

func (st *storeState) apply(c command, e Entry) error {
	switch c.op {
	case opPut:
		st.put(c.key, c.value, e)
	case opDelete:
		delete(st.records, string(c.key))
	case opCompareAndSwap:
		return st.compareAndSwap(c, e)
	case opAppendSample:
		st.appendSample(c.key, sample{time: c.time, value: c.sample, pos: e.Pos})
	}
	return nil
}

// put writes key in place if it exists, so that overwriting allocates
// nothing (m[string(b)] does not allocate).
func (st *storeState) put(key, value []byte, e Entry) {
	if r, ok := st.records[string(key)]; ok && !st.cow {
		r.value, r.pos, r.time = value, e.Pos, e.Time
		return
	}
	st.records[string(key)] = &record{value: value, pos: e.Pos, time: e.Time}
}

func (st *storeState) compareAndSwap(c command, e Entry) error {
	r, exists := st.records[string(c.key)]
	var current LSN
	if exists {
		current = r.pos.LSN
	}
	// Version 0 asks for absence; a present record never matches it, even
	// one written at LSN 0 by a test.
	matches := exists && c.version != 0 && current == c.version ||
		!exists && c.version == 0
	if !matches {
		return fmt.Errorf("%w: key %q is at version %d, expected %d", ErrVersionMismatch, c.key, current, c.version)
	}
	st.put(c.key, c.value, e)
	return nil
}

func (st *storeState) appendSample(name []byte, sm sample) {
	ser, ok := st.series[string(name)]
	if !ok {
		ser = &series{}
		st.series[string(name)] = ser
	} else if st.cow {
		// A frozen copy shares the samples' array: change a copy.
		ser = &series{samples: slices.Clone(ser.samples)}
		st.series[string(name)] = ser
	}
	ser.add(sm)
}

// add inserts sm in time order, replacing a sample at the same time.
func (ser *series) add(sm sample) {
	n := len(ser.samples)
	if n == 0 || ser.samples[n-1].time < sm.time {
		ser.samples = append(ser.samples, sm)
		return
	}
	i, found := slices.BinarySearchFunc(ser.samples, sm.time, compareSampleTime)
	if found {
		ser.samples[i] = sm
		return
	}
	ser.samples = slices.Insert(ser.samples, i, sm)
}

func compareSampleTime(sm sample, t int64) int { return cmp.Compare(sm.time, t) }

// Get returns the record at key.
func (s *Store) Get(key string) (Record, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.get(key)
}

// Latest returns the sample of series with the greatest time.
func (s *Store) Latest(series string) (Sample, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.latest(series)
}

// Range returns the samples of series with from <= Time < to, in time
// order; nil if there are none.
func (s *Store) Range(series string, from, to time.Time) []Sample {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.rangeSamples(series, from, to)
}

// Len returns the number of records.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.state.records)
}

// LastApplied returns the Position of the last entry applied, of any kind
// and whatever its result, or the Position a Restore loaded.
func (s *Store) LastApplied() Position {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.applied
}

// ReadTx is a read-only view of a Store at one applied Position. It is
// valid only inside the function passed to Store.Read.
type ReadTx struct {
	state *storeState
}

// Read calls fn with a view that no Apply changes while fn runs, so that
// every read through it sees the same prefix of the log, the one ending at
// tx.Applied(). fn must not call Apply or Restore, and should be short:
// it holds up Apply.
func (s *Store) Read(fn func(tx *ReadTx)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(&ReadTx{state: &s.state})
}

// Get is Store.Get at the view's position.
func (tx *ReadTx) Get(key string) (Record, bool) { return tx.state.get(key) }

// Latest is Store.Latest at the view's position.
func (tx *ReadTx) Latest(series string) (Sample, bool) { return tx.state.latest(series) }

// Range is Store.Range at the view's position.
func (tx *ReadTx) Range(series string, from, to time.Time) []Sample {
	return tx.state.rangeSamples(series, from, to)
}

// Applied is the Position of the last entry the view includes.
func (tx *ReadTx) Applied() Position { return tx.state.applied }

func (st *storeState) get(key string) (Record, bool) {
	r, ok := st.records[key]
	if !ok {
		return Record{}, false
	}
	return Record{Key: key, Value: r.value, Pos: r.pos, Time: unixTime(r.time)}, true
}

func (st *storeState) latest(name string) (Sample, bool) {
	ser, ok := st.series[name]
	if !ok {
		return Sample{}, false
	}
	return ser.samples[len(ser.samples)-1].export(), true
}

func (st *storeState) rangeSamples(name string, from, to time.Time) []Sample {
	ser, ok := st.series[name]
	if !ok {
		return nil
	}
	lo, hi := ser.search(from), ser.search(to)
	if lo >= hi {
		return nil
	}
	out := make([]Sample, hi-lo)
	for i, sm := range ser.samples[lo:hi] {
		out[i] = sm.export()
	}
	return out
}

// search returns the index of the first sample at or after t. Times beyond
// what Unix nanoseconds can hold compare as before or after every sample.
func (ser *series) search(t time.Time) int {
	switch {
	case t.Before(minSampleTime):
		return 0
	case t.After(maxSampleTime):
		return len(ser.samples)
	}
	i, _ := slices.BinarySearchFunc(ser.samples, t.UnixNano(), compareSampleTime)
	return i
}

// The range of times that Unix nanoseconds in an int64 can hold.
var (
	minSampleTime = time.Unix(0, math.MinInt64)
	maxSampleTime = time.Unix(0, math.MaxInt64)
)

func (sm sample) export() Sample {
	return Sample{Time: unixTime(sm.time), Value: sm.value, Pos: sm.pos}
}

// unixTime turns Unix nanoseconds into a time in UTC, so that equal
// instants compare equal with == on every replica.
func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// checkInvariants reports the first broken invariant of the store's state.
// Tests call it after every step.
func (s *Store) checkInvariants() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for key, r := range s.state.records {
		if key == "" || r == nil {
			return fmt.Errorf("record %q: empty key or nil record", key)
		}
	}
	for name, ser := range s.state.series {
		if name == "" || ser == nil || len(ser.samples) == 0 {
			return fmt.Errorf("series %q: empty name or no samples", name)
		}
		for i := 1; i < len(ser.samples); i++ {
			if ser.samples[i-1].time >= ser.samples[i].time {
				return fmt.Errorf("series %q: sample %d at %d is not after %d", name, i, ser.samples[i].time, ser.samples[i-1].time)
			}
		}
	}
	return nil
}

// Snapshot implements StateMachine. The format is deterministic: equal
// states give equal bytes.
//
//	header   magic "replsnap" | u32 version | u64 total length | u64 epoch | u64 LSN (last applied)
//	records  uvarint count, by key: key | value | uvarint epoch | uvarint LSN | u64 time
//	series   uvarint count, by name: name | uvarint count | samples by time:
//	         u64 time | u64 value bits | uvarint epoch | uvarint LSN
//	trailer  u32 CRC-32C (Castagnoli) of everything before it
//
// Fixed-width integers are little endian; strings and byte slices are
// uvarint-length-prefixed. The state is encoded in memory under the read
// lock, then written to w without holding it.
func (s *Store) Snapshot(w io.Writer) error {
	s.mu.RLock()
	buf := s.state.appendSnapshot(nil)
	s.mu.RUnlock()
	if _, err := w.Write(buf); err != nil {
		return withOp("write snapshot", err)
	}
	return nil
}

// Restore implements StateMachine. It reads and validates the whole
// snapshot (length, magic, version, checksum, structure) into a new state
// and only then replaces the store's state, so a bad snapshot (an error
// wrapping ErrBadSnapshot) or a failing reader leaves the store unchanged.
// Restored values share one buffer with the snapshot's bytes.
func (s *Store) Restore(r io.Reader) error {
	var data []byte
	var err error
	if sized, ok := r.(interface{ Len() int }); ok {
		// A bytes.Reader or Buffer says how much is coming: read it into
		// one allocation instead of a series of doublings.
		data = make([]byte, sized.Len())
		_, err = io.ReadFull(r, data)
	} else {
		data, err = io.ReadAll(r)
	}
	if err != nil {
		return withOp("read snapshot", err)
	}
	st, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	return nil
}

// Snapshot format constants.
const (
	snapshotMagic   = "replsnap"
	snapshotVersion = 1
	// snapshotHeaderBytes: magic, version, length, epoch, LSN.
	snapshotHeaderBytes = len(snapshotMagic) + 4 + 8 + 8 + 8
	snapshotCRCBytes    = 4
)

var snapshotCRCTable = crc32.MakeTable(crc32.Castagnoli)

// appendSnapshot appends the snapshot of st to dst.
func (st *storeState) appendSnapshot(dst []byte) []byte {
	dst = slices.Grow(dst, st.snapshotSizeHint())
	start := len(dst)
	dst = append(dst, snapshotMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, snapshotVersion)
	lengthAt := len(dst)
	dst = binary.LittleEndian.AppendUint64(dst, 0) // filled in below
	dst = binary.LittleEndian.AppendUint64(dst, uint64(st.applied.Epoch))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(st.applied.LSN))
	dst = st.appendRecords(dst)
	dst = st.appendSeries(dst)
	binary.LittleEndian.PutUint64(dst[lengthAt:], uint64(len(dst)-start+snapshotCRCBytes))
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], snapshotCRCTable))
}

// snapshotSizeHint is about the size of the snapshot, so that encoding
// allocates once.
func (st *storeState) snapshotSizeHint() int {
	n := snapshotHeaderBytes + snapshotCRCBytes + 20
	for key, r := range st.records {
		n += len(key) + len(r.value) + 30
	}
	for name, ser := range st.series {
		n += len(name) + 10 + len(ser.samples)*36
	}
	return n
}

func (st *storeState) appendRecords(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(st.records)))
	for _, key := range slices.Sorted(maps.Keys(st.records)) {
		r := st.records[key]
		dst = binary.AppendUvarint(dst, uint64(len(key)))
		dst = append(dst, key...)
		dst = appendSnapshotBytes(dst, r.value)
		dst = appendSnapshotPosition(dst, r.pos)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(r.time))
	}
	return dst
}

func (st *storeState) appendSeries(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(st.series)))
	for _, name := range slices.Sorted(maps.Keys(st.series)) {
		samples := st.series[name].samples
		dst = binary.AppendUvarint(dst, uint64(len(name)))
		dst = append(dst, name...)
		dst = binary.AppendUvarint(dst, uint64(len(samples)))
		for _, sm := range samples {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(sm.time))
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(sm.value))
			dst = appendSnapshotPosition(dst, sm.pos)
		}
	}
	return dst
}

func appendSnapshotBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendSnapshotPosition(dst []byte, p Position) []byte {
	dst = binary.AppendUvarint(dst, uint64(p.Epoch))
	return binary.AppendUvarint(dst, uint64(p.LSN))
}

// decodeSnapshot validates a whole snapshot and builds the state it holds.
// Every error wraps ErrBadSnapshot.
func decodeSnapshot(data []byte) (storeState, error) {
	if err := checkSnapshotFrame(data); err != nil {
		return storeState{}, err
	}
	body := &snapshotReader{data: data[:len(data)-snapshotCRCBytes], off: snapshotHeaderBytes}
	st := newStoreState()
	st.applied = Position{
		Epoch: Epoch(binary.LittleEndian.Uint64(data[snapshotHeaderBytes-16:])),
		LSN:   LSN(binary.LittleEndian.Uint64(data[snapshotHeaderBytes-8:])),
	}
	body.readRecords(st.records)
	body.readSeries(st.series)
	if body.err == nil && body.off != len(body.data) {
		body.fail("%d trailing bytes", len(body.data)-body.off)
	}
	if body.err != nil {
		return storeState{}, body.err
	}
	return st, nil
}

// checkSnapshotFrame checks length, magic, version and checksum, in that
// order, so the error names the first thing wrong.
func checkSnapshotFrame(data []byte) error {
	if len(data) < snapshotHeaderBytes+snapshotCRCBytes {
		return fmt.Errorf("%w: truncated: %d bytes, the header and checksum alone take %d",
			ErrBadSnapshot, len(data), snapshotHeaderBytes+snapshotCRCBytes)
	}
	if magic := data[:len(snapshotMagic)]; string(magic) != snapshotMagic {
		return fmt.Errorf("%w: not a store snapshot: magic %q, want %q", ErrBadSnapshot, magic, snapshotMagic)
	}
	if v := binary.LittleEndian.Uint32(data[len(snapshotMagic):]); v != snapshotVersion {
		return fmt.Errorf("%w: unsupported version %d, want %d", ErrBadSnapshot, v, snapshotVersion)
	}
	if n := binary.LittleEndian.Uint64(data[len(snapshotMagic)+4:]); n != uint64(len(data)) {
		return fmt.Errorf("%w: length is %d bytes, header says %d (truncated or extended)", ErrBadSnapshot, len(data), n)
	}
	crcAt := len(data) - snapshotCRCBytes
	got, want := crc32.Checksum(data[:crcAt], snapshotCRCTable), binary.LittleEndian.Uint32(data[crcAt:])
	if got != want {
		return fmt.Errorf("%w: checksum mismatch: computed %#08x, stored %#08x", ErrBadSnapshot, got, want)
	}
	return nil
}

// snapshotReader decodes a snapshot body. The first error sticks: later
// reads return zero values, and callers check err once at the end.
type snapshotReader struct {
	data []byte
	off  int
	err  error
}

func (r *snapshotReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at byte %d: %s", ErrBadSnapshot, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *snapshotReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	x, n, err := readUvarint(r.data[r.off:])
	if err != nil {
		r.fail("%s: %v", what, err)
		return 0
	}
	r.off += n
	return x
}

func (r *snapshotReader) uint64(what string) uint64 {
	if r.err == nil && len(r.data)-r.off < 8 {
		r.fail("%s: truncated", what)
	}
	if r.err != nil {
		return 0
	}
	x := binary.LittleEndian.Uint64(r.data[r.off:])
	r.off += 8
	return x
}

// bytes reads a length-prefixed slice; it aliases the snapshot.
func (r *snapshotReader) bytes(what string) []byte {
	n := r.uvarint(what + " length")
	if r.err == nil && n > uint64(len(r.data)-r.off) {
		r.fail("%s length %d exceeds the %d bytes left", what, n, len(r.data)-r.off)
	}
	if r.err != nil {
		return nil
	}
	b := r.data[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return b
}

// count reads an element count, which cannot exceed the bytes left since
// every element takes at least one.
func (r *snapshotReader) count(what string) int {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(len(r.data)-r.off) {
		r.fail("%s %d exceeds the %d bytes left", what, n, len(r.data)-r.off)
	}
	return int(n)
}

func (r *snapshotReader) position() Position {
	epoch := r.uvarint("epoch")
	return Position{Epoch: Epoch(epoch), LSN: LSN(r.uvarint("LSN"))}
}

// key reads a record key or series name, which must be non-empty and
// sort strictly after prev.
func (r *snapshotReader) key(what, prev string) string {
	b := r.bytes(what)
	switch {
	case r.err != nil:
	case len(b) == 0:
		r.fail("empty %s", what)
	case string(b) <= prev:
		r.fail("%s %q does not sort after %q", what, b, prev)
	}
	return string(b)
}

func (r *snapshotReader) readRecords(into map[string]*record) {
	n := r.count("record count")
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		key := r.key("record key", prev)
		rec := &record{value: r.bytes("record value"), pos: r.position()}
		rec.time = int64(r.uint64("record time"))
		into[key], prev = rec, key
	}
}

func (r *snapshotReader) readSeries(into map[string]*series) {
	n := r.count("series count")
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		name := r.key("series name", prev)
		ser := &series{samples: r.readSamples(name)}
		into[name], prev = ser, name
	}
}

func (r *snapshotReader) readSamples(name string) []sample {
	n := r.count("sample count")
	if r.err == nil && n == 0 {
		r.fail("series %q has no samples", name)
	}
	if r.err != nil {
		return nil
	}
	samples := make([]sample, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		sm := sample{time: int64(r.uint64("sample time"))}
		sm.value = math.Float64frombits(r.uint64("sample value"))
		sm.pos = r.position()
		if i > 0 && r.err == nil && sm.time <= samples[i-1].time {
			r.fail("series %q: sample %d at %d is not after %d", name, i, sm.time, samples[i-1].time)
		}
		samples = append(samples, sm)
	}
	return samples
}
