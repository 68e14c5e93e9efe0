package replstore

import (
	"fmt"
	"io"
)

// Log retention. Every node compacts its log so that it keeps no more than
// RetainEntries entries and about RetainBytes of payload, except that the
// leader keeps what a live follower still needs. Before compacting, a node
// snapshots its state machine at its applied position (kept with the log,
// as on a disk); it compacts only through that position, so its state can
// always be rebuilt, and the leader can reseed any follower that needs
// compacted entries from that snapshot. Compaction runs in steps of a
// quarter of the limit, and no more often than the log grows by the size of
// the last snapshot, so the snapshot's cost is spread over many writes and
// the log stays within max(limit, size of the state).

// maybeCompact compacts the log if it holds more than the limits allow.
func (c *core) maybeCompact() {
	entries := c.last.LSN - (c.log.First() - 1)
	_, size := c.log.Size()
	limit := LSN(c.cfg.retainEntries)
	overEntries := entries > limit+limit/4
	overBytes := size > c.cfg.retainBytes+c.cfg.retainBytes/4
	if !overEntries && !overBytes {
		return
	}
	if s := c.hard.snap; s != nil && size >= 0 && size < int64(len(s.state)) {
		// Snapshot no more often than the log grows by the state's
		// size: its cost stays proportional to what is written, even for
		// a state much larger than the retention limit.
		return
	}
	keep := limit
	if overBytes && entries > 0 {
		keep = min(keep, LSN(c.cfg.retainBytes/max(size/int64(entries), 1)))
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
	if through < c.log.First() || c.snapBusy {
		return
	}
	pos := Position{Epoch: c.epochAtApplied(), LSN: c.applied}
	h, ok := c.historyThrough(c.applied)
	if !ok {
		return
	}
	if cs, ok := c.sm.(ConcurrentSnapshotter); ok && c.cfg.asyncSnapshots {
		// The driver writes it on another goroutine and hands it back
		// (snapshotTaken): replication does not wait for the encoding.
		c.snapJob = &snapshotJob{pos: pos, epochs: h, through: through, write: cs.SnapshotFunc()}
		c.snapJob.stager, _ = c.hard.stable.(SnapshotStager)
		c.snapBusy = true
		return
	}
	snap, err := writeSnapshot(pos, h, c.sm.Snapshot)
	c.snapshotTaken(&snapshotJob{pos: pos, epochs: h, through: through}, snap, err)
}

// snapshotJob is a snapshot for compaction being written.
type snapshotJob struct {
	pos     Position    // the state it captures
	epochs  epochStarts // the history of the log through pos
	through LSN         // compact the log through here once it is kept
	write   func(io.Writer) error
	// stager, if the node's store is one, takes the encoded bytes off
	// the node's goroutine too (run): the node then only installs them.
	stager   SnapshotStager
	staged   StagedSnapshot
	stageErr error
}

// run encodes the snapshot and, if the store can, writes it aside (the
// slow part: the bytes and their fsync). It runs off the node's
// goroutine (the runtime's snapshot goroutine, or the simulator's later
// event); the node installs the result in snapshotTaken.
func (j *snapshotJob) run() (*localSnapshot, error) {
	snap, err := writeSnapshot(j.pos, j.epochs, j.write)
	if err != nil {
		return nil, err
	}
	if j.stager != nil {
		j.staged, j.stageErr = j.stager.StageSnapshot(j.pos, snap.data)
	}
	return snap, nil
}

// discard drops a staged snapshot the node will not install.
func (j *snapshotJob) discard() {
	if j.staged != nil {
		j.staged.Discard()
		j.staged = nil
	}
}

// snapshotTaken keeps a finished snapshot with the log and compacts.
func (c *core) snapshotTaken(job *snapshotJob, snap *localSnapshot, err error) {
	c.snapBusy = false
	if err == nil {
		err = job.stageErr
	}
	switch {
	case err != nil:
		c.logf("snapshot at %v failed, log not compacted: %v", job.pos, err)
		job.discard()
		return
	case job.pos.LSN > c.commit || !c.holdsEntry(job.pos):
		// Rolled back meanwhile (asynchronous commit): it holds lost
		// writes, even if the log has grown back past its LSN.
		job.discard()
		return
	case c.hard.snap != nil && c.hard.snap.pos.LSN >= job.pos.LSN:
		job.discard()
		return // a newer one was installed meanwhile
	}
	if job.staged != nil {
		// Written and synced off our goroutine: only the atomic
		// replacement (a rename) happens here.
		if err := job.staged.Install(); err != nil {
			c.fail(fmt.Errorf("%w: install snapshot at %v: %w", ErrStorage, job.pos, err))
			return
		}
		c.hard.snap = snap
	} else if !c.setSnapshot(snap) {
		return
	}
	through := min(job.through, job.pos.LSN)
	if through < c.log.First() || through > c.last.LSN {
		return
	}
	if err := c.log.CompactThrough(through); err != nil {
		c.fail(storageErr(fmt.Sprintf("compact through %d", through), err))
		return
	}
	c.emit(Event{Kind: EventCompacted, LSN: through, Detail: fmt.Sprintf("kept %d entries; snapshot at %v", c.last.LSN-through, job.pos)})
}
