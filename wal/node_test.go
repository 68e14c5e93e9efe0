package wal

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/replstore/replstore"
)

// walConfig is a cluster whose nodes keep their log and hard state in
// dir/<id>.
func walConfig(dir string) replstore.Config {
	cfg := replstore.DefaultConfig()
	cfg.TickInterval, cfg.SuspectTicks = 5*time.Millisecond, 60 // fsyncs take milliseconds
	cfg.NewLogStore = func(id replstore.NodeID) (replstore.LogStore, error) {
		return Open(filepath.Join(dir, string(id), "log"), Options{SegmentBytes: 1 << 16})
	}
	cfg.NewHardState = func(id replstore.NodeID) (replstore.HardStateStore, error) {
		return OpenHardState(filepath.Join(dir, string(id), "hard"))
	}
	return cfg
}

// Nodes on files restart from their directories: a follower comes back
// with its log and epoch and catches up; a leader whose process stopped
// is replaced by the coordinator, comes back as a follower of the new
// epoch and holds every acknowledged write.
func TestNodesRestartFromTheirDirectories(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	cfg := walConfig(dir)
	net := replstore.NewMemNet()
	defer net.Close()
	coord, err := replstore.NewCoordinatorNode(cfg, net)
	if err != nil {
		t.Fatal(err)
	}
	defer coord.Close()
	nodes := map[replstore.NodeID]*replstore.Node{}
	start := func(id replstore.NodeID) {
		nd, err := replstore.NewNode(cfg, id, net)
		if err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
		nodes[id] = nd
	}
	defer func() {
		for _, nd := range nodes {
			nd.Close()
		}
	}()
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		start(id)
	}
	acked := map[string]replstore.Position{}
	write := func(through replstore.NodeID, n int) {
		for i := 0; i < n; i++ {
			key := fmt.Sprintf("k%d", len(acked))
			pos, err := nodes[through].Put(ctx, key, []byte(key))
			if err != nil {
				t.Fatalf("put %s through %s: %v", key, through, err)
			}
			acked[key] = pos
		}
	}
	write("n1", 50)

	// A follower's process stops and starts again over its directory.
	if err := nodes["n3"].Close(); err != nil {
		t.Fatal(err)
	}
	write("n2", 50)
	start("n3")
	if st, err := nodes["n3"].NodeStats(ctx); err != nil || st.Last.LSN < 51 || st.Epoch != 1 {
		t.Fatalf("n3 restarted with %+v, %v; want its log (51 entries) and epoch 1 back", st, err)
	}

	// The leader's process stops; the coordinator promotes n2.
	if err := nodes["n1"].Close(); err != nil {
		t.Fatal(err)
	}
	for nodes["n3"].Leader() != "n2" {
		if _, err := nodes["n3"].NodeStats(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("no failover")
		case <-time.After(5 * time.Millisecond): // poll: Leader has no channel outside the package
		}
	}
	write("n3", 50)
	start("n1") // the old leader, from its directory
	if st, err := nodes["n1"].NodeStats(ctx); err != nil || st.Role != "follower" {
		t.Fatalf("old leader restarted as %+v, %v; want a follower", st, err)
	}
	last := acked[fmt.Sprintf("k%d", len(acked)-1)]
	for id, nd := range nodes {
		if err := nd.WaitApplied(ctx, last.LSN); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	for key, pos := range acked {
		for id, nd := range nodes {
			rec, found, _, err := nd.Get(ctx, key, replstore.Via(atSelf(id)))
			if err != nil || !found || rec.Pos != pos {
				t.Fatalf("%s on %s: %+v found=%v err=%v; acknowledged at %v", key, id, rec, found, err, pos)
			}
		}
	}
}

// atSelf routes a read to one replica.
type atSelf replstore.NodeID

func (a atSelf) Route(context.Context, *replstore.RouteRequest) (replstore.Target, error) {
	return replstore.Target{Node: replstore.NodeID(a)}, nil
}
