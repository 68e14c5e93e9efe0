package replstore

import (
	"fmt"
	"slices"
)

// SyncSetChange records one version of the commit rule: writes committed
// after AtCommit (the leader's commit LSN when the change happened) were
// acknowledged by Members at the configured ack level, or by the leader
// alone when Degraded. Failover reads this history to know which nodes
// hold which acknowledged writes.
type SyncSetChange struct {
	Epoch    Epoch
	AtCommit LSN
	Members  []NodeID
	Degraded bool
	Reason   string
}

// refreshSyncSet chooses the sync set: under FIRST n the n highest-priority
// live members of the sync list (dead ones fill in if too few are live, so
// commit blocks rather than shrinks); under ANY n every member. It records
// a change in the history.
func (c *core) refreshSyncSet() {
	n := c.cfg.syncCount
	want := make(map[NodeID]bool, len(c.syncList))
	live := 0
	for _, id := range c.syncList {
		if c.progressOf(id).live(c.tick, c.cfg.timeoutTicks) {
			live++
			want[id] = c.cfg.quorum == Any || live <= n
		} else {
			want[id] = c.cfg.quorum == Any
		}
	}
	if c.cfg.quorum == First {
		// Too few live: the highest-priority dead members fill in, so the
		// rule still needs n acknowledgements.
		for _, id := range c.syncList {
			if live >= n {
				break
			}
			if !want[id] {
				want[id] = true
				live++
			}
		}
	}
	changed := false
	for _, p := range c.followers {
		if w := want[p.id]; p.sync != w {
			p.sync, changed = w, true
		}
	}
	c.unavailableNow(len(c.syncList) > 0 && c.liveSync() < n)
	if changed || len(c.history) == 0 {
		c.recordSyncSet("sync set re-formed")
	}
}

// liveSync counts the live members of the sync list.
func (c *core) liveSync() int {
	k := 0
	for _, id := range c.syncList {
		if c.progressOf(id).live(c.tick, c.cfg.timeoutTicks) {
			k++
		}
	}
	return k
}

// unavailableNow tracks when the sync set stopped being able to answer.
func (c *core) unavailableNow(u bool) {
	if u == c.unavailable {
		return
	}
	c.unavailable = u
	if u {
		c.unavailableSince = c.tick
		c.emit(Event{Kind: EventSyncUnavailable, LSN: c.commit, Detail: "fewer sync followers live than the commit rule needs"})
	} else {
		c.emit(Event{Kind: EventSyncAvailable, LSN: c.commit})
	}
}

// applySyncLoss carries out the configured policy while the sync set
// cannot answer, and undoes a degrade once it can.
func (c *core) applySyncLoss() {
	if c.cfg.coordinated && (c.pendingChange != nil || !c.settleAcked) {
		// One change at a time, from a settled topology (changeTopology
		// would drop this one): and statusUpdate would describe the
		// waiting change, not the lists in force that these edit.
		return
	}
	switch {
	case c.degraded && !c.unavailable:
		u := c.statusUpdate()
		u.Degraded, u.DegradedFrom = false, 0
		c.changeTopology(*u, c.restore)
	case !c.unavailable:
	case c.cfg.syncLoss == syncLossReplace:
		c.replaceLost()
	case c.cfg.syncLoss == syncLossDegrade && !c.degraded && c.tick-c.unavailableSince >= uint64(c.cfg.degradeTicks):
		u := c.statusUpdate()
		u.Degraded, u.DegradedFrom = true, c.commit
		c.changeTopology(*u, c.degrade)
	}
}

// degrade starts committing at Local: the coordinator has recorded that
// writes after the commit LSN may exist only on the leader.
func (c *core) degrade() {
	c.degraded = true
	c.degradedFrom = c.commit
	c.emit(Event{Kind: EventDegraded, LSN: c.commit,
		Detail: fmt.Sprintf("sync set unavailable for %d ticks: committing at Local (leader only) from LSN %d", c.tick-c.unavailableSince, c.commit+1)})
	c.recordSyncSet("degraded to asynchronous commit")
	c.maybeCommit()
}

// restore returns to the sync commit rule after a degrade.
func (c *core) restore() {
	c.degraded = false
	c.emit(Event{Kind: EventRestored, LSN: c.commit,
		Detail: fmt.Sprintf("sync commit restored; LSNs %d..%d were acknowledged by the leader alone", c.degradedFrom+1, c.commit)})
	c.recordSyncSet("sync set available again")
}

// replaceLost swaps the first dead sync-list member for the most advanced
// live async follower that holds everything committed so far; the dead
// member becomes async. The swap takes effect once the coordinator has
// recorded it.
func (c *core) replaceLost() {
	for i, lost := range c.syncList {
		if c.progressOf(lost).live(c.tick, c.cfg.timeoutTicks) {
			continue
		}
		best := c.replacementFor(lost)
		if best == "" {
			return
		}
		u := c.statusUpdate()
		u.Topology.Sync[i] = best
		u.Topology.Async = slices.DeleteFunc(u.Topology.Async, func(a NodeID) bool { return a == best })
		u.Topology.Async = append(u.Topology.Async, lost)
		reason := fmt.Sprintf("%s replaces lost sync follower %s", best, lost)
		c.changeTopology(*u, func() {
			c.emit(Event{Kind: EventSyncReplaced, Peer: best, LSN: c.commit, Detail: reason})
			c.setFollowers(u.Topology, reason)
		})
		return
	}
}

func (c *core) recordSyncSet(reason string) {
	ch := SyncSetChange{Epoch: c.epoch, AtCommit: c.commit, Degraded: c.degraded, Reason: reason}
	for _, p := range c.followers {
		if p.sync {
			ch.Members = append(ch.Members, p.id)
		}
	}
	c.history = append(c.history, ch)
	if len(c.history) > 1 {
		c.emit(Event{Kind: EventSyncSetChanged, LSN: c.commit, Members: ch.Members, Detail: reason})
	}
}
