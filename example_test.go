package replstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/replstore/replstore"
)

// A cluster with the default shape: leader n1, sync follower n2, async
// follower n3, ack level Durable. Put returns once n2 has stored the entry
// and n1 has applied it, so the leader's Store has it at once. n2 applies
// an entry only when the leader tells it the commit LSN, in its next append
// or heartbeat: with ManualTicks that is the next Tick (or the next write),
// and WaitApplied waits for it.
func ExampleNewCluster() {
	ctx := context.Background()
	cfg := replstore.DefaultConfig()
	cfg.ManualTicks = true // heartbeats only on cl.Tick: deterministic
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	pos, err := cl.Put(ctx, "sat/ISS/elements", []byte("a=6795km e=0.0005 i=51.64deg"))
	if err != nil {
		fmt.Println(err)
		return
	}
	// LSN 1 is the entry that opens epoch 1; the first write is LSN 2.
	fmt.Println("written at", pos)

	leader, _ := cl.Store("n1")
	rec, _ := leader.Get("sat/ISS/elements")
	fmt.Printf("n1: %s version %d\n", rec.Value, rec.Pos.LSN)

	n2, _ := cl.Store("n2")
	_, ok := n2.Get("sat/ISS/elements")
	fmt.Println("n2 has it before the heartbeat:", ok)

	if err := cl.Tick(ctx); err != nil { // the heartbeat carries commit LSN 2
		fmt.Println(err)
		return
	}
	if err := cl.WaitApplied(ctx, "n2", pos.LSN); err != nil {
		fmt.Println(err)
		return
	}
	rec, _ = n2.Get("sat/ISS/elements")
	fmt.Printf("n2: %s version %d\n", rec.Value, rec.Pos.LSN)
	// Output:
	// written at 1:2
	// n1: a=6795km e=0.0005 i=51.64deg version 2
	// n2 has it before the heartbeat: false
	// n2: a=6795km e=0.0005 i=51.64deg version 2
}

// With AckLevel Applied (PostgreSQL's remote_apply) a write is acknowledged
// only once the sync followers have applied it: when Put returns, a read on
// the sync follower already sees it, with no wait and no tick.
func ExampleConfig_applied() {
	ctx := context.Background()
	cfg := replstore.DefaultConfig()
	cfg.AckLevel = replstore.Applied
	cfg.ManualTicks = true
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	n2, _ := cl.Store("n2")
	for _, km := range []string{"418.20", "418.15"} {
		pos, err := cl.Put(ctx, "sat/ISS/altitude_km", []byte(km))
		if err != nil {
			fmt.Println(err)
			return
		}
		rec, ok := n2.Get("sat/ISS/altitude_km")
		fmt.Printf("put %s at %v; n2 reads %s (found %v, version %d)\n", km, pos, rec.Value, ok, rec.Pos.LSN)
	}
	// Output:
	// put 418.20 at 1:2; n2 reads 418.20 (found true, version 2)
	// put 418.15 at 1:3; n2 reads 418.15 (found true, version 3)
}

// Reserve cabin C14 only if it is still free: version 0 means "only if
// absent", so of two crews racing for it exactly one wins. A record's
// version is the LSN that last wrote it; passing it back hands the cabin
// over safely.
func ExampleCluster_CompareAndSwap() {
	ctx := context.Background()
	cl, err := replstore.NewCluster(replstore.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	pos, err := cl.CompareAndSwap(ctx, "cabin/C14", 0, []byte("crew-7"))
	fmt.Println("crew-7 reserves C14:", pos, err)

	_, err = cl.CompareAndSwap(ctx, "cabin/C14", 0, []byte("crew-9"))
	fmt.Println("crew-9 reserves C14:", err)
	fmt.Println("version mismatch:", errors.Is(err, replstore.ErrVersionMismatch))

	leader, _ := cl.Store("n1")
	rec, _ := leader.Get("cabin/C14")
	fmt.Printf("C14 is held by %s at version %d\n", rec.Value, rec.Pos.LSN)

	pos, err = cl.CompareAndSwap(ctx, "cabin/C14", rec.Pos.LSN, []byte("crew-9"))
	fmt.Println("crew-7 hands C14 to crew-9:", pos, err)
	// Output:
	// crew-7 reserves C14: 1:2 <nil>
	// crew-9 reserves C14: replstore: version mismatch: key "cabin/C14" is at version 2, expected 0
	// version mismatch: true
	// C14 is held by crew-7 at version 2
	// crew-7 hands C14 to crew-9: 1:4 <nil>
}

// A time series holds samples in time order. Sample times come from the
// writer, not from a clock, so every replica stores the same series; a
// sample at an existing time replaces it.
func ExampleCluster_AppendSample() {
	ctx := context.Background()
	cl, err := replstore.NewCluster(replstore.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, km := range []float64{418.20, 418.15, 418.10, 418.05} {
		if _, err := cl.AppendSample(ctx, "sat/ISS/altitude_km", t0.Add(time.Duration(i)*time.Minute), km); err != nil {
			fmt.Println(err)
			return
		}
	}
	leader, _ := cl.Store("n1")
	latest, _ := leader.Latest("sat/ISS/altitude_km")
	fmt.Printf("latest: %s %.2f km (written at %v)\n", latest.Time.Format("15:04"), latest.Value, latest.Pos)
	for _, s := range leader.Range("sat/ISS/altitude_km", t0.Add(time.Minute), t0.Add(3*time.Minute)) {
		fmt.Printf("range: %s %.2f km\n", s.Time.Format("15:04"), s.Value)
	}
	// Output:
	// latest: 12:03 418.05 km (written at 1:5)
	// range: 12:01 418.15 km
	// range: 12:02 418.10 km
}

// Pausing the link to the async follower n3 does not slow writes down:
// they are acknowledged as soon as the sync follower n2 has them, while n3
// falls further behind. When the link comes back, n3 catches up.
// (Cluster.Stats shows the same lag as the leader sees it, from the
// followers' acknowledgements, which lag by a round trip.)
func ExampleMemNet_PauseLink() {
	ctx := context.Background()
	cfg := replstore.DefaultConfig()
	cfg.ManualTicks = true
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	// Start with n3 caught up.
	pos, _ := cl.Put(ctx, "sat/CSS/elements", []byte("a=6760km"))
	_ = cl.Tick(ctx)
	if err := cl.WaitApplied(ctx, "n3", pos.LSN); err != nil {
		fmt.Println(err)
		return
	}

	if err := cl.Net().PauseLink("n1", "n3"); err != nil {
		fmt.Println(err)
		return
	}
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		pos, err = cl.AppendSample(ctx, "sat/CSS/altitude_km", t0.Add(time.Duration(i)*time.Minute), 383.9)
		if err != nil {
			fmt.Println(err)
			return
		}
		leader, _ := cl.NodeStats(ctx, "n1")
		n3, _ := cl.NodeStats(ctx, "n3")
		fmt.Printf("acknowledged %v; commit LSN %d, n3 applied %d\n", pos, leader.Commit, n3.Applied)
	}
	n3, _ := cl.Store("n3")
	_, ok := n3.Latest("sat/CSS/altitude_km")
	fmt.Println("n3 has the series:", ok)

	if err := cl.Net().ResumeLink("n1", "n3"); err != nil {
		fmt.Println(err)
		return
	}
	_ = cl.Tick(ctx) // a heartbeat tells n3 the commit LSN
	if err := cl.WaitApplied(ctx, "n3", pos.LSN); err != nil {
		fmt.Println(err)
		return
	}
	latest, _ := n3.Latest("sat/CSS/altitude_km")
	fmt.Println("n3 caught up to", latest.Pos)
	// Output:
	// acknowledged 1:3; commit LSN 3, n3 applied 2
	// acknowledged 1:4; commit LSN 4, n3 applied 2
	// acknowledged 1:5; commit LSN 5, n3 applied 2
	// n3 has the series: false
	// n3 caught up to 1:5
}

// Under the default Block policy a write that the sync set cannot
// acknowledge waits, and fails with NotAcknowledgedError when its context
// ends. It is not lost and not acknowledged: it stays in the leader's log
// and commits if the sync follower comes back.
func ExampleNotAcknowledgedError() {
	ctx := context.Background()
	cfg := replstore.DefaultConfig()
	cfg.ManualTicks = true
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	if err := cl.Net().PauseLink("n1", "n2"); err != nil { // the sync follower hears nothing
		fmt.Println(err)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = cl.Put(wctx, "sat/ISS/reboost", []byte("dv=0.6m/s"))
	cancel()
	fmt.Println("not acknowledged:", errors.Is(err, replstore.ErrNotAcknowledged))
	fmt.Println("deadline exceeded:", errors.Is(err, context.DeadlineExceeded))
	var nae *replstore.NotAcknowledgedError
	if !errors.As(err, &nae) {
		fmt.Println("unexpected:", err)
		return
	}
	fmt.Println("appended at", nae.Pos, "waiting for", nae.AckLevel)

	if err := cl.Net().ResumeLink("n1", "n2"); err != nil {
		fmt.Println(err)
		return
	}
	if err := cl.WaitApplied(ctx, "n1", nae.Pos.LSN); err != nil {
		fmt.Println(err)
		return
	}
	leader, _ := cl.Store("n1")
	rec, _ := leader.Get("sat/ISS/reboost")
	fmt.Printf("after the link healed: %s at version %d\n", rec.Value, rec.Pos.LSN)
	// Output:
	// not acknowledged: true
	// deadline exceeded: true
	// appended at 1:2 waiting for Durable
	// after the link healed: dv=0.6m/s at version 2
}

// DegradeAfter trades safety for availability, as MySQL's semi-sync
// timeout does: once the sync set has been silent for the given time, the
// leader commits alone (ack level Local) and says so, in an event and in
// Stats. It returns to sync commit when the sync follower answers again.
func ExampleDegradeAfter() {
	ctx := context.Background()
	events := make(chan replstore.Event, 1024)
	cfg := replstore.DefaultConfig()
	cfg.ManualTicks = true // one Tick is one TickInterval (10ms)
	cfg.SyncLoss = replstore.DegradeAfter(30 * time.Millisecond)
	cfg.OnEvent = func(e replstore.Event) {
		switch e.Kind {
		case replstore.EventSyncUnavailable, replstore.EventDegraded, replstore.EventSyncAvailable, replstore.EventRestored:
			events <- e
		}
	}
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	if _, err := cl.Put(ctx, "sat/ISS/mode", []byte("nominal")); err != nil {
		fmt.Println(err)
		return
	}

	if err := cl.Net().PauseLink("n1", "n2"); err != nil {
		fmt.Println(err)
		return
	}
	tickUntil(ctx, cl, func(st replstore.Stats) bool { return st.Degraded })
	pos, err := cl.Put(ctx, "sat/ISS/mode", []byte("safe-hold"))
	fmt.Println("write while degraded:", pos, err)

	if err := cl.Net().ResumeLink("n1", "n2"); err != nil {
		fmt.Println(err)
		return
	}
	tickUntil(ctx, cl, func(st replstore.Stats) bool { return !st.Degraded })
	pos, err = cl.Put(ctx, "sat/ISS/mode", []byte("nominal"))
	fmt.Println("write after recovery:", pos, err)

	for len(events) > 0 {
		fmt.Println(<-events)
	}
	// Output:
	// write while degraded: 1:3 <nil>
	// write after recovery: 1:4 <nil>
	// sync-unavailable on n1 (epoch 1, LSN 2): fewer sync followers live than the commit rule needs
	// degraded on n1 (epoch 1, LSN 2): sync set unavailable for 3 ticks: committing at Local (leader only) from LSN 3
	// sync-available on n1 (epoch 1, LSN 3)
	// restored on n1 (epoch 1, LSN 3): sync commit restored; LSNs 3..3 were acknowledged by the leader alone
}

// tickUntil ticks the cluster until its Stats satisfy done (at most 100
// ticks). Stats runs on the leader after its tick, so the events of each
// tick have been delivered by the time done is checked.
func tickUntil(ctx context.Context, cl *replstore.Cluster, done func(replstore.Stats) bool) {
	for range 100 {
		if err := cl.Tick(ctx); err != nil {
			fmt.Println(err)
			return
		}
		st, err := cl.Stats(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		if done(st) {
			return
		}
	}
	fmt.Println("gave up after 100 ticks")
}
