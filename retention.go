package replstore

import "fmt"

// Log retention. Every node compacts its log so that it keeps no more than
// RetainEntries entries and about RetainBytes of payload, except that the
// leader keeps what a live follower still needs. Before compacting, a node
// snapshots its state machine at its applied position (kept with the log,
// as on a disk); it compacts only through that position, so its state can
// always be rebuilt, and the leader can reseed any follower that needs
// compacted entries from that snapshot. Compaction runs in steps of a
// quarter of the limit, so the snapshot's cost is spread over many writes.

// maybeCompact compacts the log if it holds more than the limits allow.
func (c *core) maybeCompact() {
	entries, bytes := c.last.LSN-(c.log.First()-1), int64(-1)
	if s, ok := c.log.(interface{ Size() (int, int64) }); ok {
		_, bytes = s.Size()
	}
	limit := LSN(c.cfg.retainEntries)
	overEntries := entries > limit+limit/4
	overBytes := bytes > c.cfg.retainBytes+c.cfg.retainBytes/4
	if !overEntries && !overBytes {
		return
	}
	keep := limit
	if overBytes && entries > 0 {
		keep = min(keep, LSN(c.cfg.retainBytes/max(bytes/int64(entries), 1)))
	}
	through := min(c.applied, c.last.LSN-keep)
	if c.role == roleLeader {
		// Keep what live followers still need; a dead one is reseeded.
		for _, p := range c.followers {
			if p.live(c.tick, c.cfg.timeoutTicks) && p.snapPos == (Position{}) {
				through = min(through, max(p.received, c.last.LSN-keep))
			}
		}
	}
	if through < c.log.First() {
		return
	}
	if !c.takeSnapshot() {
		return
	}
	through = min(through, c.hard.snap.pos.LSN)
	if err := c.log.CompactThrough(through); err != nil {
		c.fail(fmt.Errorf("compact through %d: %w", through, err))
		return
	}
	c.emit(Event{Kind: EventCompacted, LSN: through, Detail: fmt.Sprintf("kept %d entries; snapshot at %v", c.last.LSN-through, c.hard.snap.pos)})
}
