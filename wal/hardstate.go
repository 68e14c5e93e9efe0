package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"

	"github.com/replstore/replstore"
)

// HardStateFile is a durable replstore.HardStateStore: the hard state and
// the snapshot each live in their own file in dir, replaced atomically
// (temporary file, fsync, rename, fsync the directory). It locks
// dir/HARDSTATE.LOCK, so it may share a directory with a Log. It is safe
// for concurrent use.
type HardStateFile struct {
	dir  string
	lock *os.File

	mu     sync.Mutex
	hs     replstore.HardState // last saved or loaded
	closed bool
}

var (
	_ replstore.HardStateStore = (*HardStateFile)(nil)
	_ replstore.SnapshotStager = (*HardStateFile)(nil)
)

const (
	hardStateName    = "HARDSTATE"
	hardStateVersion = 2 // 1: without the storage incarnation (read as 0)
	snapshotName     = "SNAPSHOT"
	snapshotMagic    = "RSNP"
	snapshotVersion  = 1
	// snapshot header: magic, version, epoch, lsn, length, crc32c of
	// the header before it and the data.
	snapshotHeader = 4 + 1 + 8 + 8 + 8 + 4
)

// OpenHardState opens (creating if needed) the hard state store in dir.
func OpenHardState(dir string) (*HardStateFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: create %s: %w", errStorage, dir, err)
	}
	lock, err := lockFile(filepath.Join(dir, "HARDSTATE.LOCK"), dir)
	if err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(dir, hardStateName+".tmp"))
	os.Remove(filepath.Join(dir, snapshotName+".tmp"))
	os.Remove(filepath.Join(dir, snapshotName+stagedSuffix)) // staged by a run that crashed before installing it
	h := &HardStateFile{dir: dir, lock: lock}
	hs, err := h.read()
	if err != nil {
		unlockFile(lock)
		return nil, err
	}
	h.hs = hs
	return h, nil
}

// Close releases the directory lock; later calls fail with
// replstore.ErrClosed.
func (h *HardStateFile) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return h.closedErr()
	}
	h.closed = true
	return unlockFile(h.lock)
}

func (h *HardStateFile) closedErr() error {
	return fmt.Errorf("%w: hard state in %s", replstore.ErrClosed, h.dir)
}

// Load implements replstore.HardStateStore.
func (h *HardStateFile) Load() (replstore.HardState, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return replstore.HardState{}, h.closedErr()
	}
	return h.read()
}

// Save implements replstore.HardStateStore. Like MemHardState it refuses
// an epoch lower than the stored one.
func (h *HardStateFile) Save(hs replstore.HardState) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return h.closedErr()
	}
	if hs.Epoch < h.hs.Epoch {
		return fmt.Errorf("replstore: hard state: epoch would go back from %d to %d", h.hs.Epoch, hs.Epoch)
	}
	if err := writeFileAtomic(h.dir, hardStateName, encodeHardState(hs)); err != nil {
		return err
	}
	h.hs = hs
	return nil
}

// SaveSnapshot implements replstore.HardStateStore.
func (h *HardStateFile) SaveSnapshot(pos replstore.Position, data []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return h.closedErr()
	}
	return writeFileAtomic(h.dir, snapshotName, encodeSnapshot(pos, data))
}

// encodeSnapshot frames a snapshot file: the header (with the CRC-32C of
// the header and the data), then the data.
func encodeSnapshot(pos replstore.Position, data []byte) []byte {
	b := make([]byte, 0, snapshotHeader+len(data))
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(pos.Epoch))
	b = binary.LittleEndian.AppendUint64(b, uint64(pos.LSN))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(data)))
	crc := crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, data)
	b = binary.LittleEndian.AppendUint32(b, crc)
	return append(b, data...)
}

const stagedSuffix = ".staged"

// StageSnapshot implements replstore.SnapshotStager: it writes and
// fsyncs SNAPSHOT.staged without holding the store's lock, so the node
// goes on storing its hard state meanwhile; Install renames it over
// SNAPSHOT and fsyncs the directory.
func (h *HardStateFile) StageSnapshot(pos replstore.Position, data []byte) (replstore.StagedSnapshot, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, h.closedErr()
	}
	path := filepath.Join(h.dir, snapshotName+stagedSuffix)
	if err := writeFileSynced(path, encodeSnapshot(pos, data)); err != nil {
		return nil, err
	}
	return &stagedFile{h: h, path: path}, nil
}

type stagedFile struct {
	h    *HardStateFile
	path string
}

// Install implements replstore.StagedSnapshot.
func (s *stagedFile) Install() error {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return h.closedErr()
	}
	final := filepath.Join(h.dir, snapshotName)
	if err := os.Rename(s.path, final); err != nil {
		return fmt.Errorf("%w: install %s: %w", errStorage, final, err)
	}
	if err := syncDir(h.dir); err != nil {
		return fmt.Errorf("%w: install %s: sync %s: %w", errStorage, final, h.dir, err)
	}
	return nil
}

// Discard implements replstore.StagedSnapshot.
func (s *stagedFile) Discard() { os.Remove(s.path) }

// LoadSnapshot implements replstore.HardStateStore. A snapshot file that
// is truncated, extended or fails its checksum is an error wrapping
// replstore.ErrBadSnapshot.
func (h *HardStateFile) LoadSnapshot() (replstore.Position, []byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return replstore.Position{}, nil, h.closedErr()
	}
	path := filepath.Join(h.dir, snapshotName)
	b, exists, err := readIfExists(path)
	if !exists || err != nil {
		return replstore.Position{}, nil, err
	}
	bad := func(format string, args ...any) (replstore.Position, []byte, error) {
		return replstore.Position{}, nil, fmt.Errorf("%w: %s: %s", replstore.ErrBadSnapshot, path, fmt.Sprintf(format, args...))
	}
	if len(b) < snapshotHeader {
		return bad("%d bytes, shorter than the %d-byte header", len(b), snapshotHeader)
	}
	if string(b[:4]) != snapshotMagic {
		return bad("bad magic %q", b[:4])
	}
	if b[4] != snapshotVersion {
		return bad("unsupported version %d", b[4])
	}
	pos := replstore.Position{
		Epoch: replstore.Epoch(binary.LittleEndian.Uint64(b[5:])),
		LSN:   replstore.LSN(binary.LittleEndian.Uint64(b[13:])),
	}
	n := binary.LittleEndian.Uint64(b[21:])
	data := b[snapshotHeader:]
	if uint64(len(data)) != n {
		return bad("header says %d data bytes, file has %d (truncated or extended)", n, len(data))
	}
	crc := crc32.Update(crc32.Checksum(b[:29], castagnoli), castagnoli, data)
	if want := binary.LittleEndian.Uint32(b[29:]); crc != want {
		return bad("checksum mismatch: computed %#08x, stored %#08x", crc, want)
	}
	if len(data) == 0 {
		data = nil
	}
	return pos, data, nil
}

// read loads the hard state file; the zero HardState if there is none.
func (h *HardStateFile) read() (replstore.HardState, error) {
	path := filepath.Join(h.dir, hardStateName)
	b, exists, err := readIfExists(path)
	if !exists || err != nil {
		return replstore.HardState{}, err
	}
	hs, err := decodeHardState(b)
	if err != nil {
		return replstore.HardState{}, fmt.Errorf("%w: %s: %w", errStorage, path, err)
	}
	return hs, nil
}

// The hard state file: version u8, then epoch, commit, snapshot epoch,
// snapshot LSN, topology version (u64 each), then the topology: leader
// (uvarint length + bytes), sync and async lists (uvarint count, then
// each as leader), then (version 2) the storage incarnation (u64) and a
// flags byte (bit 0: Repairing, bit 1: Led), then the CRC-32C of everything before
// it (u32).
func encodeHardState(hs replstore.HardState) []byte {
	b := []byte{hardStateVersion}
	b = binary.LittleEndian.AppendUint64(b, uint64(hs.Epoch))
	b = binary.LittleEndian.AppendUint64(b, uint64(hs.Commit))
	b = binary.LittleEndian.AppendUint64(b, uint64(hs.Snapshot.Epoch))
	b = binary.LittleEndian.AppendUint64(b, uint64(hs.Snapshot.LSN))
	b = binary.LittleEndian.AppendUint64(b, hs.TopologyVersion)
	str := func(s replstore.NodeID) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(hs.Topology.Leader)
	for _, list := range [][]replstore.NodeID{hs.Topology.Sync, hs.Topology.Async} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, id := range list {
			str(id)
		}
	}
	b = binary.LittleEndian.AppendUint64(b, hs.StorageIncarnation)
	var flags byte
	if hs.Repairing {
		flags |= 1
	}
	if hs.Led {
		flags |= 2
	}
	b = append(b, flags)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeHardState(b []byte) (replstore.HardState, error) {
	var hs replstore.HardState
	if len(b) < 1+5*8+4 {
		return hs, fmt.Errorf("%d bytes, too short for a hard state", len(b))
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return hs, fmt.Errorf("checksum mismatch: computed %#08x, stored %#08x", got, want)
	}
	version := body[0]
	if version != 1 && version != hardStateVersion {
		return hs, fmt.Errorf("unsupported version %d", version)
	}
	u64 := func(i int) uint64 { return binary.LittleEndian.Uint64(body[1+8*i:]) }
	hs.Epoch = replstore.Epoch(u64(0))
	hs.Commit = replstore.LSN(u64(1))
	hs.Snapshot = replstore.Position{Epoch: replstore.Epoch(u64(2)), LSN: replstore.LSN(u64(3))}
	hs.TopologyVersion = u64(4)
	rest := body[1+5*8:]
	uvarint := func() (uint64, error) {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > uint64(len(rest)) {
			return 0, errors.New("malformed topology")
		}
		rest = rest[n:]
		return v, nil
	}
	str := func() (replstore.NodeID, error) {
		n, err := uvarint()
		if err != nil || n > uint64(len(rest)) {
			return "", errors.New("malformed topology")
		}
		s := replstore.NodeID(rest[:n])
		rest = rest[n:]
		return s, nil
	}
	var err error
	if hs.Topology.Leader, err = str(); err != nil {
		return hs, err
	}
	for _, list := range []*[]replstore.NodeID{&hs.Topology.Sync, &hs.Topology.Async} {
		n, err := uvarint()
		if err != nil {
			return hs, err
		}
		for range n {
			id, err := str()
			if err != nil {
				return hs, err
			}
			*list = append(*list, id)
		}
	}
	if version >= 2 {
		if len(rest) < 9 {
			return hs, errors.New("truncated storage incarnation")
		}
		hs.StorageIncarnation = binary.LittleEndian.Uint64(rest)
		if rest[8]&^3 != 0 {
			return hs, fmt.Errorf("unknown flags %#x", rest[8])
		}
		hs.Repairing = rest[8]&1 != 0
		hs.Led = rest[8]&2 != 0
		rest = rest[9:]
	}
	if len(rest) != 0 {
		return hs, fmt.Errorf("%d trailing bytes", len(rest))
	}
	return hs, nil
}
