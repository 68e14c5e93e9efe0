package replstore

import (
	"errors"
	"fmt"
	"slices"
)

// ErrSyncSetTooSmall is returned when removing a sync follower, or making
// it async, would leave fewer sync followers than SyncCount and the
// sync-loss policy is not Replace (or no async follower can replace it).
var ErrSyncSetTooSmall = errors.New("replstore: the sync set would be smaller than SyncCount")

// memberRole is what a follower is to be after a membership change.
type memberRole uint8

const (
	memberRemoved memberRole = iota
	memberAsync
	memberSync
)

func (r memberRole) String() string {
	return [...]string{"removed", "async", "sync"}[r]
}

// reconfigure changes follower id's role: add it (as async; add says
// id must be new), move it between the sync list (appended at the lowest
// priority) and the async followers, or remove it (id must be a member).
// The change takes effect when the coordinator has recorded it, like
// every topology change: failover must know who may hold acknowledged
// writes.
func (c *core) reconfigure(id NodeID, to memberRole, add bool) error {
	switch {
	case c.role != roleLeader:
		return fmt.Errorf("%w: %s cannot change membership", ErrNotLeader, c.id)
	case c.pendingChange != nil:
		return fmt.Errorf("%w: another topology change is waiting for the coordinator; retry", ErrTopologyChangePending)
	case !c.settleAcked:
		return fmt.Errorf("%w: the last topology change has not settled (its sync followers are still catching up, or the coordinator has not heard); retry", ErrTopologyChangePending)
	case id == c.id && add:
		return fmt.Errorf("replstore: add follower: node %s already exists (it leads)", id)
	case id == c.id:
		return fmt.Errorf("%w: %s leads; use Switchover to move leadership first", ErrAlreadyLeader, id)
	case add && c.roleOf(id) != memberRemoved:
		return fmt.Errorf("replstore: add follower: node %s already exists", id)
	case !add && c.roleOf(id) == memberRemoved:
		// Only AddFollower brings a node in: a SetSync racing a removal
		// must not bring the removed node back.
		return fmt.Errorf("%w: %q is not a member of leader %s's topology", ErrUnknownNode, id, c.id)
	}
	u := c.statusUpdate()
	sync := slices.DeleteFunc(slices.Clone(u.Topology.Sync), func(s NodeID) bool { return s == id })
	async := slices.DeleteFunc(slices.Clone(u.Topology.Async), func(s NodeID) bool { return s == id })
	switch to {
	case memberSync:
		sync = append(sync, id)
	case memberAsync:
		async = append(async, id)
	}
	if wasSync := slices.Contains(u.Topology.Sync, id); wasSync && to != memberSync && c.cfg.ackLevel != Local &&
		len(sync) < c.cfg.syncCount {
		best := c.replacementFor(id)
		if c.cfg.syncLoss != syncLossReplace || best == "" {
			return fmt.Errorf("%w: %s is one of %d sync followers and %v %d needs %d (policy %s); add or make another follower sync first",
				ErrSyncSetTooSmall, id, len(u.Topology.Sync), c.cfg.quorum, c.cfg.syncCount, c.cfg.syncCount, c.syncLossName())
		}
		i := slices.Index(u.Topology.Sync, id)
		sync = slices.Insert(sync, min(i, len(sync)), best)
		async = slices.DeleteFunc(async, func(s NodeID) bool { return s == best })
	}
	u.Topology.Sync, u.Topology.Async = sync, async
	c.changeTopology(*u, func() { c.setFollowers(u.Topology, fmt.Sprintf("%s made %v", id, to)) })
	return nil
}

// replacementFor is the live async follower, other than id, that holds
// everything committed and is furthest ahead; "" if none.
func (c *core) replacementFor(id NodeID) NodeID {
	var best *progress
	for _, p := range c.followers {
		if p.id != id && p.priority < 0 && p.live(c.tick, c.cfg.timeoutTicks) && p.ack(c.cfg.ackLevel) >= c.commit &&
			(best == nil || p.durable > best.durable) {
			best = p
		}
	}
	if best == nil {
		return ""
	}
	return best.id
}

func (c *core) syncLossName() string {
	return [...]string{"Block", "Replace", "DegradeAfter"}[c.cfg.syncLoss]
}

// setFollowers makes t's followers the leader's: progress is kept for
// those that stay, a new follower starts at the end of the log (it backs
// up, or is reseeded, from there), a removed one is forgotten.
func (c *core) setFollowers(t Topology, reason string) {
	old := c.followers
	c.followers = nil
	add := func(id NodeID, prio int) {
		i := slices.IndexFunc(old, func(p *progress) bool { return p.id == id })
		var p *progress
		if i >= 0 {
			p = old[i]
		} else {
			p = &progress{id: id, next: c.last.LSN + 1, lastHeard: c.tick, memberVersion: c.trackVersion()}
			defer c.sendAppends(p, true) // contact the newcomer at once
		}
		p.priority = prio
		c.followers = append(c.followers, p)
	}
	for i, id := range t.Sync {
		add(id, i)
	}
	for _, id := range t.Async {
		add(id, -1)
	}
	c.syncList, c.asyncList = slices.Clone(t.Sync), slices.Clone(t.Async)
	c.emit(Event{Kind: EventMembershipChanged, Members: c.syncList, Detail: fmt.Sprintf("%s; sync %v async %v", reason, t.Sync, t.Async)})
	c.refreshSyncSet()
	c.recordSyncSet(reason)
	c.maybeCommit()
	for _, p := range c.followers {
		c.sendAppends(p, false)
	}
}
