package replstore

import (
	"context"
	"fmt"
	"time"
)

// The built-in read modes. Each is a ReadRouter.
var (
	_ ReadRouter = Leader{}
	_ ReadRouter = AnyFollower{}
	_ ReadRouter = SessionConsistent{}
	_ ReadRouter = BoundedStaleness{}
)

// Leader serves reads from the leader once it has proved that it still
// leads (a round of heartbeats answered by its sync quorum) and has
// applied everything committed before the read: reads are linearizable.
// A leader cut off from its sync followers refuses with ErrNoReplica when
// the read's context ends; it never answers from a possibly stale state.
// Cost: one round trip to the sync quorum (concurrent reads share it) on
// the leader's goroutine. It is the default for reads outside a session.
type Leader struct{}

// Route implements ReadRouter.
func (Leader) Route(ctx context.Context, req *RouteRequest) (Target, error) {
	return req.ConfirmLeader(ctx)
}

// AnyFollower serves reads from any running follower, with no freshness
// promise (eventual consistency): a read may miss the session's own
// writes, and two reads may go back in time. A session's reads rotate
// over the running followers in Nodes order (its k-th read goes to the
// (k mod m)-th), so they spread the load; the leader serves only when no
// follower is running. Like every built-in mode, it skips a follower that
// has not caught up since it started or joined (ReplicaState.CaughtUp).
// Cost: no message and no wait, and the same whatever the number of
// nodes: a read measures only the follower it goes to (routeOnView).
type AnyFollower struct{}

// Route implements ReadRouter.
func (AnyFollower) Route(_ context.Context, req *RouteRequest) (Target, error) {
	if i, ok := req.pickFollower(nil); ok {
		return req.target(i, Position{}), nil
	}
	if i, ok := req.leaderIndex(); ok {
		return req.target(i, Position{}), nil
	}
	return Target{}, fmt.Errorf("%w: every node is down", ErrNoReplica)
}

// SessionConsistent serves a session's reads only from a replica whose
// applied position satisfies the session's token, which gives
// read-your-writes, monotonic reads and consistent prefix within the
// session (and writes-follow-reads, since every write goes through the
// one leader's log).
//
// A read rotates over the running followers that have caught up with the
// token: its k-th read goes to the (k mod m)-th of the m running
// followers if that one has reached the token (so when all have, the
// reads spread as in AnyFollower), else to one of those that have, in
// turn. If none has, it waits up to Wait for the most advanced one, takes
// any follower that caught up meanwhile, and otherwise falls back to the
// leader, which has normally applied every acknowledged write already (if
// not, just after a promotion, the read waits for it). It never waits
// past the read's context. Cost when followers are caught up: as
// AnyFollower, plus a check of the token against the chosen follower and
// the leader.
type SessionConsistent struct {
	// Wait is how long a read waits for a follower to reach the token
	// before it falls back to the leader. Zero means two heartbeat
	// intervals of the cluster (2 x HeartbeatTicks x TickInterval), long
	// enough for a follower to hear of the latest commit; negative means
	// do not wait.
	Wait time.Duration
}

// Route implements ReadRouter.
func (m SessionConsistent) Route(ctx context.Context, req *RouteRequest) (Target, error) {
	need := req.Token
	covered := func(rs *ReplicaState) bool { return need.SatisfiedBy(rs.Applied) }
	if l, ok := req.leaderIndex(); ok {
		// Every acknowledged write and every view is within the leader's
		// log: a token past it would be waited for in vain.
		ldr := &req.Replicas[l]
		if end := ldr.Applied.LSN + LSN(ldr.LagEntries); need.LSN > end || need.Epoch > ldr.Epoch {
			if req.be == nil || !req.be.advertised() {
				return Target{}, fmt.Errorf("%w: %v is past the end of leader %s's log (epoch %d, LSN %d): it names an entry this cluster never had, or one a failover lost",
					ErrBadToken, need, ldr.ID, ldr.Epoch, end)
			}
			// What a Node knows of the leader is a heartbeat old: ask it.
			if err := req.be.checkTokenHeld(ctx, Position(need)); err != nil {
				return Target{}, err
			}
		} else if need.Epoch < ldr.Epoch && need.LSN > 0 {
			// Issued before a failover: valid only if the new leader's
			// log holds that very entry (one round trip to the leader,
			// until the session's token reaches the new epoch).
			if err := req.be.checkTokenHeld(ctx, Position(need)); err != nil {
				return Target{}, err
			}
		}
	}
	if i, ok := req.pickFollower(covered); ok {
		return req.target(i, Position(need)), nil
	}
	if wait := m.budget(req); wait > 0 {
		if i, ok := req.mostAdvancedFollower(); ok {
			wctx, cancel := context.WithTimeout(ctx, wait)
			_ = req.WaitApplied(wctx, req.Replicas[i].ID, need.LSN) // on a timeout, try the others
			cancel()
			if err := ctx.Err(); err != nil {
				return Target{}, fmt.Errorf("%w: no replica reached session token %v before the read's context ended: %w", ErrNoReplica, need, inner(err))
			}
			if err := req.Refresh(); err != nil {
				return Target{}, err
			}
			if i, ok := req.pickFollower(covered); ok {
				return req.target(i, Position(need)), nil
			}
		}
	}
	l, ok := req.leaderIndex()
	if !ok {
		return Target{}, fmt.Errorf("%w: no follower has reached session token %v and no leader is running", ErrNoReplica, need)
	}
	if !covered(&req.Replicas[l]) {
		if err := req.WaitApplied(ctx, req.Replicas[l].ID, need.LSN); err != nil {
			return Target{}, fmt.Errorf("%w: session token %v: %w", ErrNoReplica, need, inner(err))
		}
	}
	return req.target(l, Position(need)), nil
}

// budget resolves Wait against the cluster's configuration.
func (m SessionConsistent) budget(req *RouteRequest) time.Duration {
	if m.Wait != 0 {
		return m.Wait
	}
	cfg := req.be.config()
	return 2 * time.Duration(cfg.HeartbeatTicks) * cfg.TickInterval
}

// BoundedStaleness serves a read from a running follower whose lag behind
// the leader's log, as Cluster.Replicas measures it, is within a bound in
// entries (MaxLagEntries) or in time (MaxLagTime); if none is, from the
// leader, the freshest replica (it applies a write before acknowledging
// it; only just after a promotion may it be catching up). Both measures
// are conservative (they count entries not yet committed, and LagTime is
// the age of the newest entry the follower applied), so a follower over
// the bound never serves. Without a running leader, lag cannot be
// measured and the read fails with ErrNoReplica. Followers that qualify
// take turns as in AnyFollower: the k-th read goes to the (k mod m)-th of
// the m running followers if it qualifies, else to one that does, in
// turn. Cost: as AnyFollower.
//
// The zero value bounds lag at 0 entries: only followers that have
// applied the leader's whole log qualify.
type BoundedStaleness struct {
	maxEntries uint64
	maxTime    time.Duration
	byTime     bool
}

// MaxLagEntries is BoundedStaleness with a bound in log entries: a
// follower qualifies while the leader's log holds at most n entries it
// has not applied.
func MaxLagEntries(n uint64) BoundedStaleness { return BoundedStaleness{maxEntries: n} }

// MaxLagTime is BoundedStaleness with a bound in time: a follower
// qualifies while its LagTime is at most d (a negative d counts as 0:
// caught-up followers only).
func MaxLagTime(d time.Duration) BoundedStaleness {
	return BoundedStaleness{maxTime: max(d, 0), byTime: true}
}

// String describes the bound, e.g. "MaxLagEntries(100)".
func (b BoundedStaleness) String() string {
	if b.byTime {
		return fmt.Sprintf("MaxLagTime(%v)", b.maxTime)
	}
	return fmt.Sprintf("MaxLagEntries(%d)", b.maxEntries)
}

// within reports whether rs is inside the bound.
func (b BoundedStaleness) within(rs *ReplicaState) bool {
	if b.byTime {
		return rs.LagTime <= b.maxTime
	}
	return rs.LagEntries <= b.maxEntries
}

// Route implements ReadRouter.
func (b BoundedStaleness) Route(_ context.Context, req *RouteRequest) (Target, error) {
	l, ok := req.leaderIndex()
	if !ok {
		return Target{}, fmt.Errorf("%w: %v: no running leader to measure follower lag against", ErrNoReplica, b)
	}
	if i, ok := req.pickFollower(b.within); ok {
		return req.target(i, Position{}), nil
	}
	return req.target(l, Position{}), nil
}

// routeOnView routes a read of a built-in follower mode on the cluster's
// replicaView, in O(1) whatever the number of nodes: it measures only the
// follower it picks (and the leader, for the modes that need it), and
// accepts the pick only if Route would serve that follower too. It
// reports false when it cannot decide so cheaply (no follower qualifies
// or the chosen one does not, a token that needs the leader's word, a
// custom router, Leader mode), and the read then goes through Route with
// every node's state. Only the built-in types themselves take this path:
// a custom router that embeds one keeps its own Route.
func routeOnView(cl *Cluster, router ReadRouter, need Token, seq uint64, p *viewPick) bool {
	switch m := router.(type) {
	case AnyFollower:
		return cl.pickOnView(seq, p)
	case SessionConsistent:
		if !cl.pickOnView(seq, p) || !need.SatisfiedBy(p.measured.Applied) {
			return false
		}
		if need != (Token{}) {
			// Route's checks of the token against the leader's log:
			// only a token of the leader's epoch, within its log, is
			// decided here.
			epoch, end, ok := cl.leaderOnView(p.view, p.leaderLast)
			if !ok || need.LSN > end || need.Epoch > epoch || (need.Epoch < epoch && need.LSN > 0) {
				return false
			}
		}
		p.target.AtLeast = Position(need)
		return true
	case BoundedStaleness:
		if !cl.pickOnView(seq, p) || !m.within(&p.measured) {
			return false
		}
		_, _, ok := cl.leaderOnView(p.view, p.leaderLast) // Route: no leader, no lag to measure
		return ok
	}
	return false
}
