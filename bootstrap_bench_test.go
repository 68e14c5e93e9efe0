package replstore

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBootstrap adds a follower to a cluster holding 100,000 or
// 1,000,000 records while 16 writers keep writing, and reports: how long
// the new follower took to be reseeded from a snapshot and catch up
// (bootstrap-ms), the write throughput meanwhile as a ratio to the same
// writers' throughput just before (write-ratio), and the peak Go heap in
// use during the bootstrap above what it was before (peak-extra-MiB). Run
// with -benchtime 1x: one iteration loads the records first.
func BenchmarkBootstrap(b *testing.B) {
	for _, records := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bootstrapOnce(b, records)
			}
		})
	}
}

func bootstrapOnce(b *testing.B, records int) {
	b.StopTimer()
	cfg := DefaultConfig()
	cfg.RetainEntries = 200_000 // the leader compacts: the newcomer needs a snapshot
	cfg.OnEvent = func(e Event) {
		if e.Kind == EventFailoverStarted || e.Kind == EventSnapshotSending || e.Kind == EventSnapshotInstalled {
			b.Log(e)
		}
	}
	cl, err := NewCluster(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	value := make([]byte, 64)
	load(b, cl, records, value)

	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := cl.Put(ctx, strconv.Itoa((w*7919+j)%records), value); err != nil {
					b.Error(err)
					return
				}
				written.Add(1)
			}
		}(w)
	}
	// Throughput without a bootstrap: let the writers settle for a second,
	// then measure over two.
	time.Sleep(time.Second) // a measurement window, not a synchronisation
	w0, t0 := written.Load(), time.Now()
	time.Sleep(2 * time.Second)
	before := float64(written.Load()-w0) / time.Since(t0).Seconds()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()

	b.StartTimer()
	w1, t1 := written.Load(), time.Now()
	if err := cl.AddFollower(ctx, "n4"); err != nil {
		b.Fatal(err)
	}
	target, _ := cl.NodeStats(ctx, "n1")
	if err := cl.WaitApplied(ctx, "n4", target.Commit); err != nil {
		b.Fatal(err)
	}
	took := time.Since(t1)
	during := float64(written.Load()-w1) / took.Seconds()
	b.StopTimer()
	close(stop)
	wg.Wait()
	<-sampling
	b.ReportMetric(float64(took.Milliseconds()), "bootstrap-ms")
	b.ReportMetric(during/before, "write-ratio")
	b.ReportMetric(float64(peak.Load()-min(base, peak.Load()))/(1<<20), "peak-extra-MiB")
	b.ReportMetric(before, "writes/s-before")
}

// load writes records distinct keys with 64 concurrent writers.
func load(b *testing.B, cl *Cluster, records int, value []byte) {
	var wg sync.WaitGroup
	const writers = 64
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := w; k < records; k += writers {
				if _, err := cl.Put(context.Background(), strconv.Itoa(k), value); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
}
