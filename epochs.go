package replstore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The history of epochs. A node must be able to tell which epoch wrote
// any LSN of its log, compacted or not: a session token or a fencing
// answer names an entry as (epoch, LSN), and "this log holds it" is true
// only if the entry at that LSN is of that epoch. The log answers for the
// entries it holds (LogStore.EpochAt); for the compacted ones, the node's
// snapshot carries the history of the log it covers: the first LSN of
// every epoch that wrote entries there, oldest first (Kafka keeps the
// same thing as its leader-epoch checkpoint). Without it, every
// compacted LSN would count as the token's, and a token naming a write
// that a failover lost (asynchronous commit) would pass once the new
// leader had compacted past it.
//
// The history travels inside the snapshot's bytes (nodeSnapshot), so it
// is stored atomically with the state it describes, by every
// HardStateStore, and shipped with it to a follower that installs it.

// epochStarts is a history of epochs: Position{Epoch: e, LSN: l} says
// that epoch e wrote LSNs from l up to the next element's LSN (excluded).
// Epochs and LSNs strictly increase.
type epochStarts []Position

// epochAt is the epoch that wrote lsn, if the history covers it.
func (h epochStarts) epochAt(lsn LSN) (Epoch, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].LSN <= lsn {
			return h[i].Epoch, true
		}
	}
	return 0, false
}

// historyThrough is the history of this node's log at LSNs up to through
// (at least the snapshot's LSN, at most the log's last): the snapshot's
// for the compacted part, then the epochs the log holds, found by binary
// search (EpochAt calls in the number of epochs times log2 of the
// entries). ok is false if a storage error stopped the node.
func (c *core) historyThrough(through LSN) (h epochStarts, ok bool) {
	first := c.log.First()
	if s := c.hard.snap; s != nil {
		for _, p := range s.epochs {
			if p.LSN < first && p.LSN <= through {
				h = append(h, p)
			}
		}
	}
	for lsn := first; lsn <= through; {
		e := c.epochAt(lsn)
		if c.fatal != nil {
			return nil, false
		}
		if len(h) == 0 || h[len(h)-1].Epoch != e {
			h = append(h, Position{Epoch: e, LSN: lsn})
		}
		// The first LSN after lsn of a later epoch (epochs only grow
		// along a log), or through+1.
		lo, hi := lsn+1, through+1
		for lo < hi {
			mid := lo + (hi-lo)/2
			if c.epochAt(mid) == e {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if c.fatal != nil {
			return nil, false
		}
		lsn = lo
	}
	return h, true
}

// compactedEpochAt is the epoch that wrote a compacted lsn, from the
// node's snapshot; ok is false if there is none.
func (c *core) compactedEpochAt(lsn LSN) (Epoch, bool) {
	s := c.hard.snap
	if s == nil || lsn > s.pos.LSN {
		return 0, false
	}
	return s.epochs.epochAt(lsn)
}

// A node snapshot's bytes, as stored (HardStateStore.SaveSnapshot) and
// shipped (MsgSnapshot): a header of the node's, then the state machine's
// snapshot. Header: the 4 bytes "rsnh", a version byte (1), a uvarint
// count, then each epoch start as uvarint epoch and uvarint LSN. The
// store's checksum (the snapshot file's) and the transport's cover it;
// decoding checks that it agrees with the snapshot's Position.
const nodeSnapshotMagic = "rsnh"

const nodeSnapshotVersion = 1

// appendNodeSnapshotHeader appends the header for history h to dst; the
// state machine's snapshot follows it.
func appendNodeSnapshotHeader(dst []byte, h epochStarts) []byte {
	dst = append(dst, nodeSnapshotMagic...)
	dst = append(dst, nodeSnapshotVersion)
	dst = binary.AppendUvarint(dst, uint64(len(h)))
	for _, p := range h {
		dst = binary.AppendUvarint(dst, uint64(p.Epoch))
		dst = binary.AppendUvarint(dst, uint64(p.LSN))
	}
	return dst
}

// errNodeSnapshot marks a node snapshot whose header is malformed or
// disagrees with its Position.
var errNodeSnapshot = errors.New("node snapshot header")

// decodeNodeSnapshot splits a node snapshot at pos into its history and
// the state machine's snapshot (aliasing data). An error wraps
// ErrBadSnapshot.
//
// A snapshot without the header was written by a build before it: it is
// all state, and its history is unknown (nil): holds() then takes the
// LSNs under it for the asked entry's, as those builds did, until the
// node's next snapshot, whose history starts at its log's first LSN.
// Refusing it instead would empty every node of a cluster upgraded at
// once, with no leader left to reseed them.
func decodeNodeSnapshot(pos Position, data []byte) (epochStarts, []byte, error) {
	bad := func(format string, args ...any) (epochStarts, []byte, error) {
		return nil, nil, fmt.Errorf("%w: %w at %v: %s", ErrBadSnapshot, errNodeSnapshot, pos, fmt.Sprintf(format, args...))
	}
	if len(data) < len(nodeSnapshotMagic) || string(data[:len(nodeSnapshotMagic)]) != nodeSnapshotMagic {
		return nil, data, nil
	}
	if len(data) == len(nodeSnapshotMagic) {
		return bad("truncated header")
	}
	if v := data[len(nodeSnapshotMagic)]; v != nodeSnapshotVersion {
		return bad("unsupported version %d", v)
	}
	rest := data[len(nodeSnapshotMagic)+1:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return 0, false
		}
		rest = rest[n:]
		return v, true
	}
	n, ok := uvarint()
	if !ok || n > uint64(len(rest))/2 {
		return bad("malformed count")
	}
	h := make(epochStarts, 0, n)
	for range n {
		e, ok1 := uvarint()
		l, ok2 := uvarint()
		if !ok1 || !ok2 {
			return bad("truncated history")
		}
		p := Position{Epoch: Epoch(e), LSN: LSN(l)}
		if p.LSN == 0 || len(h) > 0 && (p.Epoch <= h[len(h)-1].Epoch || p.LSN <= h[len(h)-1].LSN) {
			return bad("history out of order at %v", p)
		}
		h = append(h, p)
	}
	// The history may start after LSN 1 (unknown before, see above).
	switch {
	case pos.LSN == 0 && len(h) != 0:
		return bad("a history for an empty snapshot")
	case pos.LSN > 0 && (len(h) == 0 || h[len(h)-1].LSN > pos.LSN || h[len(h)-1].Epoch != pos.Epoch):
		return bad("history %v does not end in the snapshot's epoch at or before its LSN", h)
	}
	return h, rest, nil
}
