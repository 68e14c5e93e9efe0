package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/replstore/replstore"
)

// Storage faults at the Node level, over files: a flipped byte in a
// synced log record, a damaged snapshot file, a directory another live
// node holds, a full disk and a disk remounted read-only. In each the
// node says so with a typed error (replstore.ErrStorage and the cause),
// acknowledges nothing it has not stored, loses nothing it acknowledged,
// and a damaged replica is repaired from the leader.

// faultNodes runs n1 (leader), n2 (sync), n3 (async) over files in dir,
// with no coordinator; edit may change the configuration.
type faultNodes struct {
	t     *testing.T
	dir   string
	cfg   replstore.Config
	net   *replstore.MemNet
	nodes map[replstore.NodeID]*replstore.Node

	mu     sync.Mutex
	events []replstore.Event
}

func newFaultNodes(t *testing.T, edit func(*replstore.Config)) *faultNodes {
	f := &faultNodes{t: t, dir: t.TempDir(), net: replstore.NewMemNet(), nodes: map[replstore.NodeID]*replstore.Node{}}
	f.cfg = walConfig(f.dir)
	f.cfg.ManualFailover = true
	f.cfg.NewLogStore = func(id replstore.NodeID) (replstore.LogStore, error) {
		return Open(filepath.Join(f.dir, string(id), "log"), Options{SegmentBytes: 1 << 16, TruncateDamaged: true})
	}
	f.cfg.OnEvent = func(e replstore.Event) {
		f.mu.Lock()
		f.events = append(f.events, e)
		f.mu.Unlock()
	}
	if edit != nil {
		edit(&f.cfg)
	}
	t.Cleanup(func() {
		for _, nd := range f.nodes {
			nd.Close()
		}
		f.net.Close()
	})
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		f.start(id)
	}
	return f
}

func (f *faultNodes) start(id replstore.NodeID) {
	f.t.Helper()
	nd, err := replstore.NewNode(f.cfg, id, f.net)
	if err != nil {
		f.t.Fatalf("start %s: %v", id, err)
	}
	f.nodes[id] = nd
}

func (f *faultNodes) stop(id replstore.NodeID) {
	f.t.Helper()
	if err := f.nodes[id].Close(); err != nil {
		f.t.Fatalf("close %s: %v", id, err)
	}
	delete(f.nodes, id)
}

// write puts n keys through the leader; every one must be acknowledged.
func (f *faultNodes) write(ctx context.Context, acked map[string]replstore.Position, n int) replstore.Position {
	f.t.Helper()
	var pos replstore.Position
	for range n {
		key := fmt.Sprintf("k%d", len(acked))
		var err error
		if pos, err = f.nodes["n1"].Put(ctx, key, []byte("v-"+key)); err != nil {
			f.t.Fatalf("put %s: %v", key, err)
		}
		acked[key] = pos
	}
	return pos
}

// holdsAll checks that id has applied every acknowledged write, at its
// Position, and serves it.
func (f *faultNodes) holdsAll(ctx context.Context, id replstore.NodeID, acked map[string]replstore.Position, last replstore.Position) {
	f.t.Helper()
	nd := f.nodes[id]
	if err := nd.WaitApplied(ctx, last.LSN); err != nil {
		f.t.Fatalf("%s applies LSN %d: %v", id, last.LSN, err)
	}
	for key, pos := range acked {
		rec, found, _, err := nd.Get(ctx, key, replstore.Via(atSelf(id)))
		if err != nil || !found || rec.Pos != pos || string(rec.Value) != "v-"+key {
			f.t.Fatalf("%s on %s: %+v found=%v err=%v; acknowledged at %v", key, id, rec, found, err, pos)
		}
	}
}

func (f *faultNodes) saw(kind replstore.EventKind, node replstore.NodeID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.events {
		if e.Kind == kind && e.Node == node {
			return true
		}
	}
	return false
}

// loadHard reads a stopped node's hard state.
func loadHardState(t *testing.T, dir string) replstore.HardState {
	t.Helper()
	h, err := OpenHardState(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	hs, err := h.Load()
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// dataEnd is where the records of a preallocated segment end (zeroes follow).
func dataEnd(b []byte) int {
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return end
}

// A byte flipped in a synced record of the sync follower's log: the
// follower opens (the log cut before the record), records the loss (a
// larger StorageIncarnation, Repairing), is repaired by the leader, and
// every acknowledged write is on it again; writes go on being
// acknowledged, which under Durable needs it.
func TestNodeRepairedAfterFlippedByte(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFaultNodes(t, nil)
	acked := map[string]replstore.Position{}
	last := f.write(ctx, acked, 40)
	if err := f.nodes["n2"].WaitApplied(ctx, last.LSN); err != nil {
		t.Fatal(err)
	}
	f.stop("n2")
	before := loadHardState(t, filepath.Join(f.dir, "n2", "hard"))
	segs := segFiles(t, filepath.Join(f.dir, "n2", "log"))
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[dataEnd(b)/3] ^= 0x10 // a record about a third in; intact ones follow
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	f.start("n2")
	last = f.write(ctx, acked, 10)
	f.holdsAll(ctx, "n2", acked, last)
	f.stop("n2")
	after := loadHardState(t, filepath.Join(f.dir, "n2", "hard"))
	if after.StorageIncarnation <= before.StorageIncarnation || after.Repairing {
		t.Fatalf("n2's hard state: incarnation %d -> %d, repairing %v; want a larger incarnation, repaired",
			before.StorageIncarnation, after.StorageIncarnation, after.Repairing)
	}
	l := mustOpen(t, filepath.Join(f.dir, "n2", "log"), Options{SegmentBytes: 1 << 16, TruncateDamaged: true})
	defer l.Close()
	if from, ok := l.Damage(); ok {
		t.Fatalf("the log still reports damage from LSN %d after the node recorded it", from)
	}
}

// A snapshot file that fails its checksum, or is cut short, is refused
// when the node starts: the node starts empty (its log was compacted
// through that snapshot), says so (EventSnapshotRejected), and the
// leader reseeds it.
func TestNodeRefusesDamagedSnapshotAndIsReseeded(t *testing.T) {
	for _, damage := range []string{"flipped", "truncated"} {
		t.Run(damage, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			f := newFaultNodes(t, func(c *replstore.Config) { c.RetainEntries = 8 })
			acked := map[string]replstore.Position{}
			last := f.write(ctx, acked, 60)
			if err := f.nodes["n2"].WaitApplied(ctx, last.LSN); err != nil {
				t.Fatal(err)
			}
			f.stop("n2")
			path := filepath.Join(f.dir, "n2", "hard", snapshotName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("n2 compacted, so it has a snapshot: %v", err)
			}
			if damage == "flipped" {
				b[len(b)/2] ^= 0x01
			} else {
				b = b[:len(b)-3]
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			f.start("n2")
			if !f.saw(replstore.EventSnapshotRejected, "n2") {
				t.Fatal("n2 started over a damaged snapshot without EventSnapshotRejected")
			}
			last = f.write(ctx, acked, 5)
			f.holdsAll(ctx, "n2", acked, last)
		})
	}
}

// A second node on a directory a live node holds is refused with a
// typed error; the live node goes on.
func TestNodeDirectoryHeldByAnotherNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := newFaultNodes(t, nil)
	acked := map[string]replstore.Position{}
	f.write(ctx, acked, 3)
	other := replstore.NewMemNet()
	defer other.Close()
	_, err := replstore.NewNode(f.cfg, "n2", other)
	if !errors.Is(err, replstore.ErrStorage) || !errors.Is(err, ErrLocked) {
		t.Fatalf("a second n2 over the live one's directory: %v; want ErrStorage and ErrLocked", err)
	}
	last := f.write(ctx, acked, 3)
	f.holdsAll(ctx, "n2", acked, last)
}

// faultyLog is a Log whose Append or Sync fails with err once armed, as
// a full disk (ENOSPC) or a file system remounted read-only (EROFS)
// would make them fail.
type faultyLog struct {
	*Log
	armed          atomic.Bool
	onAppend       bool
	err            error
	appends, syncs atomic.Int64
}

func (l *faultyLog) Append(es []replstore.Entry) error {
	if l.armed.Load() && l.onAppend {
		return fmt.Errorf("wal: write %s: %w", l.Dir(), l.err)
	}
	l.appends.Add(1)
	return l.Log.Append(es)
}

func (l *faultyLog) Sync() error {
	if l.armed.Load() && !l.onAppend {
		return fmt.Errorf("wal: fdatasync in %s: %w", l.Dir(), l.err)
	}
	l.syncs.Add(1)
	return l.Log.Sync()
}

var _ io.Closer = (*faultyLog)(nil)

// A full disk or a read-only file system under the leader or the sync
// follower: writes fail with a clear error (never an acknowledgement the
// disk does not back), the failing node stops, and every write
// acknowledged before is on the leader's disk and the sync follower's.
func TestNodeStopsAcknowledgingOnDiskErrors(t *testing.T) {
	cases := []struct {
		name     string
		node     replstore.NodeID
		onAppend bool
		err      error
	}{
		{"leader disk full", "n1", true, syscall.ENOSPC},
		{"leader read-only", "n1", false, syscall.EROFS},
		{"sync follower disk full", "n2", true, syscall.ENOSPC},
		{"sync follower read-only", "n2", false, syscall.EROFS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			logs := map[replstore.NodeID]*faultyLog{}
			var mu sync.Mutex
			f := newFaultNodes(t, func(c *replstore.Config) {
				dir := c.NewLogStore
				c.NewLogStore = func(id replstore.NodeID) (replstore.LogStore, error) {
					ls, err := dir(id)
					if err != nil {
						return nil, err
					}
					fl := &faultyLog{Log: ls.(*Log), onAppend: tc.onAppend, err: tc.err}
					mu.Lock()
					logs[id] = fl
					mu.Unlock()
					return fl, nil
				}
			})
			acked := map[string]replstore.Position{}
			last := f.write(ctx, acked, 20)
			if err := f.nodes["n2"].WaitApplied(ctx, last.LSN); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			logs[tc.node].armed.Store(true)
			mu.Unlock()
			// The next writes fail; none is acknowledged.
			for i := range 3 {
				wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
				pos, err := f.nodes["n1"].Put(wctx, fmt.Sprint("after-fault-", i), []byte("x"))
				wcancel()
				if err == nil {
					t.Fatalf("write %d after %s was acknowledged at %v", i, tc.name, pos)
				}
				if tc.node == "n1" && i == 0 && (!errors.Is(err, replstore.ErrStorage) || !errors.Is(err, tc.err)) {
					t.Fatalf("the first write after the leader's disk failed: %v; want ErrStorage and %v", err, tc.err)
				}
				if tc.node == "n2" && !errors.Is(err, replstore.ErrNotAcknowledged) {
					t.Fatalf("write %d while the sync follower's disk fails: %v; want ErrNotAcknowledged", i, err)
				}
			}
			if tc.node == "n2" {
				// The follower stopped itself; asked, it says why.
				_, err := f.nodes["n2"].NodeStats(ctx)
				if !errors.Is(err, replstore.ErrStorage) || !errors.Is(err, tc.err) {
					t.Fatalf("n2's NodeStats after its disk failed: %v; want ErrStorage and %v", err, tc.err)
				}
			}
			// Stop everything; what was acknowledged is on the disks of
			// the leader and the sync follower.
			for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
				f.nodes[id].Close()
				delete(f.nodes, id)
			}
			for _, id := range []replstore.NodeID{"n1", "n2"} {
				l := mustOpen(t, filepath.Join(f.dir, string(id), "log"), Options{SegmentBytes: 1 << 16})
				for key, pos := range acked {
					if e, err := l.EpochAt(pos.LSN); err != nil || e != pos.Epoch {
						t.Fatalf("%s's disk lacks %s acknowledged at %v: epoch %d, %v", id, key, pos, e, err)
					}
				}
				l.Close()
			}
		})
	}
}
