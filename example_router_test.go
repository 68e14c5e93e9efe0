package replstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/replstore/replstore"
)

// laggingCluster starts leader n1, sync follower n2 and async follower n3
// with manual ticks, writes v1 of the ISS elements, lets every replica
// apply it, then cuts n3 off. From then on a Put returns once n2 has
// stored the write; n2 applies it when the next heartbeat (Tick) or write
// tells it the commit LSN.
func laggingCluster(ctx context.Context) (*replstore.Cluster, error) {
	cfg := replstore.DefaultConfig()
	cfg.ManualTicks = true
	cl, err := replstore.NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	pos, err := cl.Put(ctx, "sat/ISS/elements", []byte("v1"))
	if err == nil {
		err = cl.Tick(ctx)
	}
	for _, id := range []replstore.NodeID{"n2", "n3"} {
		if err == nil {
			err = cl.WaitApplied(ctx, id, pos.LSN)
		}
	}
	if err != nil {
		cl.Close()
		return nil, err
	}
	if err := cl.Net().PauseLink("n1", "n3"); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// Leader reads are linearizable: the leader first proves, with a round of
// heartbeats its sync follower answers, that it still leads. Cut off from
// that follower, it refuses instead of answering from state that may be
// stale.
func ExampleLeader() {
	ctx := context.Background()
	cl, err := laggingCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	// Outside a session, reads default to Leader mode.
	rec, _, served, err := cl.Get(ctx, "sat/ISS/elements")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s from %s, linearizable: %v\n", rec.Value, served.Node, served.Linearizable)

	if err := cl.Net().PauseNode("n2"); err != nil {
		fmt.Println(err)
		return
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, _, err = cl.Get(short, "sat/ISS/elements", replstore.Via(replstore.Leader{}))
	fmt.Println("cut off:", errors.Is(err, replstore.ErrNoReplica), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// v1 from n1, linearizable: true
	// cut off: true true
}

// AnyFollower reads whichever follower's turn it is, however far behind:
// here the session misses its own write on both followers.
func ExampleAnyFollower() {
	ctx := context.Background()
	cl, err := laggingCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	s := cl.NewSession(replstore.AnyFollower{})
	if _, err := s.Put(ctx, "sat/ISS/elements", []byte("v2")); err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		rec, _, served, err := s.Get(ctx, "sat/ISS/elements")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s from %s at %v, lag %d\n", rec.Value, served.Node, served.Applied, served.LagEntries)
	}
	// Output:
	// v1 from n2 at 1:2, lag 1
	// v1 from n3 at 1:2, lag 1
}

// SessionConsistent reads only from a replica that has reached the
// session's token. Here the read waits for n2, which catches up at the
// next heartbeat; a read that will not wait goes to the leader.
func ExampleSessionConsistent() {
	ctx := context.Background()
	cl, err := laggingCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	s := cl.NewSession(replstore.SessionConsistent{Wait: 10 * time.Second})
	if _, err := s.Put(ctx, "sat/ISS/elements", []byte("v2")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("token", s.Token())
	ticked := make(chan error, 1)
	go func() { ticked <- cl.Tick(ctx) }() // the heartbeat that lets n2 apply v2
	rec, _, served, err := s.Get(ctx, "sat/ISS/elements")
	if err := errors.Join(err, <-ticked); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s from %s at %v\n", rec.Value, served.Node, served.Applied)

	if _, err := s.Put(ctx, "sat/ISS/elements", []byte("v3")); err != nil {
		fmt.Println(err)
		return
	}
	rec, _, served, err = s.Get(ctx, "sat/ISS/elements", replstore.Via(replstore.SessionConsistent{Wait: -1}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s from %s at %v\n", rec.Value, served.Node, served.Applied)
	// Output:
	// token 1:3
	// v2 from n2 at 1:3
	// v3 from n1 at 1:4
}

// BoundedStaleness reads from a follower whose lag is within the bound:
// n3 is three samples behind, so a bound of 2 entries leaves it out and a
// bound of 3 lets it take its turn.
func ExampleMaxLagEntries() {
	ctx := context.Background()
	cl, err := laggingCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	var pos replstore.Position
	for i := range 3 {
		if pos, err = cl.AppendSample(ctx, "sat/ISS/altitude_km", time.Unix(int64(60*i), 0), 418.2); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := errors.Join(cl.Tick(ctx), cl.WaitApplied(ctx, "n2", pos.LSN)); err != nil {
		fmt.Println(err)
		return
	}
	reps, _ := cl.Replicas()
	fmt.Printf("lag: n2 %d, n3 %d entries\n", reps[1].LagEntries, reps[2].LagEntries)
	for _, mode := range []replstore.BoundedStaleness{replstore.MaxLagEntries(2), replstore.MaxLagEntries(3)} {
		s := cl.NewSession(mode)
		var servers []replstore.NodeID
		for range 4 {
			_, _, served, err := s.Latest(ctx, "sat/ISS/altitude_km")
			if err != nil {
				fmt.Println(err)
				return
			}
			servers = append(servers, served.Node)
		}
		fmt.Println(mode, servers)
	}
	// Output:
	// lag: n2 0, n3 3 entries
	// MaxLagEntries(2) [n2 n2 n2 n2]
	// MaxLagEntries(3) [n2 n3 n2 n3]
}

// A ground station writes new elements and hands its token, as text in a
// header, to a second service; that service's session adopts it and
// reads the new elements, though no follower has them yet.
func ExampleSession_Adopt() {
	ctx := context.Background()
	cl, err := laggingCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	ground := cl.NewSession(nil)
	if _, err := ground.Put(ctx, "sat/ISS/elements", []byte("v2")); err != nil {
		fmt.Println(err)
		return
	}
	header := ground.Token().String()
	fmt.Println("X-Replstore-Token:", header)

	// In the second service:
	tok, err := replstore.ParseToken(header)
	if err != nil {
		fmt.Println(err)
		return
	}
	service := cl.NewSession(replstore.SessionConsistent{Wait: -1})
	if err := service.Adopt(tok); err != nil {
		fmt.Println(err)
		return
	}
	rec, _, served, err := service.Get(ctx, "sat/ISS/elements")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s from %s\n", rec.Value, served.Node)

	_, err = replstore.ParseToken("1-3")
	fmt.Println(err)
	// Output:
	// X-Replstore-Token: 1:3
	// v2 from n1
	// replstore: bad token "1-3": no colon; want "epoch:lsn", e.g. "3:1042"
}

// regionRouter prefers a follower in its own region that has reached the
// session's token, and leaves every other case to SessionConsistent.
type regionRouter struct {
	region map[replstore.NodeID]string
	here   string
}

func (r regionRouter) Route(ctx context.Context, req *replstore.RouteRequest) (replstore.Target, error) {
	for _, rs := range req.Replicas {
		if !rs.Down && !rs.Leader && r.region[rs.ID] == r.here && req.Token.SatisfiedBy(rs.Applied) {
			return replstore.Target{Node: rs.ID, AtLeast: replstore.Position(req.Token)}, nil
		}
	}
	return replstore.SessionConsistent{Wait: -1}.Route(ctx, req)
}

// A custom ReadRouter: reads go to the follower in the reader's region
// while it keeps up with the session, and elsewhere when it does not.
func ExampleReadRouter() {
	ctx := context.Background()
	cl, err := laggingCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	s := cl.NewSession(regionRouter{region: map[replstore.NodeID]string{"n2": "us-east", "n3": "eu-west"}, here: "eu-west"})
	show := func() {
		rec, _, served, err := s.Get(ctx, "sat/ISS/elements")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s from %s\n", rec.Value, served.Node)
	}
	show() // n3 is cut off, but it has everything this session has seen
	if _, err := s.Put(ctx, "sat/ISS/elements", []byte("v2")); err != nil {
		fmt.Println(err)
		return
	}
	show() // n3 lacks the session's write, and so does n2 until its next heartbeat
	// Output:
	// v1 from n3
	// v2 from n1
}
