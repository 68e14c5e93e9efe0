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
	live := 0
	changed := false
	for _, id := range c.syncList {
		p := c.progressOf(id)
		isLive := p.live(c.tick, c.cfg.timeoutTicks)
		want := true
		if c.cfg.quorum == First {
			want = isLive && live < n
		}
		if isLive {
			live++
		}
		if p.sync != want {
			p.sync, changed = want, true
		}
	}
	if c.cfg.quorum == First && live < n {
		// Too few live: keep the highest-priority dead members so the
		// rule still needs n acknowledgements.
		for _, id := range c.syncList {
			p := c.progressOf(id)
			if c.countSync() >= n {
				break
			}
			if !p.sync {
				p.sync, changed = true, true
			}
		}
	}
	c.unavailableNow(live < n)
	if changed || len(c.history) == 0 {
		c.recordSyncSet("sync set re-formed")
	}
}

func (c *core) countSync() int {
	k := 0
	for _, p := range c.followers {
		if p.sync {
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
	switch {
	case c.degraded && !c.unavailable:
		c.degraded = false
		c.emit(Event{Kind: EventRestored, LSN: c.commit,
			Detail: fmt.Sprintf("sync commit restored; LSNs %d..%d were acknowledged by the leader alone", c.degradedFrom+1, c.commit)})
		c.recordSyncSet("sync set available again")
	case !c.unavailable:
	case c.cfg.syncLoss == syncLossReplace:
		c.replaceLost()
	case c.cfg.syncLoss == syncLossDegrade && !c.degraded && c.tick-c.unavailableSince >= uint64(c.cfg.degradeTicks):
		c.degraded = true
		c.degradedFrom = c.commit
		c.emit(Event{Kind: EventDegraded, LSN: c.commit,
			Detail: fmt.Sprintf("sync set unavailable for %d ticks: committing at Local (leader only) from LSN %d", c.tick-c.unavailableSince, c.commit+1)})
		c.recordSyncSet("degraded to asynchronous commit")
	}
}

// replaceLost swaps each dead sync-list member for the most advanced live
// async follower that holds everything committed so far. The dead member
// becomes async.
func (c *core) replaceLost() {
	for i, id := range c.syncList {
		lost := c.progressOf(id)
		if lost.live(c.tick, c.cfg.timeoutTicks) {
			continue
		}
		var best *progress
		for _, p := range c.followers {
			if p.priority < 0 && p.live(c.tick, c.cfg.timeoutTicks) && p.ack(c.cfg.ackLevel) >= c.commit &&
				(best == nil || p.durable > best.durable) {
				best = p
			}
		}
		if best == nil {
			return
		}
		best.priority, lost.priority = i, -1
		lost.sync = false
		c.syncList[i] = best.id
		c.emit(Event{Kind: EventSyncReplaced, Peer: best.id, LSN: c.commit,
			Detail: fmt.Sprintf("%s replaces lost sync follower %s", best.id, lost.id)})
		// Keep followers ordered: sync list by priority, then async.
		slices.SortStableFunc(c.followers, func(a, b *progress) int {
			return rankOf(a) - rankOf(b)
		})
		c.refreshSyncSet()
	}
}

func rankOf(p *progress) int {
	if p.priority < 0 {
		return 1 << 30
	}
	return p.priority
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
