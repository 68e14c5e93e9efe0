package replstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrNoReplica is returned when no replica can serve a read with the
// guarantee its mode asks for: the leader cannot prove it still leads,
// no replica reaches the session's token before the read's context ends,
// there is no leader to measure lag against, or every node is down.
var ErrNoReplica = errors.New("replstore: no replica can serve the read")

// Served says what served a read: every value the read returned comes
// from one replica's state at one applied position.
type Served struct {
	Node NodeID
	// Applied is the position of the view the read saw: exactly the
	// writes up to here. Token(Applied) is what a session learns.
	Applied Position
	// LagEntries is how many entries the leader's log held past what the
	// serving replica had applied when the read was routed (less what it
	// applied before serving), and LagTime bounds how stale its state was
	// then (see ReplicaState). Both are 0 for a caught-up replica; both
	// count entries not yet committed, so they never understate.
	LagEntries uint64
	LagTime    time.Duration
	// Leader is true when the leader served the read, and Linearizable
	// when it first proved it still leads (Leader mode).
	Leader       bool
	Linearizable bool
}

// ReadOption changes one read.
type ReadOption struct {
	router ReadRouter
}

// Via routes one read with r instead of the default (the session's mode,
// or Leader for a read outside a session). A nil r keeps the default.
func Via(r ReadRouter) ReadOption { return ReadOption{router: r} }

// maxRouteAttempts bounds how often a read is routed again after the view
// it was sent to fell short of its Target (a node restarted in between,
// or a router chose badly).
const maxRouteAttempts = 3

// retryError is a serving failure after which the read is routed again.
type retryError struct{ reason string }

func (e *retryError) Error() string { return e.reason }

// Get reads the record at key. The default mode is Leader (linearizable);
// pass Via(mode) for another. Served says which replica answered.
func (cl *Cluster) Get(ctx context.Context, key string, opts ...ReadOption) (Record, bool, Served, error) {
	return cl.get(ctx, nil, key, opts)
}

// GetMany reads several records from one replica at one applied position,
// so they always show a prefix of the log. Absent keys are missing from
// the map.
func (cl *Cluster) GetMany(ctx context.Context, keys []string, opts ...ReadOption) (map[string]Record, Served, error) {
	return cl.getMany(ctx, nil, keys, opts)
}

// Latest reads the sample of series with the greatest time.
func (cl *Cluster) Latest(ctx context.Context, series string, opts ...ReadOption) (Sample, bool, Served, error) {
	return cl.latest(ctx, nil, series, opts)
}

// Range reads the samples of series with from <= Time < to, in time order,
// from one replica at one applied position.
func (cl *Cluster) Range(ctx context.Context, series string, from, to time.Time, opts ...ReadOption) ([]Sample, Served, error) {
	return cl.rangeSamples(ctx, nil, series, from, to, opts)
}

// Read calls fn with a view of one replica's Store at one applied
// position, chosen by the router; every read through tx sees the same
// prefix of the log. fn runs once, only on a view that satisfies the
// router's Target; it must be short (it holds up that replica's apply)
// and must not keep tx.
func (cl *Cluster) Read(ctx context.Context, fn func(tx *ReadTx), opts ...ReadOption) (Served, error) {
	return cl.read(ctx, nil, opts, fn)
}

func (cl *Cluster) get(ctx context.Context, s *Session, key string, opts []ReadOption) (Record, bool, Served, error) {
	if err := cl.checkKeyValue(key, nil); err != nil {
		return Record{}, false, Served{}, err
	}
	var rec Record
	var found bool
	sv, err := cl.read(ctx, s, opts, func(tx *ReadTx) { rec, found = tx.Get(key) })
	return rec, found, sv, err
}

func (cl *Cluster) getMany(ctx context.Context, s *Session, keys []string, opts []ReadOption) (map[string]Record, Served, error) {
	for _, key := range keys {
		if err := cl.checkKeyValue(key, nil); err != nil {
			return nil, Served{}, err
		}
	}
	recs := make(map[string]Record, len(keys))
	sv, err := cl.read(ctx, s, opts, func(tx *ReadTx) {
		for _, key := range keys {
			if rec, ok := tx.Get(key); ok {
				recs[key] = rec
			}
		}
	})
	if err != nil {
		return nil, Served{}, err
	}
	return recs, sv, nil
}

func (cl *Cluster) latest(ctx context.Context, s *Session, series string, opts []ReadOption) (Sample, bool, Served, error) {
	if err := cl.checkKeyValue(series, nil); err != nil {
		return Sample{}, false, Served{}, err
	}
	var sm Sample
	var found bool
	sv, err := cl.read(ctx, s, opts, func(tx *ReadTx) { sm, found = tx.Latest(series) })
	return sm, found, sv, err
}

func (cl *Cluster) rangeSamples(ctx context.Context, s *Session, series string, from, to time.Time, opts []ReadOption) ([]Sample, Served, error) {
	if err := cl.checkKeyValue(series, nil); err != nil {
		return nil, Served{}, err
	}
	var out []Sample
	sv, err := cl.read(ctx, s, opts, func(tx *ReadTx) { out = tx.Range(series, from, to) })
	return out, sv, err
}

// read routes one read and serves it; a session (nil outside one) gives
// the default router, the token and Seq, and learns the view's position.
// A built-in follower mode first tries to route on the cached
// replicaView (routeOnView), which costs the same whatever the number of
// nodes; what it cannot decide there goes through the router's Route
// with every node's state.
func (cl *Cluster) read(ctx context.Context, s *Session, opts []ReadOption, fn func(*ReadTx)) (Served, error) {
	if err := ctx.Err(); err != nil {
		return Served{}, fmt.Errorf("replstore: read not started: %w", err)
	}
	var router ReadRouter = Leader{}
	var tok Token
	var seq uint64
	if s != nil {
		router, tok, seq = s.mode, s.Token(), s.seq.Add(1)-1
	} else {
		seq = rand.Uint64()
	}
	for _, o := range opts {
		if o.router != nil {
			router = o.router
		}
	}
	var p viewPick
	if routeOnView(cl, router, tok, seq, &p) {
		sv, err := cl.serveSession(s, p.target, &p.measured, fn)
		if err == nil {
			return sv, nil
		}
		if _, retry := err.(*retryError); !retry {
			return Served{}, err
		}
		// The view fell short (the node's state machine was rebuilt
		// since it was measured): Route decides, from every node's state.
	}
	req := routePool.Get().(*RouteRequest)
	*req = RouteRequest{Token: tok, Replicas: req.Replicas[:0], Seq: seq, be: cl, nodes: req.nodes[:0]}
	defer func() {
		clear(req.nodes) // do not keep node runtimes alive in the pool
		req.be = nil
		routePool.Put(req)
	}()
	var short error
	for req.Attempt = 0; req.Attempt < maxRouteAttempts; req.Attempt++ {
		if err := req.Refresh(); err != nil {
			return Served{}, err
		}
		t, err := router.Route(ctx, req)
		if err != nil {
			return Served{}, err
		}
		var measured *ReplicaState
		if rs, ok := req.state(t.Node); ok {
			measured = &rs
		}
		sv, err := cl.serveSession(s, t, measured, fn)
		if err == nil {
			return sv, nil
		}
		if _, retry := err.(*retryError); !retry {
			return Served{}, err
		}
		short = err
		if err := ctx.Err(); err != nil {
			return Served{}, fmt.Errorf("%w: %w (last try: %v)", ErrNoReplica, inner(err), short)
		}
	}
	return Served{}, fmt.Errorf("%w: routed %d times, last: %v", ErrNoReplica, maxRouteAttempts, short)
}

// serveSession serves fn at t and, in a session, records what it saw.
func (cl *Cluster) serveSession(s *Session, t Target, measured *ReplicaState, fn func(*ReadTx)) (Served, error) {
	sv, err := cl.serve(t, measured, fn)
	if err == nil && s != nil {
		s.observe(Token(sv.Applied))
	}
	return sv, err
}

// routePool recycles RouteRequests and their Replicas buffers: a read
// allocates neither.
var routePool = sync.Pool{New: func() any { return new(RouteRequest) }}

// serve runs fn on t's view if the view satisfies t.AtLeast. A built-in
// mode's target is served by the node runtime it measured (a crash since
// leaves its state as it was); a custom router's, by the node running now.
// Follower reads touch no node goroutine: they read the Store directly.
// measured is the node's state when the read was routed (nil if unknown),
// for the lag that Served reports.
func (cl *Cluster) serve(t Target, measured *ReplicaState, fn func(*ReadTx)) (Served, error) {
	n := t.node
	if n == nil {
		var err error
		if n, err = cl.running(t.Node); err != nil {
			if errors.Is(err, ErrNodeDown) {
				return Served{}, &retryError{fmt.Sprintf("%s is down", t.Node)}
			}
			return Served{}, withOp(fmt.Sprintf("read routed to %q", t.Node), err)
		}
	}
	st := n.store()
	if st == nil {
		return Served{}, fmt.Errorf("replstore: read from %s: its state machine is not the built-in Store: %w", t.Node, errors.ErrUnsupported)
	}
	var view Position
	short := false
	st.Read(func(tx *ReadTx) {
		view = tx.Applied()
		if short = !Token(t.AtLeast).SatisfiedBy(view); !short {
			fn(tx)
		}
	})
	if short {
		return Served{}, &retryError{fmt.Sprintf("%s's view at %v falls short of %v", t.Node, view, t.AtLeast)}
	}
	sv := Served{Node: t.Node, Applied: view, Leader: t.confirmed, Linearizable: t.confirmed}
	if rs := measured; rs != nil {
		// Lag as measured, less what the node applied since.
		sv.Leader = sv.Leader || rs.Leader
		sv.LagEntries, sv.LagTime = rs.LagEntries, rs.LagTime
		if view.LSN > rs.Applied.LSN {
			ahead := uint64(view.LSN - rs.Applied.LSN)
			sv.LagEntries -= min(ahead, sv.LagEntries)
		}
		if sv.LagEntries == 0 {
			sv.LagTime = 0
		}
	}
	return sv, nil
}
