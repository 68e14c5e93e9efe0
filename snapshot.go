package replstore

import (
	"bytes"
	"fmt"
	"io"
)

// Snapshot shipping: a follower that needs entries the leader has already
// compacted (a new follower, one down past the retention limit, one whose
// log was lost) is reseeded from a snapshot of the leader's state machine
// at a known Position, sent in chunks that the follower acknowledges, so a
// lost chunk is resent from the last acknowledged offset. The follower
// checks the whole snapshot (the state machine's Restore rejects a
// corrupted or truncated one) before it replaces anything, then replays
// the log from the snapshot's Position.

// SnapshotChunk is one piece of a snapshot in a MsgSnapshot, or (Data nil)
// the follower's answer: how many bytes it holds.
type SnapshotChunk struct {
	Pos    Position // the last entry the snapshot covers
	Offset int64    // where Data starts (a request), or bytes held (an answer)
	Total  int64    // the snapshot's size
	Data   []byte
	// Reseed: the leader found that the follower's state differs from
	// its log (compareCompacted); install it even if it looks held.
	Reseed bool
}

// localSnapshot is a node's snapshot of its own state machine, kept with
// its log (in hardState: it survives a crash, as on a disk). The log is
// compacted only through its Position, so state machine = snapshot +
// log replay, always. The leader ships it to followers that need it.
type localSnapshot struct {
	pos Position
	// data is what is stored and shipped: a header with the history of
	// the log the snapshot covers (epochs.go), then state, the state
	// machine's snapshot.
	data   []byte
	state  []byte
	epochs epochStarts
}

// parseSnapshot reads a node snapshot's bytes (stored or received). An
// error wraps ErrBadSnapshot.
func parseSnapshot(pos Position, data []byte) (*localSnapshot, error) {
	h, state, err := decodeNodeSnapshot(pos, data)
	if err != nil {
		return nil, err
	}
	return &localSnapshot{pos: pos, data: data, state: state, epochs: h}, nil
}

// writeSnapshot is the node snapshot at pos, of history h, whose state
// machine's part write writes.
func writeSnapshot(pos Position, h epochStarts, write func(io.Writer) error) (*localSnapshot, error) {
	buf := bytes.NewBuffer(appendNodeSnapshotHeader(nil, h))
	head := buf.Len()
	if err := write(buf); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return &localSnapshot{pos: pos, data: data, state: data[head:], epochs: h}, nil
}

// snapshotRecv is a follower's snapshot being received.
type snapshotRecv struct {
	pos  Position
	data []byte
}

// sendSnapshot streams the snapshot to p from the offset it acknowledged,
// up to a window of chunks.
func (c *core) sendSnapshot(p *progress) {
	if s := c.hard.snap; s == nil || !c.holdsEntry(s.pos) {
		c.takeSnapshot() // none yet, or of a state we rolled back
	}
	snap := c.hard.snap
	if snap == nil || snap.pos.LSN+1 < c.log.First() {
		// Cannot happen: the log is compacted only through a snapshot.
		c.fail(fmt.Errorf("follower %s needs LSN %d, compacted, and there is no snapshot covering it", p.id, p.next))
		return
	}
	if p.snapPos != snap.pos {
		p.snapPos, p.snapAcked, p.snapSent = snap.pos, 0, 0
		c.emit(Event{Kind: EventSnapshotSending, Peer: p.id, LSN: snap.pos.LSN,
			Detail: fmt.Sprintf("%d bytes at %v", len(snap.data), snap.pos)})
	}
	total := int64(len(snap.data))
	chunk := int64(c.cfg.snapshotChunk)
	window := int64(c.cfg.snapshotWindow)
	if p.snapAcked == total && p.next <= snap.pos.LSN {
		// The follower acknowledged this whole snapshot, and its next
		// LSN went back under it since (a late rejection from before
		// the transfer backed it up): everything is acknowledged, so
		// the loop below would send nothing, now or ever. Start the
		// transfer again: a follower that holds the snapshot answers
		// the first chunk with "all of it" and the stream resumes after
		// it; one that lost it gets it whole.
		p.snapAcked, p.snapSent = 0, 0
	}
	if p.snapSent < p.snapAcked || p.snapSent > total {
		p.snapSent = p.snapAcked
	}
	for p.snapSent < total && p.snapSent-p.snapAcked < window*chunk || total == 0 && p.snapSent == 0 && p.snapAcked == 0 {
		end := min(p.snapSent+chunk, total)
		c.send(Message{Kind: MsgSnapshot, To: p.id, MemberVersion: p.memberVersion, Snapshot: &SnapshotChunk{Pos: snap.pos, Offset: p.snapSent, Total: total,
			Data: snap.data[p.snapSent:end:end], Reseed: p.reseed}, Incarnation: p.incarnation})
		p.snapSent = end
		p.lastSent = c.tick
		if total == 0 {
			break
		}
	}
}

// forgetSnapshot ends p's snapshot transfer, if any: the next one starts
// from offset 0. The counters go too, not only the position: a snapshot
// can be at the zero Position (a leader promoted with an empty log), and
// a finished transfer's counters kept under it would make sendSnapshot
// think the next transfer of that snapshot complete and send nothing.
func (p *progress) forgetSnapshot() { p.snapPos, p.snapAcked, p.snapSent = Position{}, 0, 0 }

// takeSnapshot snapshots the state machine at the applied position and
// keeps it with the log.
func (c *core) takeSnapshot() bool {
	h, ok := c.historyThrough(c.applied)
	if !ok {
		return false
	}
	snap, err := writeSnapshot(Position{Epoch: c.epochAtApplied(), LSN: c.applied}, h, c.sm.Snapshot)
	if err != nil {
		c.fail(fmt.Errorf("snapshot: %w", inner(err)))
		return false
	}
	return c.setSnapshot(snap)
}

// handleSnapshotResp records how much of the snapshot a follower holds.
func (c *core) handleSnapshotResp(p *progress, m Message) {
	s := m.Snapshot
	if s == nil || s.Pos != p.snapPos {
		return
	}
	if m.Reject {
		// It failed to install (damaged on the way): send it again.
		c.emit(Event{Kind: EventSnapshotRejected, Peer: p.id, LSN: s.Pos.LSN, Detail: "the follower rejected the snapshot; resending"})
		p.forgetSnapshot()
		c.sendSnapshot(p)
		return
	}
	// What the follower says it holds, even if less than before (it may
	// have restarted the transfer): resend from there.
	if s.Offset < p.snapAcked {
		p.snapSent = s.Offset // it lost what it had: resend from there now
	}
	p.snapAcked = s.Offset
	if p.snapSent < p.snapAcked {
		p.snapSent = p.snapAcked
	}
	if s.Offset == s.Total && (p.next <= s.Pos.LSN || p.reseed) {
		if p.reseed {
			// It threw its log away for our snapshot: what it had
			// acknowledged before is gone (the one case where a
			// follower's progress goes back; only under asynchronous
			// commit can a follower's state differ from ours).
			p.received, p.durable, p.applied = min(p.received, s.Pos.LSN), min(p.durable, s.Pos.LSN), min(p.applied, s.Pos.LSN)
		}
		p.reseed = false
		// It installed the snapshot (or already held all it covers): its
		// log ends at s.Pos. Stream from there at once rather than wait
		// for its append answer, which may be lost: with the transfer
		// complete, nothing else would ever be sent to it.
		p.next = s.Pos.LSN + 1
		c.sendAppends(p, true)
		return
	}
	c.sendSnapshot(p)
}

// handleSnapshot receives a chunk; the last one installs the snapshot.
func (c *core) handleSnapshot(m Message) {
	c.observeEpoch(m)
	if c.role == roleLeader {
		return
	}
	c.leader, c.sinceLeader, c.memberVersion = m.From, 0, m.MemberVersion
	s := m.Snapshot
	if s.Reseed && !(c.reseedEpoch == c.epoch && s.Pos.LSN <= c.reseedPos.LSN) {
		c.wantReseed = true // (not a late chunk of a reseed we installed)
	}
	if !c.wantReseed && (c.holdsEntry(s.Pos) || s.Pos.LSN < c.log.First()-1) {
		// Our log holds its last entry, so all it covers (a resent chunk
		// after we installed it, or a snapshot older than our log), or
		// it is older than what we compacted (a late chunk): installing
		// it would only throw entries away. Appends compare our log with
		// the leader's at our compaction point, and ask for a reseed if
		// they differ.
		c.recv = nil
		c.send(Message{Kind: MsgSnapshotResp, To: m.From, Snapshot: &SnapshotChunk{Pos: s.Pos, Offset: s.Total, Total: s.Total}})
		c.ackPending = true
		return
	}
	if c.recv == nil || c.recv.pos != s.Pos {
		if s.Offset != 0 {
			// The middle of a transfer we do not hold (a late chunk, or
			// the leader thinks we hold more): ask for it from the start.
			c.send(Message{Kind: MsgSnapshotResp, To: m.From, Snapshot: &SnapshotChunk{Pos: s.Pos, Total: s.Total}})
			return
		}
		c.recv = &snapshotRecv{pos: s.Pos, data: make([]byte, 0, s.Total)}
	}
	if s.Offset == int64(len(c.recv.data)) {
		c.recv.data = append(c.recv.data, s.Data...)
	}
	held := int64(len(c.recv.data))
	if held < s.Total {
		c.send(Message{Kind: MsgSnapshotResp, To: m.From, Snapshot: &SnapshotChunk{Pos: s.Pos, Offset: held, Total: s.Total}})
		return
	}
	c.installSnapshot(m.From, s)
}

// installSnapshot restores a fresh state machine from the received bytes
// and, only if that succeeds, replaces the state machine and the log.
func (c *core) installSnapshot(from NodeID, s *SnapshotChunk) {
	data := c.recv.data
	c.recv = nil
	sm := c.freshStateMachine()
	if sm == nil {
		return
	}
	snap, err := parseSnapshot(s.Pos, data)
	if err == nil {
		err = sm.Restore(bytes.NewReader(snap.state))
	}
	if err != nil {
		c.emit(Event{Kind: EventSnapshotRejected, Peer: from, LSN: s.Pos.LSN, Detail: err.Error()})
		c.send(Message{Kind: MsgSnapshotResp, To: from, Reject: true, Snapshot: &SnapshotChunk{Pos: s.Pos, Total: s.Total}})
		return
	}
	if c.commit > s.Pos.LSN || c.wantReseed {
		// Our state held writes the leader's does not (committed here
		// alone under asynchronous commit): report them as lost.
		lo := s.Pos.LSN + 1
		if c.wantReseed {
			lo = 1
		}
		c.emit(Event{Kind: EventRolledBack, Peer: from, LSN: s.Pos.LSN, Entries: c.heldEntries(),
			Detail: fmt.Sprintf("replaced by the snapshot at %v from %s; LSNs %d..%d were committed here under asynchronous commit and those the snapshot lacks are lost", s.Pos, from, lo, c.commit)})
	}
	if c.wantReseed {
		c.reseedEpoch, c.reseedPos = c.epoch, s.Pos
	}
	c.wantReseed = false
	// Stored before the log is reset to it: a crash in between leaves
	// the snapshot and the old log, from which the node still rebuilds.
	if !c.setSnapshot(snap) {
		return
	}
	if err := c.log.Reset(s.Pos); err != nil {
		c.fail(storageErr(fmt.Sprintf("reset log to snapshot %v", s.Pos), err))
		return
	}
	c.sm = sm
	c.last, c.synced = s.Pos, s.Pos.LSN
	c.cuts++
	c.commit, c.applied, c.matched = s.Pos.LSN, s.Pos.LSN, s.Pos.LSN
	c.leaderLast = max(c.leaderLast, s.Pos.LSN)
	c.appliedTime = 0
	c.emit(Event{Kind: EventSnapshotInstalled, Peer: from, LSN: s.Pos.LSN, Detail: fmt.Sprintf("%d bytes", len(data))})
	c.send(Message{Kind: MsgSnapshotResp, To: from, Snapshot: &SnapshotChunk{Pos: s.Pos, Offset: s.Total, Total: s.Total}})
	c.ackPending = true
}

// holdsEntry reports whether our log holds the entry at pos (the last
// compacted one included).
func (c *core) holdsEntry(pos Position) bool {
	return pos.LSN >= c.log.First()-1 && pos.LSN <= c.last.LSN && c.epochAt(pos.LSN) == pos.Epoch
}

// heldEntries is the whole log we still hold, for a rollback report.
func (c *core) heldEntries() []Entry {
	ents, err := c.entriesFrom(c.log.First())
	if err != nil {
		c.logf("cannot read the log to report it: %v", err)
	}
	return ents
}
