package replstore

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkFailover measures failover: from the leader's crash to the
// first write committed on the new leader, in ticks (logical time: the
// failure detector's SuspectTicks dominate, multiply by TickInterval for
// real time) and in wall time with ticks delivered as fast as the nodes
// handle them (the protocol's own cost). It fails if any acknowledged
// write is lost (sync commit: there must be none).
func BenchmarkFailover(b *testing.B) {
	for _, level := range []AckLevel{Durable, Local} {
		b.Run(fmt.Sprintf("ack=%v", level), func(b *testing.B) {
			var ticksTotal, lostTotal int
			var wall time.Duration
			for i := 0; i < b.N; i++ {
				t, w, lost := failoverOnce(b, level)
				ticksTotal += t
				wall += w
				lostTotal += lost
			}
			b.ReportMetric(float64(ticksTotal)/float64(b.N), "ticks/failover")
			b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N), "wall-ns/failover")
			b.ReportMetric(float64(lostTotal)/float64(b.N), "lost-writes/failover")
			if level != Local && lostTotal > 0 {
				b.Fatalf("sync commit lost %d acknowledged writes", lostTotal)
			}
		})
	}
}

func failoverOnce(b *testing.B, level AckLevel) (ticks int, wall time.Duration, lost int) {
	b.StopTimer()
	cfg := DefaultConfig()
	cfg.ManualTicks = true
	cfg.AckLevel = level
	cl, err := NewCluster(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	acked := map[string]Position{}
	for j := 0; j < 100; j++ {
		k := fmt.Sprint("k", j)
		pos, err := cl.Put(ctx, k, []byte("v"))
		if err != nil {
			b.Fatal(err)
		}
		acked[k] = pos
	}
	b.StartTimer()
	start := time.Now()
	if err := cl.Crash("n1"); err != nil {
		b.Fatal(err)
	}
	for {
		ticks++
		if err := cl.Tick(ctx); err != nil {
			b.Fatal(err)
		}
		if id, err := cl.Leader(); err == nil && id != "n1" {
			break
		}
		if ticks > 10000 {
			b.Fatal("no failover")
		}
	}
	if _, err := cl.Put(ctx, "first", []byte("v")); err != nil {
		b.Fatal(err)
	}
	wall = time.Since(start)
	b.StopTimer()
	leader, _ := cl.Leader()
	st, err := cl.Store(leader)
	if err != nil {
		b.Fatal(err)
	}
	for k, pos := range acked {
		if r, ok := st.Get(k); !ok || r.Pos != pos {
			lost++
		}
	}
	b.StartTimer()
	return ticks, wall, lost
}
