package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/replstore/replstore"
)

// leaderWatch decides when to warn that this node has no live leader:
// it knows none, it is named leader but does not lead (a leader
// restarted on its directory never leads its old epoch again,
// HardState.Led), or it has heard nothing from the leader it knows.
// With manual failover nothing changes that until an operator asks.
type leaderWatch struct {
	after time.Duration // without a live leader this long: warn
	every time.Duration // then at most once per every
	// since is when the current spell without a live leader began; zero
	// while there is one.
	since  time.Time
	warned time.Time // the last warning; zero: none in this spell
}

// observe records, at now, whether the node has a live leader, and says
// whether to warn now and how long the spell has lasted.
func (w *leaderWatch) observe(now time.Time, live bool) (warn bool, without time.Duration) {
	if live {
		w.since, w.warned = time.Time{}, time.Time{}
		return false, 0
	}
	if w.since.IsZero() {
		w.since = now
	}
	without = now.Sub(w.since)
	if without < w.after || (!w.warned.IsZero() && now.Sub(w.warned) < w.every) {
		return false, without
	}
	w.warned = now
	return true, without
}

// liveLeader says whether nd has a leader it can follow now: itself
// leading, or another node it has heard from within silence.
func liveLeader(nd *replstore.Node, heard *heardTransport, silence time.Duration) (leader replstore.NodeID, live bool) {
	leader = nd.Leader()
	if leader == "" {
		return "", false
	}
	if leader == nd.ID() {
		reps, err := nd.Replicas()
		if err != nil {
			return leader, false
		}
		for _, rs := range reps {
			if rs.ID == leader {
				return leader, rs.Leader
			}
		}
		return leader, false
	}
	ago, ok := heard.since(leader)
	return leader, ok && ago <= silence
}

// watchLeader checks every poll until ctx ends, and logs a WARN (at most
// once per w.every) while the node has no live leader, saying what
// brings one back.
func watchLeader(ctx context.Context, nd *replstore.Node, heard *heardTransport, silence, poll time.Duration, w *leaderWatch, manualFailover bool, log *slog.Logger) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			leader, live := liveLeader(nd, heard, silence)
			warn, without := w.observe(now, live)
			if !warn {
				continue
			}
			without = without.Round(time.Second)
			if manualFailover {
				log.Warn("no live leader: with -manual-failover (the default) no node is promoted until an operator runs POST /v1/admin/failover on any node (a leader restarted on its -dir never leads its old epoch again)",
					"known_leader", string(leader), "for", without)
			} else {
				log.Warn("no live leader: waiting for the coordinator to fail over (check that it runs and is reachable)",
					"known_leader", string(leader), "for", without)
			}
		}
	}
}
