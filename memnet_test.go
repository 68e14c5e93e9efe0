package replstore

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// mustNet fails the test if a fault method refused its call.
func mustNet(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// inbox is a test receiver: it records what one node gets, in order, and
// never blocks.
type inbox struct {
	mu      sync.Mutex
	msgs    []Message
	at      []time.Time   // arrival time of msgs[i]
	changed chan struct{} // nudged after every message
}

func newInbox() *inbox { return &inbox{changed: make(chan struct{}, 1)} }

func (b *inbox) deliver(msg Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, msg)
	b.at = append(b.at, time.Now())
	b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// seqs returns the sequence numbers (Commit) received from the given
// sender, in arrival order; all senders when from is "".
func (b *inbox) seqs(from NodeID) []LSN {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []LSN
	for _, msg := range b.msgs {
		if from == "" || msg.From == from {
			out = append(out, msg.Commit)
		}
	}
	return out
}

// wait blocks until b holds n messages; the timeout only catches failure.
func (b *inbox) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.msgs)
		b.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-b.changed:
		case <-timeout:
			t.Fatalf("timed out with %d of %d messages", got, n)
		}
	}
}

// newTestNet returns a network with an inbox registered for each id, and
// closes it when the test ends, after checking its invariants.
func newTestNet(t *testing.T, ids ...NodeID) (*MemNet, map[NodeID]*inbox) {
	t.Helper()
	net := NewMemNet()
	boxes := make(map[NodeID]*inbox)
	for _, id := range ids {
		boxes[id] = newInbox()
		net.Register(id, boxes[id].deliver)
	}
	t.Cleanup(net.Close)
	return net, boxes
}

// seqMsg returns a message from -> to carrying seq in Commit.
func seqMsg(from, to NodeID, seq LSN) Message {
	return Message{Kind: MsgAppend, From: from, To: to, Commit: seq}
}

// sendSeqs sends seqs from -> to, in order.
func sendSeqs(net *MemNet, from, to NodeID, seqs ...LSN) {
	for _, seq := range seqs {
		net.Send(seqMsg(from, to, seq))
	}
}

func wantSeqs(t *testing.T, b *inbox, from NodeID, want ...LSN) {
	t.Helper()
	if got := b.seqs(from); !slices.Equal(got, want) {
		t.Fatalf("received from %q: %v, want %v", from, got, want)
	}
}

func wantCounts(t *testing.T, net *MemNet, want NetCounts) {
	t.Helper()
	if got := net.Counts(); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}

func wantHeld(t *testing.T, net *MemNet, from, to NodeID, want int) {
	t.Helper()
	if got := net.Held(from, to); got != want {
		t.Fatalf("Held(%q, %q) = %d, want %d", from, to, got, want)
	}
}

// wantClean checks the invariants and that Send is back on the fast path.
func wantClean(t *testing.T, net *MemNet) {
	t.Helper()
	if err := net.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	if n := net.active.Load(); n != 0 {
		t.Fatalf("fast path off: active=%d", n)
	}
}

func TestMemNetDeliversInOrder(t *testing.T) {
	net, box := newTestNet(t, "a", "b")
	sendSeqs(net, "a", "b", 1, 2, 3, 4, 5)
	sendSeqs(net, "b", "a", 1)
	wantSeqs(t, box["b"], "a", 1, 2, 3, 4, 5)
	wantSeqs(t, box["a"], "b", 1)
	wantCounts(t, net, NetCounts{Sent: 6, Delivered: 6})
	wantClean(t, net)
}

func TestMemNetRegisterReplacesHandler(t *testing.T) {
	net, box := newTestNet(t, "a", "b")
	sendSeqs(net, "a", "b", 1)
	second := newInbox()
	net.Register("b", second.deliver)
	sendSeqs(net, "a", "b", 2)
	wantSeqs(t, box["b"], "a", 1)
	wantSeqs(t, second, "a", 2)
}

func TestMemNetSendFastPathAllocatesNothing(t *testing.T) {
	net := NewMemNet()
	defer net.Close()
	var n int
	net.Register("b", func(Message) { n++ })
	msg := seqMsg("a", "b", 1)
	msg.Entries = []Entry{{Pos: Position{Epoch: 1, LSN: 1}, Data: []byte("x")}}
	if allocs := testing.AllocsPerRun(1000, func() { net.Send(msg) }); allocs != 0 {
		t.Fatalf("Send allocates %v times per call on the fast path, want 0", allocs)
	}
	if n == 0 {
		t.Fatal("handler never called")
	}
}

func TestMemNetDropsToUnregisteredNode(t *testing.T) {
	net, box := newTestNet(t, "a", "b")
	sendSeqs(net, "a", "nobody", 1)
	net.Unregister("b")
	sendSeqs(net, "a", "b", 2)
	wantCounts(t, net, NetCounts{Sent: 2, Dropped: 2})

	// Held while paused, crashed before release: dropped on release.
	net.Register("b", box["b"].deliver)
	mustNet(t, net.PauseLink("a", "b"))
	sendSeqs(net, "a", "b", 3, 4)
	net.Unregister("b")
	mustNet(t, net.ResumeLink("a", "b"))
	wantHeld(t, net, "a", "b", 0)
	wantSeqs(t, box["b"], "a")
	wantCounts(t, net, NetCounts{Sent: 4, Dropped: 4})
	wantClean(t, net)
}

func TestMemNetPauseLink(t *testing.T) {
	net, box := newTestNet(t, "a", "b", "c")
	mustNet(t, net.PauseLink("a", "b"))
	sendSeqs(net, "a", "b", 1, 2, 3)
	sendSeqs(net, "b", "a", 1) // the other direction is open
	sendSeqs(net, "a", "c", 1)
	wantHeld(t, net, "a", "b", 3)
	wantSeqs(t, box["b"], "a")
	wantSeqs(t, box["a"], "b", 1)
	wantSeqs(t, box["c"], "a", 1)

	mustNet(t, net.ResumeLink("a", "b"))
	wantSeqs(t, box["b"], "a", 1, 2, 3)
	sendSeqs(net, "a", "b", 4)
	wantSeqs(t, box["b"], "a", 1, 2, 3, 4)
	wantHeld(t, net, "a", "b", 0)
	wantCounts(t, net, NetCounts{Sent: 6, Delivered: 6})
	wantClean(t, net)
}

func TestMemNetPauseNode(t *testing.T) {
	net, box := newTestNet(t, "a", "b", "c")
	mustNet(t, net.PauseLink("a", "b"))
	mustNet(t, net.PauseNode("b"))
	sendSeqs(net, "a", "b", 1)
	sendSeqs(net, "b", "a", 1)
	sendSeqs(net, "b", "c", 1, 2)
	sendSeqs(net, "a", "c", 1) // not b's: open
	wantSeqs(t, box["c"], "a", 1)
	wantSeqs(t, box["a"], "")
	wantHeld(t, net, "a", "b", 1)
	wantHeld(t, net, "b", "a", 1)
	wantHeld(t, net, "b", "c", 2)

	mustNet(t, net.ResumeNode("b"))
	wantSeqs(t, box["a"], "b", 1)
	wantSeqs(t, box["c"], "b", 1, 2)
	wantHeld(t, net, "a", "b", 1) // PauseLink still holds it
	wantSeqs(t, box["b"], "")

	mustNet(t, net.ResumeLink("a", "b"))
	wantSeqs(t, box["b"], "a", 1)
	wantCounts(t, net, NetCounts{Sent: 5, Delivered: 5})
	wantClean(t, net)
}

func TestMemNetDropLink(t *testing.T) {
	net, box := newTestNet(t, "a", "b")
	mustNet(t, net.DropLink("a", "b", true))
	sendSeqs(net, "a", "b", 1, 2)
	sendSeqs(net, "b", "a", 1)
	wantSeqs(t, box["b"], "a")
	wantSeqs(t, box["a"], "b", 1)
	wantCounts(t, net, NetCounts{Sent: 3, Delivered: 1, Dropped: 2})

	mustNet(t, net.DropLink("a", "b", false))
	sendSeqs(net, "a", "b", 3)
	wantSeqs(t, box["b"], "a", 3)
	wantClean(t, net)
}

func TestMemNetDropNext(t *testing.T) {
	net, box := newTestNet(t, "a", "b")
	mustNet(t, net.DropNext("a", "b", 2))
	sendSeqs(net, "a", "b", 1, 2, 3, 4)
	wantSeqs(t, box["b"], "a", 3, 4)
	wantCounts(t, net, NetCounts{Sent: 4, Delivered: 2, Dropped: 2})
	wantClean(t, net)

	mustNet(t, net.DropNext("a", "b", 5))
	mustNet(t, net.DropNext("a", "b", 0)) // replaces: nothing left to drop
	sendSeqs(net, "a", "b", 5)
	wantSeqs(t, box["b"], "a", 3, 4, 5)
	wantClean(t, net)
}

func TestMemNetDropBeatsPause(t *testing.T) {
	net, box := newTestNet(t, "a", "b", "c")
	mustNet(t, net.PauseNode("b"))
	mustNet(t, net.DropLink("a", "b", true))
	mustNet(t, net.DropNext("b", "a", 1))
	mustNet(t, net.Partition([]NodeID{"b"}, []NodeID{"c"}))
	sendSeqs(net, "a", "b", 1)
	sendSeqs(net, "b", "a", 1, 2) // 1 dropped, 2 held
	sendSeqs(net, "c", "b", 1)
	wantHeld(t, net, "a", "b", 0)
	wantHeld(t, net, "b", "a", 1)
	wantHeld(t, net, "c", "b", 0)
	wantCounts(t, net, NetCounts{Sent: 4, Dropped: 3})

	net.Heal()
	wantSeqs(t, box["a"], "b", 2)
	wantSeqs(t, box["b"], "")
	wantClean(t, net)
}

func TestMemNetPartition(t *testing.T) {
	net, box := newTestNet(t, "a", "b", "c", "d")
	mustNet(t, net.Partition([]NodeID{"a", "b"}, []NodeID{"c"})) // d is in no group
	sendSeqs(net, "a", "b", 1)
	sendSeqs(net, "a", "c", 1)
	sendSeqs(net, "c", "a", 1)
	sendSeqs(net, "d", "a", 1)
	sendSeqs(net, "c", "d", 1)
	wantSeqs(t, box["b"], "a", 1)
	wantSeqs(t, box["c"], "")
	wantSeqs(t, box["a"], "d", 1)
	wantSeqs(t, box["d"], "c", 1)
	wantCounts(t, net, NetCounts{Sent: 5, Delivered: 3, Dropped: 2})

	mustNet(t, net.Partition([]NodeID{"a"}, []NodeID{"b", "c"})) // replaces
	sendSeqs(net, "a", "b", 2)
	sendSeqs(net, "b", "c", 1)
	sendSeqs(net, "a", "c", 2)
	wantSeqs(t, box["b"], "a", 1)
	wantSeqs(t, box["c"], "b", 1)

	net.Heal()
	sendSeqs(net, "a", "b", 3)
	sendSeqs(net, "c", "a", 2)
	wantSeqs(t, box["b"], "a", 1, 3)
	wantSeqs(t, box["a"], "c", 2)
	wantClean(t, net)
}

func TestMemNetPartitionWithNoGroupRemovesIt(t *testing.T) {
	net, box := newTestNet(t, "a", "b")
	mustNet(t, net.Partition([]NodeID{"a"}, []NodeID{"b"}))
	mustNet(t, net.Partition())
	sendSeqs(net, "a", "b", 1)
	wantSeqs(t, box["b"], "a", 1)
	wantClean(t, net)
}

func TestMemNetHeal(t *testing.T) {
	net, box := newTestNet(t, "a", "b", "c", "d")
	mustNet(t, net.PauseLink("a", "b"))
	mustNet(t, net.PauseNode("c"))
	mustNet(t, net.Delay("b", "a", time.Hour))
	mustNet(t, net.DropLink("a", "d", true))
	mustNet(t, net.DropNext("d", "a", 3))
	mustNet(t, net.Partition([]NodeID{"b"}, []NodeID{"d"}))
	sendSeqs(net, "a", "b", 1, 2)
	sendSeqs(net, "c", "a", 1, 2)
	sendSeqs(net, "b", "a", 1, 2)
	wantHeld(t, net, "a", "b", 2)
	wantHeld(t, net, "c", "a", 2)
	wantHeld(t, net, "b", "a", 2)

	net.Heal()
	wantSeqs(t, box["b"], "a", 1, 2)
	wantSeqs(t, box["a"], "c", 1, 2)
	wantSeqs(t, box["a"], "b", 1, 2)
	wantClean(t, net)
	sendSeqs(net, "a", "d", 1)
	sendSeqs(net, "d", "a", 1)
	sendSeqs(net, "b", "d", 1)
	wantSeqs(t, box["d"], "", 1, 1)
	wantSeqs(t, box["a"], "d", 1)
	wantCounts(t, net, NetCounts{Sent: 9, Delivered: 9})
	wantClean(t, net)
}

func TestMemNetDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	net, box := newTestNet(t, "a", "b")
	mustNet(t, net.Delay("a", "b", delay))
	var sentAt []time.Time
	for seq := LSN(1); seq <= 3; seq++ {
		sentAt = append(sentAt, time.Now())
		net.Send(seqMsg("a", "b", seq))
	}
	sendSeqs(net, "b", "a", 1) // the other direction is not delayed
	wantSeqs(t, box["a"], "b", 1)

	box["b"].wait(t, 3)
	wantSeqs(t, box["b"], "a", 1, 2, 3)
	for i, at := range box["b"].at {
		if waited := at.Sub(sentAt[i]); waited < delay {
			t.Errorf("message %d delivered %v after Send, want at least %v", i+1, waited, delay)
		}
	}
	wantHeld(t, net, "a", "b", 0)

	mustNet(t, net.Delay("a", "b", 0))
	sendSeqs(net, "a", "b", 4) // no delay: delivered by Send
	wantSeqs(t, box["b"], "a", 1, 2, 3, 4)
	wantClean(t, net)
}

func TestMemNetDelayKeepsOrderWhenRemoved(t *testing.T) {
	net, box := newTestNet(t, "a", "b")
	mustNet(t, net.Delay("a", "b", time.Hour))
	sendSeqs(net, "a", "b", 1)
	mustNet(t, net.Delay("a", "b", 0))
	sendSeqs(net, "a", "b", 2) // may not overtake 1
	wantHeld(t, net, "a", "b", 2)
	wantSeqs(t, box["b"], "a")

	net.Heal()
	wantSeqs(t, box["b"], "a", 1, 2)
	wantClean(t, net)
}

func TestMemNetDelayWhilePaused(t *testing.T) {
	net, box := newTestNet(t, "a", "b")
	mustNet(t, net.PauseLink("a", "b"))
	mustNet(t, net.Delay("a", "b", time.Millisecond))
	sendSeqs(net, "a", "b", 1, 2, 3)
	wantHeld(t, net, "a", "b", 3)
	mustNet(t, net.ResumeLink("a", "b"))
	sendSeqs(net, "a", "b", 4)
	box["b"].wait(t, 4)
	wantSeqs(t, box["b"], "a", 1, 2, 3, 4)
}

// TestMemNetFIFOUnderConcurrentFaults sends from several goroutines per
// link while another goroutine pauses, resumes and delays those links and
// their receiver. Whatever the interleaving, each goroutine's messages
// arrive complete and in order.
func TestMemNetFIFOUnderConcurrentFaults(t *testing.T) {
	const (
		senders   = 3
		perLink   = 2 // goroutines sending on each link
		perSender = 300
	)
	net, box := newTestNet(t, "t")
	stop := make(chan struct{})
	faulted := make(chan struct{})
	go func() {
		defer close(faulted)
		injectFaults(net, senders, stop)
	}()
	var wg sync.WaitGroup
	for s := range senders {
		from := NodeID(fmt.Sprintf("s%d", s))
		for g := range perLink {
			wg.Go(func() {
				for seq := LSN(1); seq <= perSender; seq++ {
					msg := seqMsg(from, "t", seq)
					msg.Hint = LSN(g)
					net.Send(msg)
					if seq%8 == 0 {
						runtime.Gosched() // let the faults interleave
					}
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	<-faulted
	net.Heal() // delivers everything still held

	total := senders * perLink * perSender
	wantCounts(t, net, NetCounts{Sent: uint64(total), Delivered: uint64(total)})
	box["t"].mu.Lock()
	next := make(map[[2]any]LSN)
	for _, msg := range box["t"].msgs {
		stream := [2]any{msg.From, msg.Hint}
		if want := next[stream] + 1; msg.Commit != want {
			t.Fatalf("from %s goroutine %d: got %d, want %d", msg.From, msg.Hint, msg.Commit, want)
		}
		next[stream] = msg.Commit
	}
	box["t"].mu.Unlock()
	wantClean(t, net)
}

// injectFaults pauses, delays and resumes the links s0..s{senders-1} -> t
// and their receiver, one link per round, and heals every fourth round,
// until stop is closed.
func injectFaults(net *MemNet, senders int, stop <-chan struct{}) {
	for round := 0; ; round++ {
		from := NodeID(fmt.Sprintf("s%d", round%senders))
		steps := []func(){
			func() { net.PauseLink(from, "t") },
			func() { net.Delay(from, "t", time.Millisecond) },
			func() { net.PauseNode("t") },
			func() { net.ResumeLink(from, "t") },
			func() { net.ResumeNode("t") },
			func() { net.Delay(from, "t", 0) }, // delayed messages stay held
		}
		if round%4 == 3 {
			steps = append(steps, net.Heal) // back to the fast path
		}
		for _, step := range steps {
			select {
			case <-stop:
				return
			default:
			}
			step()
			runtime.Gosched()
		}
	}
}

func TestMemNetClose(t *testing.T) {
	net, box := newTestNet(t, "a", "b")
	mustNet(t, net.Delay("a", "b", time.Hour))
	mustNet(t, net.PauseLink("b", "a"))
	sendSeqs(net, "a", "b", 1, 2)
	sendSeqs(net, "b", "a", 1)
	net.Close()
	wantHeld(t, net, "a", "b", 0)
	wantHeld(t, net, "b", "a", 0)
	wantCounts(t, net, NetCounts{Sent: 3, Dropped: 3})

	sendSeqs(net, "a", "b", 3)
	mustNet(t, net.Delay("b", "a", time.Hour)) // no goroutine after Close
	mustNet(t, net.PauseLink("a", "b"))
	net.Heal()
	net.Close()
	sendSeqs(net, "b", "a", 2)
	wantSeqs(t, box["a"], "")
	wantSeqs(t, box["b"], "")
	wantCounts(t, net, NetCounts{Sent: 5, Dropped: 5})
	if err := net.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkMemNetSend measures Send on the fast path: no fault anywhere.
func BenchmarkMemNetSend(b *testing.B) {
	net := NewMemNet()
	defer net.Close()
	net.Register("b", func(Message) {})
	msg := seqMsg("a", "b", 1)
	b.ReportAllocs()
	for b.Loop() {
		net.Send(msg)
	}
}

// BenchmarkMemNetSendParallel measures the fast path with every P sending
// to its own receiver at once.
func BenchmarkMemNetSendParallel(b *testing.B) {
	net := NewMemNet()
	defer net.Close()
	const receivers = 16
	for i := range receivers {
		net.Register(NodeID(fmt.Sprintf("n%d", i)), func(Message) {})
	}
	var next sync.Mutex
	var i int
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		msg := seqMsg("a", NodeID(fmt.Sprintf("n%d", i%receivers)), 1)
		i++
		next.Unlock()
		for pb.Next() {
			net.Send(msg)
		}
	})
}
