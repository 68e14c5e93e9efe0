package tcpnet

import "github.com/replstore/replstore"

// Stats are a Transport's message totals since New; every count only
// grows. A message Send accepted is, at any time, queued, being written,
// sent, or dropped.
type Stats struct {
	// Sent counts messages written to a connection and flushed. A flush
	// that succeeded does not prove the peer read them.
	Sent uint64
	// Delivered counts handler calls: messages received (or sent to
	// Self) and handed to the registered handler.
	Delivered uint64
	Dropped   Drops
	Peers     map[replstore.NodeID]PeerStats
}

// Drops counts dropped messages by reason.
type Drops struct {
	QueueFull    uint64 // Send found the peer's queue full
	UnknownPeer  uint64 // Send to a node not in Config.Peers
	Closed       uint64 // Send after Close
	TooLarge     uint64 // did not encode: over MaxFrameBytes, unknown kind, Update too deep
	WriteFailed  uint64 // in a batch whose write failed (some may have arrived)
	NoHandler    uint64 // arrived while no handler was registered
	Misaddressed uint64 // arrived with To other than Config.Self
}

// Total is the sum of every reason.
func (d Drops) Total() uint64 {
	return d.QueueFull + d.UnknownPeer + d.Closed + d.TooLarge + d.WriteFailed + d.NoHandler + d.Misaddressed
}

// PeerStats is one peer's outbound side.
type PeerStats struct {
	Connected       bool   // the outbound connection has passed the handshake
	Queued          int    // messages waiting in the ordinary queue
	QueuedSnapshots int    // snapshot chunks waiting
	Sent            uint64 // messages written and flushed to this peer
	QueueFull       uint64 // messages to this peer dropped on a full queue
}

// Stats returns the current counts.
func (t *Transport) Stats() Stats {
	s := Stats{
		Delivered: t.delivered.Load(),
		Dropped: Drops{
			UnknownPeer:  t.dropUnknown.Load(),
			Closed:       t.dropClosed.Load(),
			TooLarge:     t.dropTooLarge.Load(),
			WriteFailed:  t.dropWriteFailed.Load(),
			NoHandler:    t.dropNoHandler.Load(),
			Misaddressed: t.dropMisaddressed.Load(),
		},
		Peers: make(map[replstore.NodeID]PeerStats, len(t.peers)),
	}
	for id, p := range t.peers {
		ps := PeerStats{Connected: p.connected.Load(), Queued: len(p.queue), QueuedSnapshots: len(p.snaps),
			Sent: p.sent.Load(), QueueFull: p.dropFull.Load()}
		s.Dropped.QueueFull += ps.QueueFull
		s.Sent += ps.Sent
		s.Peers[id] = ps
	}
	return s
}
