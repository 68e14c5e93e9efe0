package replstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// BenchmarkWrite measures committed writes (Put of a 64-byte value) in the
// anchor harness's shape: a leader, one sync follower, one async follower,
// for each ack level and 1, 16 and 256 closed-loop writers. ns/op is per
// write over all writers; compare ratios from one run, not absolute times.
func BenchmarkWrite(b *testing.B) {
	for _, level := range []AckLevel{Local, Received, Durable, Applied} {
		for _, writers := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("ack=%v/writers=%d", level, writers), func(b *testing.B) {
				benchWrite(b, level, writers)
			})
		}
	}
}

func benchWrite(b *testing.B, level AckLevel, writers int) {
	cfg := DefaultConfig()
	cfg.AckLevel = level
	cl, err := NewCluster(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	value := make([]byte, 64)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N / writers
	for w := 0; w < writers; w++ {
		cnt := per
		if w < b.N%writers {
			cnt++
		}
		wg.Add(1)
		go func(w, cnt int) {
			defer wg.Done()
			for j := 0; j < cnt; j++ {
				if _, err := cl.Put(ctx, keys[(w*7+j)%len(keys)], value); err != nil {
					b.Error(err)
					return
				}
			}
		}(w, cnt)
	}
	wg.Wait()
}
