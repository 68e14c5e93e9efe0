// Command replstore-demo tells replstore's story in one short run: an
// in-process cluster (leader n1, sync follower n2, async follower n3, ack
// level Durable) stores satellite telemetry, shows each follower's lag,
// shows that a write is acknowledged once the sync follower has it while
// the async one lags, shows a write that cannot be acknowledged while the
// sync follower is cut off, reserves a cabin with compare-and-swap, and
// then crashes the leader: the coordinator fences the nodes with a new
// epoch and promotes the sync follower, which holds every acknowledged
// write, and the old leader, restarted, rolls back the write no client
// was told had committed.
//
//	go run ./cmd/replstore-demo [-writes N] [-quiet]
//
// Every wait is on the cluster (WaitApplied, events) or a context, never a
// sleep; the run takes about a second and a half, nearly all of it the
// failure detector waiting SuspectTicks before it suspects the leader.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/replstore/replstore"
)

func main() {
	writes := flag.Int("writes", 3, "altitude samples to write in the first step")
	quiet := flag.Bool("quiet", false, "print the story's conclusions, not every write")
	flag.Parse()
	if err := run(os.Stdout, *writes, *quiet); err != nil {
		fmt.Fprintln(os.Stderr, "replstore-demo:", err)
		os.Exit(1)
	}
}

// demo is one run: the cluster, who plays which role, and where to print.
type demo struct {
	cl                  *replstore.Cluster
	leader, sync, async replstore.NodeID
	events              chan replstore.Event
	w                   io.Writer
	quiet               bool
	// acked is every write a client was told had committed: a record's
	// key, or "series@time" for a sample, with the Position it was told.
	acked map[string]replstore.Position
}

func run(w io.Writer, writes int, quiet bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := replstore.DefaultConfig()
	d := &demo{leader: cfg.Leader, sync: cfg.SyncFollowers[0], async: cfg.AsyncFollowers[0],
		events: make(chan replstore.Event, 256), w: w, quiet: quiet, acked: map[string]replstore.Position{}}
	cfg.OnEvent = func(e replstore.Event) {
		select { // OnEvent must not block: drop what nobody reads
		case d.events <- e:
		default:
		}
	}
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		return err
	}
	d.cl = cl
	d.say("replstore demo: leader %s, sync follower %s, async follower %s; FIRST %d, ack level %v, policy %v",
		d.leader, d.sync, d.async, cfg.SyncCount, cfg.AckLevel, cfg.SyncLoss)
	for _, step := range []func(context.Context) error{
		func(ctx context.Context) error { return d.telemetry(ctx, writes) },
		d.lagTable, d.asyncLags, d.syncLost, d.reserveCabin, d.leaderCrash,
	} {
		if err = step(ctx); err != nil {
			break
		}
	}
	if cerr := cl.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.w, format+"\n", args...) }

// detail prints a line unless -quiet.
func (d *demo) detail(format string, args ...any) {
	if !d.quiet {
		d.say(format, args...)
	}
}

// t0 is the (fixed) time of the first sample: sample times come from the
// writer, not from a clock.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

var elements = map[string]string{
	"ISS": "a=6795km e=0.0005 i=51.64deg",
	"HST": "a=6895km e=0.0002 i=28.47deg",
	"CSS": "a=6760km e=0.0007 i=41.47deg",
}

func (d *demo) telemetry(ctx context.Context, writes int) error {
	d.say("\n1. Telemetry writes (each returns its Position, epoch:LSN)")
	d.say("  (LSN 1 is epoch 1's first entry: a leader opens its epoch with an entry that carries no command, so the first write is 1:2)")
	for _, sat := range []string{"ISS", "HST"} {
		key := "sat/" + sat + "/elements"
		pos, err := d.put(ctx, key, []byte(elements[sat]))
		if err != nil {
			return err
		}
		d.detail("  put    %-22s %-30s -> %v", key, elements[sat], pos)
	}
	for i := range writes {
		t, km := t0.Add(time.Duration(i)*time.Minute), 418.2-0.05*float64(i)
		pos, err := d.sample(ctx, "sat/ISS/altitude_km", t, km)
		if err != nil {
			return err
		}
		d.detail("  sample %-22s %s %7.2f km             -> %v", "sat/ISS/altitude_km", t.Format("15:04"), km, pos)
	}
	st, err := d.cl.Store(d.leader)
	if err != nil {
		return err
	}
	if s, ok := st.Latest("sat/ISS/altitude_km"); ok {
		n := len(st.Range("sat/ISS/altitude_km", t0, t0.Add(24*time.Hour)))
		d.say("  %s store: latest ISS altitude %.2f km at %s (%d samples)", d.leader, s.Value, s.Time.Format("15:04"), n)
	}
	return nil
}

// lagTable prints the leader's view of its followers.
func (d *demo) lagTable(ctx context.Context) error {
	st, err := d.cl.Stats(ctx)
	if err != nil {
		return err
	}
	d.say("\n2. Replication lag, as leader %s sees it (commit LSN %d)", st.Leader, st.Commit)
	d.say("  %-8s %-5s %-5s %8s %8s %8s %10s %9s", "follower", "sync", "live", "received", "durable", "applied", "lag(LSNs)", "lag(time)")
	for _, f := range st.Followers {
		d.say("  %-8s %-5v %-5v %8d %8d %8d %10d %9s", f.ID, f.Sync, f.Live, f.Received, f.Durable, f.Applied,
			f.LagEntries, f.LagTime.Round(10*time.Microsecond))
	}
	d.say("  (Durable: %s has stored every committed entry; it applies one when the next append or heartbeat tells it the commit LSN)", d.sync)
	return nil
}

// asyncLags pauses the link to the async follower: writes are still
// acknowledged (the sync follower has them), the async follower falls
// behind, then catches up.
func (d *demo) asyncLags(ctx context.Context) error {
	if err := d.catchUp(ctx, d.async); err != nil { // start from a caught-up n3
		return err
	}
	d.say("\n3. Sync vs async: pause link %s -> %s", d.leader, d.async)
	if err := d.cl.Net().PauseLink(d.leader, d.async); err != nil {
		return err
	}
	pos, err := d.put(ctx, "sat/CSS/elements", []byte(elements["CSS"]))
	if err != nil {
		return err
	}
	d.say("  put sat/CSS/elements -> %v: acknowledged", pos)
	if err := d.cl.WaitApplied(ctx, d.sync, pos.LSN); err != nil {
		return err
	}
	d.show(d.sync, "sat/CSS/elements")
	d.show(d.async, "sat/CSS/elements")
	for i := range 3 {
		if _, err := d.sample(ctx, "sat/CSS/altitude_km", t0.Add(time.Duration(i)*time.Minute), 383.9); err != nil {
			return err
		}
		if err := d.showLag(ctx, d.async); err != nil {
			return err
		}
	}
	if err := d.cl.Net().ResumeLink(d.leader, d.async); err != nil {
		return err
	}
	d.say("  resume link")
	if err := d.catchUp(ctx, d.async); err != nil {
		return err
	}
	d.show(d.async, "sat/CSS/elements")
	return nil
}

// syncLost pauses the link to the sync follower: under Block a write
// cannot be acknowledged, and fails when its deadline passes.
func (d *demo) syncLost(ctx context.Context) error {
	d.say("\n4. Sync follower cut off: pause link %s -> %s, write with a 200ms deadline", d.leader, d.sync)
	if err := d.cl.Net().PauseLink(d.leader, d.sync); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := d.cl.Put(wctx, "sat/ISS/reboost", []byte("dv=0.6m/s"))
	cancel()
	var nae *replstore.NotAcknowledgedError
	if !errors.As(err, &nae) {
		return fmt.Errorf("want a NotAcknowledgedError, got %v", err)
	}
	d.say("  error: %v", err)
	d.say("  errors.Is(err, ErrNotAcknowledged) = %v", errors.Is(err, replstore.ErrNotAcknowledged))
	if err := d.awaitEvent(ctx, replstore.EventSyncUnavailable); err != nil {
		return err
	}
	if err := d.cl.Net().ResumeLink(d.leader, d.sync); err != nil {
		return err
	}
	d.say("  resume link")
	if err := d.awaitEvent(ctx, replstore.EventSyncAvailable); err != nil {
		return err
	}
	if err := d.cl.WaitApplied(ctx, d.sync, nae.Pos.LSN); err != nil {
		return err
	}
	d.say("  the unacknowledged write at %v committed after all, now that %s has it:", nae.Pos, d.sync)
	d.show(d.leader, "sat/ISS/reboost")
	pos, err := d.put(ctx, "sat/ISS/reboost", []byte("dv=0.4m/s"))
	if err != nil {
		return err
	}
	d.say("  a new write is acknowledged again -> %v", pos)
	return nil
}

// reserveCabin: compare-and-swap on a record's version (0: only if absent).
func (d *demo) reserveCabin(ctx context.Context) error {
	d.say("\n5. Reserve cabin C14 only if it is still free (CompareAndSwap, version 0 = absent)")
	pos, err := d.cl.CompareAndSwap(ctx, "cabin/C14", 0, []byte("crew-7"))
	if err != nil {
		return err
	}
	d.acked["cabin/C14"] = pos
	d.say("  crew-7: reserved -> %v (the record's version is now %d)", pos, pos.LSN)
	pos, err = d.cl.CompareAndSwap(ctx, "cabin/C14", 0, []byte("crew-9"))
	if !errors.Is(err, replstore.ErrVersionMismatch) {
		return fmt.Errorf("second reservation: want ErrVersionMismatch, got %v", err)
	}
	d.say("  crew-9: %v (the failed CAS still took LSN %d; it changed nothing)", err, pos.LSN)
	d.show(d.leader, "cabin/C14")
	return nil
}

// leaderCrash: a write only the leader holds (its links to both
// followers drop everything), then the leader crashes. The coordinator
// fences the followers with epoch 2 and promotes the sync follower, which
// holds every acknowledged write; the old leader, restarted, learns epoch
// 2 and rolls back the write that never reached a follower.
func (d *demo) leaderCrash(ctx context.Context) error {
	for drained := false; !drained; { // earlier steps' events
		select {
		case <-d.events:
		default:
			drained = true
		}
	}
	d.say("\n6. The leader crashes")
	net := d.cl.Net()
	for _, f := range []replstore.NodeID{d.sync, d.async} {
		if err := net.DropLink(d.leader, f, true); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := d.cl.Put(wctx, "sat/ISS/debris-alert", []byte("conjunction 14:05"))
	cancel()
	var nae *replstore.NotAcknowledgedError
	if !errors.As(err, &nae) {
		return fmt.Errorf("want a NotAcknowledgedError, got %v", err)
	}
	d.say("  links %s -> %s and %s -> %s drop everything; put sat/ISS/debris-alert with a 200ms deadline:", d.leader, d.sync, d.leader, d.async)
	d.say("  error: %v", err)
	if err := d.cl.Crash(d.leader); err != nil {
		return err
	}
	for _, f := range []replstore.NodeID{d.sync, d.async} {
		if err := net.DropLink(d.leader, f, false); err != nil {
			return err
		}
	}
	cfg := d.cl.Config()
	d.say("  crash %s: its log ends at %v, which no follower holds and no client was told had committed", d.leader, nae.Pos)
	d.say("  the followers stop hearing from %s; after SuspectTicks (%d ticks of %v) they suspect it, its lease at the coordinator has run out, and the coordinator fails over:",
		d.leader, cfg.SuspectTicks, cfg.TickInterval)
	promoted, err := d.watchFailover(ctx)
	if err != nil {
		return err
	}
	if promoted.Peer != d.sync {
		return fmt.Errorf("the coordinator promoted %s, not the sync follower %s", promoted.Peer, d.sync)
	}
	pos, err := d.put(ctx, "sat/ISS/status", []byte("nominal"))
	if err != nil {
		return err
	}
	d.say("  put sat/ISS/status on the new leader -> %v", pos)
	if pos.LSN != nae.Pos.LSN+1 {
		return fmt.Errorf("the new leader's first write is at %v; want LSN %d, after the entry that opens its epoch", pos, nae.Pos.LSN+1)
	}
	d.say("  (%d:%d is epoch %d's first entry: %s opened its epoch with it, as %s opened epoch 1 with 1:1; LSN %d now holds %d:%d on %s and %v on %s)",
		pos.Epoch, pos.LSN-1, pos.Epoch, d.sync, d.leader, nae.Pos.LSN, pos.Epoch, nae.Pos.LSN, d.sync, nae.Pos, d.leader)
	if err := d.checkAcked(d.sync); err != nil {
		return err
	}
	d.say("  restart %s: it learns epoch %d from %s and rolls back what %s does not have", d.leader, pos.Epoch, d.sync, d.sync)
	if err := d.cl.Restart(d.leader); err != nil {
		return err
	}
	rolled, err := d.nextEvent(ctx, replstore.EventRolledBack)
	if err != nil {
		return err
	}
	var dropped []replstore.Position
	for _, e := range rolled.Entries {
		dropped = append(dropped, e.Pos)
	}
	d.say("  event: %v: dropped %v", rolled, dropped)
	if len(dropped) != 1 || dropped[0] != nae.Pos {
		return fmt.Errorf("%s rolled back %v; want only the unacknowledged write at %v", d.leader, dropped, nae.Pos)
	}
	d.say("  under sync commit nothing it drops was acknowledged: %v is the debris alert whose writer got ErrNotAcknowledged", nae.Pos)
	if err := d.cl.WaitApplied(ctx, d.leader, pos.LSN); err != nil {
		return err
	}
	st, err := d.cl.Store(d.leader)
	if err != nil {
		return err
	}
	if r, ok := st.Get("sat/ISS/debris-alert"); ok {
		return fmt.Errorf("%s still holds the rolled-back write: %q at %v", d.leader, r.Value, r.Pos)
	}
	d.say("  %s follows %s now (applied %v): sat/ISS/debris-alert is gone, and:", d.leader, d.sync, st.LastApplied())
	d.show(d.leader, "sat/ISS/status")
	return nil
}

// watchFailover prints the failover's events until a node is promoted,
// and returns that event.
func (d *demo) watchFailover(ctx context.Context) (replstore.Event, error) {
	for {
		e, err := d.nextEvent(ctx, 0)
		if err != nil {
			return e, err
		}
		switch e.Kind {
		case replstore.EventFailoverStarted:
			d.say("  event: %v", e)
			d.say("    (the fencing round: every node is offered epoch %d; one that takes it refuses %s from then on and answers with its last Position)", e.Epoch, d.leader)
		case replstore.EventFailoverBlocked, replstore.EventDataLoss:
			d.say("  event: %v", e)
		case replstore.EventPromoted:
			d.say("  event: %v", e)
			cfg := d.cl.Config()
			d.say("    (%s is the sync follower: with %v %d of %v its answer proves it holds every acknowledged write; its own sync list, %v, fills the slot it left with a live follower)",
				e.Peer, cfg.Quorum, cfg.SyncCount, cfg.SyncFollowers, e.Members)
			return e, nil
		}
	}
}

// checkAcked reads every write a client was told had committed from id's
// store: each must be there at the Position its writer was told.
func (d *demo) checkAcked(id replstore.NodeID) error {
	ns, err := d.cl.NodeStats(context.Background(), id)
	if err != nil {
		return err
	}
	if err := d.cl.WaitApplied(context.Background(), id, ns.Commit); err != nil {
		return err
	}
	st, err := d.cl.Store(id)
	if err != nil {
		return err
	}
	lost := 0
	for what, pos := range d.acked {
		var have replstore.Position
		if series, at, ok := strings.Cut(what, "@"); ok {
			t, _ := time.Parse(time.RFC3339Nano, at)
			for _, s := range st.Range(series, t, t.Add(1)) {
				have = s.Pos
			}
		} else if r, ok := st.Get(what); ok {
			have = r.Pos
		}
		if have != pos {
			lost++
			d.say("  LOST: %s was acknowledged at %v; %s holds %v", what, pos, id, have)
		}
	}
	d.say("  every acknowledged write is on %s at the Position its writer was told: %d of %d (lost: %d)", id, len(d.acked)-lost, len(d.acked), lost)
	if lost > 0 {
		return fmt.Errorf("%d acknowledged writes lost", lost)
	}
	return nil
}

// put and sample write and remember what their writer was told.
func (d *demo) put(ctx context.Context, key string, value []byte) (replstore.Position, error) {
	pos, err := d.cl.Put(ctx, key, value)
	if err == nil {
		d.acked[key] = pos
	}
	return pos, err
}

func (d *demo) sample(ctx context.Context, series string, t time.Time, v float64) (replstore.Position, error) {
	pos, err := d.cl.AppendSample(ctx, series, t, v)
	if err == nil {
		d.acked[series+"@"+t.Format(time.RFC3339Nano)] = pos
	}
	return pos, err
}

// show prints what node id's store holds at key (or why it cannot tell).
func (d *demo) show(id replstore.NodeID, key string) {
	st, err := d.cl.Store(id)
	if err != nil {
		d.say("  %s store: %v", id, err)
		return
	}
	if r, ok := st.Get(key); ok {
		d.say("  %s store: %s = %q (version %d)", id, key, r.Value, r.Pos.LSN)
	} else {
		d.say("  %s store: %s not there yet (applied %v)", id, key, st.LastApplied())
	}
}

// catchUp waits until id has applied the leader's commit LSN.
func (d *demo) catchUp(ctx context.Context, id replstore.NodeID) error {
	ns, err := d.cl.NodeStats(ctx, d.leader)
	if err == nil {
		err = d.cl.WaitApplied(ctx, id, ns.Commit)
	}
	if err == nil && !d.quiet {
		d.say("  WaitApplied(%s, %d): %s has caught up with commit LSN %d", id, ns.Commit, id, ns.Commit)
	}
	return err
}

// showLag prints how far id trails the commit LSN: by its own applied
// LSN, and as the leader sees it (from acknowledgements, a round trip late).
func (d *demo) showLag(ctx context.Context, id replstore.NodeID) error {
	st, err := d.cl.Stats(ctx)
	if err != nil {
		return err
	}
	var applied replstore.LSN
	for _, ns := range st.Nodes {
		if ns.ID == id {
			applied = ns.Applied
		}
	}
	for _, f := range st.Followers {
		if f.ID == id {
			d.say("  sample acknowledged, commit LSN %d; %s has applied %d; leader's view: lag %d entries",
				st.Commit, id, applied, f.LagEntries)
		}
	}
	return nil
}

// awaitEvent waits for the next event of kind and prints it.
func (d *demo) awaitEvent(ctx context.Context, kind replstore.EventKind) error {
	e, err := d.nextEvent(ctx, kind)
	if err == nil {
		d.say("  event: %v", e)
	}
	return err
}

// nextEvent waits for the next event of kind (0: of any kind).
func (d *demo) nextEvent(ctx context.Context, kind replstore.EventKind) (replstore.Event, error) {
	for {
		select {
		case e := <-d.events:
			if kind == 0 || e.Kind == kind {
				return e, nil
			}
		case <-ctx.Done():
			return replstore.Event{}, fmt.Errorf("waiting for event %v: %w", kind, ctx.Err())
		}
	}
}
