package tcpnet

import (
	"sync/atomic"
	"testing"

	"github.com/replstore/replstore"
)

// BenchmarkPipelinedAppends sends MsgAppends of one entry with a 64-byte
// command from n1 to n2 over loopback, keeping at most half a queue in
// flight (Send drops rather than blocks, so the sender paces itself on
// what n2 has delivered), and reports messages per second.
func BenchmarkPipelinedAppends(b *testing.B) {
	ln1, ln2 := listen(b), listen(b)
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String()}
	n1, err := New(fastConfig("n1", ln1, peers))
	if err != nil {
		b.Fatal(err)
	}
	defer n1.Close()
	n2, err := New(fastConfig("n2", ln2, peers))
	if err != nil {
		b.Fatal(err)
	}
	defer n2.Close()

	var received atomic.Int64
	wake := make(chan struct{}, 1)
	n2.Register("n2", func(replstore.Message) {
		received.Add(1)
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	window := int64(n1.cfg.QueueLen / 2)
	m := appendMsg("n1", "n2", 0)
	// Warm up: the connection is up once one message is through.
	n1.Send(m)
	for received.Load() < 1 {
		<-wake
	}
	received.Store(0)

	b.ReportAllocs()
	b.ResetTimer()
	for i := range int64(b.N) {
		for i-received.Load() >= window {
			<-wake
		}
		m.ReadSeq = uint64(i)
		n1.Send(m)
	}
	for received.Load() < int64(b.N) {
		<-wake
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if d := n1.Stats().Dropped.Total(); d != 0 {
		b.Fatalf("%d messages dropped", d)
	}
}
