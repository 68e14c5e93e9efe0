package replstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/replstore/replstore"
)

// A failover story. The leader n1 is cut off from its followers and the
// coordinator; a write it takes then is never acknowledged. The followers
// stop hearing from it, its lease with the coordinator runs out, and the
// coordinator fences every reachable node with epoch 2 and promotes n2,
// the sync follower, which holds every acknowledged write. When the
// partition heals, n1 learns of epoch 2, steps down, rolls back the
// unacknowledged write (reported as an event) and follows n2.
func ExampleCluster_Failover() {
	ctx := context.Background()
	cfg := replstore.DefaultConfig()
	cfg.ManualTicks = true
	events := make(chan replstore.Event, 16)
	cfg.OnEvent = func(e replstore.Event) {
		if e.Kind == replstore.EventPromoted || e.Kind == replstore.EventRolledBack {
			events <- e
		}
	}
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	pos, _ := cl.Put(ctx, "sat/ISS/elements", []byte("rev 1"))
	fmt.Println("acknowledged:", pos)

	if err := cl.Net().Partition([]replstore.NodeID{"n1"}, []replstore.NodeID{"n2", "n3", replstore.CoordinatorID}); err != nil {
		fmt.Println(err)
		return
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = cl.Put(short, "sat/ISS/elements", []byte("rev 2, cut off"))
	cancel()
	fmt.Println("cut-off write not acknowledged:", errors.Is(err, replstore.ErrNotAcknowledged))

	for leader, _ := cl.Leader(); leader == "n1"; leader, _ = cl.Leader() {
		if err := cl.Tick(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}
	e := <-events
	fmt.Printf("%s: %s leads epoch %d\n", e.Kind, e.Peer, e.Epoch)
	pos, _ = cl.Put(ctx, "sat/ISS/elements", []byte("rev 3"))
	fmt.Println("acknowledged:", pos)

	cl.Net().Heal()
	for len(events) == 0 {
		if err := cl.Tick(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}
	e = <-events
	fmt.Printf("%s on %s: %d entry at %v\n", e.Kind, e.Node, len(e.Entries), e.Entries[0].Pos)
	_ = cl.Tick(ctx) // the heartbeat tells n1 the commit LSN
	if err := cl.WaitApplied(ctx, "n1", pos.LSN); err != nil {
		fmt.Println(err)
		return
	}
	st, _ := cl.Store("n1")
	r, _ := st.Get("sat/ISS/elements")
	fmt.Printf("n1 now reads %q, written at %v\n", r.Value, r.Pos)
	// Output:
	// acknowledged: 1:2
	// cut-off write not acknowledged: true
	// promoted: n2 leads epoch 2
	// acknowledged: 2:4
	// rolled-back on n1: 1 entry at 1:3
	// n1 now reads "rev 3", written at 2:4
}
