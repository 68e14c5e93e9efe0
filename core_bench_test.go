package replstore

import (
	"strconv"
	"testing"
)

// BenchmarkCoreWrite is one write through the protocol cores and their
// drivers alone, in one goroutine, in the anchor harness's shape: the
// leader appends a Put and streams it, the sync and the async follower
// append it and answer, the leader commits, and every replica applies.
// There is no scheduler, mailbox or transport in it, so ns/op is the CPU
// the cores and drivers of all three replicas spend per write, without
// the goroutine hand-offs that make BenchmarkWrite and the anchor harness
// noisy at one writer (README, Benchmarks). The keys repeat (1,000 of
// them), so the stores' maps do not grow.
func BenchmarkCoreWrite(b *testing.B) {
	cfg := Config{Leader: "a", SyncFollowers: []NodeID{"b"}, AsyncFollowers: []NodeID{"c"}}
	n := newCoreNet(b, cfg, nil)
	leader := n.cores["a"]
	leader.becomeLeader(1, 0, topoOf(cfg))
	n.stabilize()
	applied := leader.applied
	cmds := make([][]byte, 1000)
	value := make([]byte, 64)
	for i := range cmds {
		cmds[i] = AppendPut(nil, "key-"+strconv.Itoa(i), value)
	}
	order := []NodeID{"a", "b", "c"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.now++
		leader.now = n.now
		leader.propose(cmds[i%len(cmds)])
		for _, id := range order {
			n.drvs[id].advance()
		}
		// Deliver until quiet; a step's answers join the queue.
		for k := 0; k < len(n.queue); k++ {
			m := n.queue[k]
			if c := n.cores[m.To]; c != nil {
				c.step(m, n.now)
				n.drvs[m.To].advance()
			}
		}
		clear(n.queue)
		n.queue = n.queue[:0]
		for _, c := range n.cores {
			c.errs = c.errs[:0]
		}
	}
	b.StopTimer()
	if got := leader.applied - applied; got != LSN(b.N) {
		b.Fatalf("the leader applied %d of %d writes", got, b.N)
	}
	for _, id := range order[1:] {
		if c := n.cores[id]; c.last.LSN != leader.last.LSN {
			b.Fatalf("%s holds the log up to %d, the leader up to %d", id, c.last.LSN, leader.last.LSN)
		}
	}
}
