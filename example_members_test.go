package replstore_test

import (
	"context"
	"fmt"

	"github.com/replstore/replstore"
)

// Adding a follower to a running cluster. The leader keeps at most
// RetainEntries of log, so by the time n4 joins, the early entries are
// gone: n4 is reseeded from a snapshot of the leader's state, then
// replays the log from the snapshot's position. It serves reads only once
// caught up (ReplicaState.CaughtUp); then it is made a sync follower.
func ExampleCluster_AddFollower() {
	ctx := context.Background()
	cfg := replstore.DefaultConfig()
	cfg.ManualTicks = true
	cfg.RetainEntries = 100
	installed := make(chan replstore.Event, 1)
	cfg.OnEvent = func(e replstore.Event) {
		if e.Kind == replstore.EventSnapshotInstalled && e.Node == "n4" {
			installed <- e
		}
	}
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	for i := 0; i < 300; i++ {
		if _, err := cl.Put(ctx, fmt.Sprintf("sat/%03d/elements", i%50), []byte(fmt.Sprint("rev ", i/50))); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Compaction runs on ticks (its snapshot is written in the background).
	for st, _ := cl.NodeStats(ctx, "n1"); st.First == 1; st, _ = cl.NodeStats(ctx, "n1") {
		_ = cl.Tick(ctx)
	}
	if err := cl.AddFollower(ctx, "n4"); err != nil {
		fmt.Println(err)
		return
	}
	pos, _ := cl.Put(ctx, "sat/007/elements", []byte("rev 6"))
	_ = cl.Tick(ctx) // the heartbeat carries the commit LSN
	if err := cl.WaitApplied(ctx, "n4", pos.LSN); err != nil {
		fmt.Println(err)
		return
	}
	e := <-installed
	fmt.Println("n4 was reseeded from a snapshot:", e.Kind == replstore.EventSnapshotInstalled)
	st, _ := cl.Store("n4")
	r, _ := st.Get("sat/007/elements")
	fmt.Printf("n4 reads sat/007/elements = %q\n", r.Value)
	reps, _ := cl.Replicas()
	for _, rep := range reps {
		if rep.ID == "n4" {
			fmt.Println("n4 caught up:", rep.CaughtUp)
		}
	}
	if err := cl.SetSync(ctx, "n4", true); err != nil {
		fmt.Println(err)
		return
	}
	stats, _ := cl.Stats(ctx)
	fmt.Println("sync list:", stats.Topology.Sync, "async:", stats.Topology.Async)
	// Output:
	// n4 was reseeded from a snapshot: true
	// n4 reads sat/007/elements = "rev 6"
	// n4 caught up: true
	// sync list: [n2 n4] async: [n3]
}
