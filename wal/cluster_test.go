package wal

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/replstore/replstore"
)

// TestClusterOnWAL runs a default cluster (leader, sync follower acking
// Durable, async follower) on Logs and HardStateFiles, writes, closes,
// and checks each node's log on disk.
func TestClusterOnWAL(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	logs := map[replstore.NodeID]*Log{}
	var hards []*HardStateFile
	defer func() {
		for _, l := range logs {
			l.Close()
		}
		for _, h := range hards {
			h.Close()
		}
	}()
	cfg := replstore.DefaultConfig()
	cfg.ManualTicks = true
	cfg.NewLogStore = func(id replstore.NodeID) (replstore.LogStore, error) {
		mu.Lock()
		defer mu.Unlock()
		l, err := Open(filepath.Join(dir, string(id)), Options{SegmentBytes: 4096})
		logs[id] = l
		return l, err
	}
	cfg.NewHardState = func(id replstore.NodeID) (replstore.HardStateStore, error) {
		mu.Lock()
		defer mu.Unlock()
		h, err := OpenHardState(filepath.Join(dir, string(id)))
		hards = append(hards, h)
		return h, err
	}
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var last replstore.Position
	for i := range 200 {
		pos, err := cl.Put(ctx, fmt.Sprintf("k%d", i%17), []byte(fmt.Sprintf("value %d", i)))
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		last = pos
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	leader := logs["n1"]
	if leader == nil || leader.Last().LSN < last.LSN {
		t.Fatalf("leader log ends at %v, last write at %v", leader.Last(), last)
	}
	if st := leader.Stats(); st.Segments < 2 {
		t.Fatalf("leader stats %+v: want several segments", st)
	}
	if n2 := logs["n2"]; n2 == nil || n2.SyncedLSN() < last.LSN {
		t.Fatalf("sync follower synced through %d, acked write at %v", n2.SyncedLSN(), last)
	}
	for id, l := range logs {
		l.Close()
		re, err := Open(l.Dir(), Options{SegmentBytes: 4096})
		if err != nil {
			t.Fatalf("%s: reopen: %v", id, err)
		}
		if re.Last() != l.Last() {
			t.Errorf("%s: reopened at %v, was %v", id, re.Last(), l.Last())
		}
		logs[id] = re
	}
}
