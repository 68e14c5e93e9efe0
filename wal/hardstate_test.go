package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/replstore/replstore"
)

func TestHardStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	h, err := OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if hs, err := h.Load(); err != nil || !hs.IsZero() {
		t.Fatalf("fresh Load = %+v, %v", hs, err)
	}
	if _, err := OpenHardState(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenHardState: %v, want ErrLocked", err)
	}
	want := replstore.HardState{
		Epoch: 7, Commit: 1042, Snapshot: replstore.Position{Epoch: 6, LSN: 1000},
		Topology:        replstore.Topology{Leader: "n1", Sync: []replstore.NodeID{"n2", "n3"}, Async: []replstore.NodeID{"n4"}},
		TopologyVersion: 12, StorageIncarnation: 1700000000000000123, Repairing: true, Led: true,
	}
	if err := h.Save(want); err != nil {
		t.Fatal(err)
	}
	if err := h.Save(replstore.HardState{Epoch: 6}); err == nil {
		t.Fatal("Save with a lower epoch succeeded")
	}
	snap := []byte("state machine at 6:1000")
	if err := h.SaveSnapshot(want.Snapshot, snap); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, err := h.Load(); !errors.Is(err, replstore.ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}

	h, err = OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	got, err := h.Load()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, want)
	}
	pos, data, err := h.LoadSnapshot()
	if err != nil || pos != want.Snapshot || string(data) != string(snap) {
		t.Fatalf("LoadSnapshot = %v, %q, %v", pos, data, err)
	}
	// A log may share the directory.
	l := mustOpen(t, dir, Options{})
	l.Close()
}

func TestCorruptSnapshotRefused(t *testing.T) {
	r := testRand(t)
	dir := t.TempDir()
	h, err := OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if pos, data, err := h.LoadSnapshot(); err != nil || pos != (replstore.Position{}) || data != nil {
		t.Fatalf("no snapshot: %v %v %v", pos, data, err)
	}
	if err := h.SaveSnapshot(replstore.Position{Epoch: 2, LSN: 50}, randBytes(r, 300)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, snapshotName)
	good, _ := os.ReadFile(path)
	damage := map[string][]byte{
		"truncated":       good[:len(good)-1],
		"header only":     good[:snapshotHeader-3],
		"extended":        append(append([]byte(nil), good...), 0),
		"empty":           {},
		"flipped header":  flip(good, 7),
		"flipped data":    flip(good, snapshotHeader+int(r.IntN(300))),
		"flipped length":  flip(good, 21),
		"flipped version": flip(good, 4),
	}
	for name, b := range damage {
		os.WriteFile(path, b, 0o644)
		if _, _, err := h.LoadSnapshot(); !errors.Is(err, replstore.ErrBadSnapshot) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s snapshot: %v, want ErrBadSnapshot naming %s", name, err, path)
		}
	}
}

func TestCorruptHardStateNamesFile(t *testing.T) {
	dir := t.TempDir()
	h, err := OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Save(replstore.HardState{Epoch: 3, Topology: replstore.Topology{Leader: "a"}}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	path := filepath.Join(dir, hardStateName)
	good, _ := os.ReadFile(path)
	for i := range good {
		os.WriteFile(path, flip(good, i), 0o644)
		_, err := OpenHardState(dir)
		if !errors.Is(err, replstore.ErrStorage) || !strings.Contains(err.Error(), path) {
			t.Fatalf("byte %d flipped: %v, want an error naming %s", i, err, path)
		}
	}
	os.WriteFile(path, good[:len(good)-2], 0o644)
	if _, err := OpenHardState(dir); err == nil {
		t.Fatal("truncated hard state accepted")
	}
}

// TestHardStateVersion1Loads: a file written before storage
// incarnations (version 1) loads with StorageIncarnation 0, which a node
// replaces with a new one before it sends anything.
func TestHardStateVersion1Loads(t *testing.T) {
	want := replstore.HardState{Epoch: 5, Commit: 9, Topology: replstore.Topology{Leader: "n1", Sync: []replstore.NodeID{"n2"}}, TopologyVersion: 3}
	v2 := encodeHardState(want)
	// Version 1 is version 2 without the incarnation and flags.
	body := append([]byte{1}, v2[1:len(v2)-4-9]...)
	v1 := binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
	got, err := decodeHardState(v1)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decode version 1 = %+v, %v; want %+v", got, err, want)
	}
	bad := append([]byte(nil), v2...)
	bad[len(bad)-5] = 4 // an unknown flag (bit 0 is Repairing, bit 1 Led)
	bad = binary.LittleEndian.AppendUint32(bad[:len(bad)-4], crc32.Checksum(bad[:len(bad)-4], castagnoli))
	if _, err := decodeHardState(bad); err == nil || !strings.Contains(err.Error(), "flags") {
		t.Fatalf("unknown flag: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

// TestHardStateLeftoverTemp: a crash during Save leaves HARDSTATE.tmp;
// the previous state is what loads.
func TestHardStateLeftoverTemp(t *testing.T) {
	dir := t.TempDir()
	h, err := OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := replstore.HardState{Epoch: 4, Commit: 9}
	if err := h.Save(want); err != nil {
		t.Fatal(err)
	}
	h.Close()
	os.WriteFile(filepath.Join(dir, hardStateName+".tmp"), []byte("half a hard st"), 0o644)
	h, err = OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got, err := h.Load(); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v", got, err)
	}
}

// TestSnapshotCrashLeavesOldOrNew: a crash while a snapshot is written
// (SaveSnapshot's temporary file, or a staged snapshot not yet
// installed) leaves the previous snapshot; an installed one replaces it
// whole.
func TestSnapshotCrashLeavesOldOrNew(t *testing.T) {
	dir := t.TempDir()
	h, err := OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := replstore.Position{Epoch: 1, LSN: 10}
	if err := h.SaveSnapshot(old, []byte("state at 10")); err != nil {
		t.Fatal(err)
	}
	staged, err := h.StageSnapshot(replstore.Position{Epoch: 1, LSN: 20}, []byte("state at 20"))
	if err != nil {
		t.Fatal(err)
	}
	h.Close() // the crash: staged, never installed
	os.WriteFile(filepath.Join(dir, snapshotName+".tmp"), []byte("RSNP half of a snapsh"), 0o644)
	h, err = OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pos, data, err := h.LoadSnapshot(); err != nil || pos != old || string(data) != "state at 10" {
		t.Fatalf("after a crash mid-write: %v %q %v; want the old snapshot", pos, data, err)
	}
	for _, leftover := range []string{snapshotName + ".tmp", snapshotName + stagedSuffix} {
		if _, err := os.Stat(filepath.Join(dir, leftover)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s left behind after open: %v", leftover, err)
		}
	}
	if err := staged.Install(); err == nil {
		t.Fatal("a snapshot staged before the crash was installed after it")
	}
	staged, err = h.StageSnapshot(replstore.Position{Epoch: 2, LSN: 30}, []byte("state at 30"))
	if err != nil {
		t.Fatal(err)
	}
	if pos, _, _ := h.LoadSnapshot(); pos != old {
		t.Fatalf("staging replaced the snapshot before Install: %v", pos)
	}
	if err := staged.Install(); err != nil {
		t.Fatal(err)
	}
	h.Close()
	h, err = OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if pos, data, err := h.LoadSnapshot(); err != nil || pos != (replstore.Position{Epoch: 2, LSN: 30}) || string(data) != "state at 30" {
		t.Fatalf("after Install and a reopen: %v %q %v", pos, data, err)
	}
}
