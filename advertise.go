package replstore

import "time"

// Advertised replica state. Followers report what they hold and have
// applied in every acknowledgement; the leader, which hears them all,
// puts every replica's state on its heartbeats (at most once per tick,
// in one shared slice), and each node keeps the latest it heard. A Node
// routes reads on that: a replica it cannot reach in memory is known
// only by what it advertised, a heartbeat ago at most.

// advertise returns the leader's view of every replica, built at most
// once per tick: itself first, then its followers (sync list first).
func (c *core) advertise() []ReplicaState {
	if c.ads != nil && c.adsTick == c.tick && c.role == roleLeader {
		return c.ads
	}
	ads := make([]ReplicaState, 0, 1+len(c.followers))
	ads = append(ads, ReplicaState{ID: c.id, Leader: true, Epoch: c.epoch, CaughtUp: true,
		Applied: Position{Epoch: c.epochAtApplied(), LSN: c.applied}, LagEntries: uint64(c.last.LSN - c.applied)})
	for _, p := range c.followers {
		rs := ReplicaState{ID: p.id, Epoch: c.epoch, Down: !p.live(c.tick, c.cfg.timeoutTicks),
			CaughtUp: p.applied+LSN(c.cfg.caughtUpLag) >= c.last.LSN}
		if p.applied > 0 {
			if e, err := c.log.EpochAt(p.applied); err == nil {
				rs.Applied = Position{Epoch: e, LSN: p.applied}
			} else {
				rs.Applied = Position{LSN: p.applied} // compacted here: an epoch too low errs on the safe side
			}
		}
		if p.applied < c.last.LSN {
			rs.LagEntries = uint64(c.last.LSN - p.applied)
			if ents, err := c.log.Entries(p.applied+1, p.applied+1); err == nil && len(ents) == 1 {
				rs.LagTime = time.Duration(max(c.now-ents[0].Time, 0))
			}
		}
		ads = append(ads, rs)
	}
	c.ads, c.adsTick = ads, c.tick
	return ads
}
