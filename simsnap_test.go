package replstore

import (
	"bytes"
	"slices"
)

// Snapshot jobs. The runtime writes a compaction snapshot on another
// goroutine (the state machine froze its state when the job was made) and
// hands the result back through the node's mailbox; the simulation
// delivers it after a network-like delay, so replication, rollbacks and
// crashes interleave with it, and checks that the bytes are the state of
// the node's log up to the job's position.

// simSnapJob is a snapshot job on its way back to its node.
type simSnapJob struct {
	job         *snapshotJob
	node        *simNode // the node that made it (an ID may be removed and added again)
	incarnation int      // the node's incarnation that made it
}

// snapshotDone writes the job and hands the result to the core, as the
// runtime's snapshot goroutine does; a job of a crashed incarnation is
// lost.
func (w *simWorld) snapshotDone(n *simNode, sj *simSnapJob) {
	if sj.node != n || sj.incarnation != n.incarnation {
		return
	}
	snap, err := sj.job.run() // as the runtime's snapshot goroutine
	var size int
	if err == nil {
		size = len(snap.data)
	}
	w.trace.add(simTraceRec{now: w.now, what: traceSnapshot, node: n.id, a: uint64(sj.job.pos.Epoch), b: uint64(sj.job.pos.LSN), c: uint64(size)})
	if err == nil {
		w.checkSnapshotBytes(n, snap)
	}
	n.core.snapshotTaken(sj.job, snap, err)
}

// checkSnapshotBytes: a snapshot at pos is the state of the log up to pos,
// and its history is the epochs of that log (unless a rollback has since
// replaced pos: the core then drops it).
func (w *simWorld) checkSnapshotBytes(n *simNode, snap *localSnapshot) {
	pos, data := snap.pos, snap.state
	if p, ok := n.log.at(pos.LSN); !ok || p != pos || pos.LSN == 0 {
		return
	}
	st := NewStore()
	var h epochStarts
	for _, e := range n.log.shadow[:pos.LSN] {
		if e.Pos == (Position{}) {
			return // under a snapshot whose sender is unknown
		}
		if len(h) == 0 || h[len(h)-1].Epoch != e.Pos.Epoch {
			h = append(h, e.Pos)
		}
		if e.Kind == EntryCommand {
			_ = st.Apply(e) // a failed CAS is a result, not a failure
		}
	}
	if !slices.Equal(h, snap.epochs) {
		w.violate("%s's snapshot job at %v carries the history %v; its log up to there has %v", n.id, pos, snap.epochs, h)
	}
	var want bytes.Buffer
	if err := st.Snapshot(&want); err != nil {
		w.violate("snapshot of the replayed log: %v", err)
		return
	}
	if !bytes.Equal(want.Bytes(), data) {
		w.violate("%s's snapshot job at %v wrote %d bytes that are not the state of its log up to there (%d bytes)",
			n.id, pos, len(data), want.Len())
	}
}
