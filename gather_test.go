package replstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// The leader's batching (gatherProposals) takes what writers queued while
// it yielded, in FIFO order, and never holds a lone writer's write back.
func TestGatherProposals(t *testing.T) {
	r1, r2, r3 := &request{}, &request{}, &request{}
	tick := func() {}
	for _, tc := range []struct {
		name    string
		writers int64 // writes proposed to the node whose writer has not returned
		waiting int   // of them, already appended and waiting for commit
		queued  []inboxItem
		want    []*request // proposals taken, in order
	}{
		{name: "lone writer: no yield, nothing more taken", writers: 1,
			queued: []inboxItem{{r: r2}}, want: []*request{r1}},
		{name: "others waiting for commit: no yield", writers: 3, waiting: 2,
			queued: []inboxItem{{r: r2}}, want: []*request{r1}},
		{name: "a writer about to propose: its write joins the batch", writers: 2,
			queued: []inboxItem{{r: r2}}, want: []*request{r1, r2}},
		{name: "FIFO across takes, other items kept", writers: 3,
			queued: []inboxItem{{f: tick}, {r: r2}, {r: r3}}, want: []*request{r1, r2, r3}},
		{name: "nothing came: stop yielding", writers: 5, want: []*request{r1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &node{mbox: newMailbox()}
			for i := 0; i < tc.waiting; i++ {
				n.waiting = append(n.waiting, waiter{lsn: LSN(i + 1), r: &request{}})
			}
			n.mbox.writers.Store(tc.writers)
			n.mbox.propose(r1)
			inbox := n.mbox.take(nil)
			for _, it := range tc.queued {
				n.mbox.add(it)
			}
			inbox = n.gatherProposals(inbox)
			var got []*request
			for _, it := range inbox {
				if it.r != nil {
					got = append(got, it.r)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("took %d proposals, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("proposal %d out of order", i)
				}
			}
			left := n.mbox.take(nil)
			if len(inbox)+len(left) != 1+len(tc.queued) {
				t.Fatalf("%d items taken and %d left, want %d in all", len(inbox), len(left), 1+len(tc.queued))
			}
		})
	}
}

// Every write proposed to a node is uncounted when its writer returns,
// also when its context ends first, so a stale count cannot make the
// leader yield for writers that are gone.
func TestGatherWritersCountReturnsToZero(t *testing.T) {
	cl, err := NewCluster(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, err := cl.Put(ctx, fmt.Sprintf("k%d", (w*200+i)%50), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	// A write whose context has already ended is refused before it is sent.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cl.Put(cancelled, "k", []byte("v")); err == nil {
		t.Fatal("write with a cancelled context succeeded")
	}
	for _, s := range cl.mem.Load().list {
		if n := s.node.Load(); n != nil {
			if got := n.mbox.writers.Load(); got != 0 {
				t.Errorf("node %s counts %d writers after every writer returned", n.id, got)
			}
		}
	}
}
