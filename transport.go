package replstore

// NodeID names a node of the cluster.
type NodeID string

// MsgKind is the type of a Message.
type MsgKind uint8

const (
	// MsgAppend goes from the leader to a follower: the entries after Prev
	// (none for a heartbeat) and the leader's commit LSN.
	MsgAppend MsgKind = iota + 1
	// MsgAppendResp answers a MsgAppend: what the follower holds.
	MsgAppendResp
)

func (k MsgKind) String() string {
	switch k {
	case MsgAppend:
		return "append"
	case MsgAppendResp:
		return "append-resp"
	}
	return "unknown"
}

// Message is what nodes send each other. Every message carries the
// sender's epoch; a receiver that has seen a newer epoch rejects it.
// Entries is shared, never modified.
type Message struct {
	Kind     MsgKind
	From, To NodeID
	Epoch    Epoch

	// MsgAppend.
	Prev    Position // the entry just before Entries, for log matching
	Entries []Entry
	Commit  LSN   // the leader's commit LSN: followers may apply up to it
	Time    int64 // the sender's clock at its last proposal or tick (Unix ns)
	// WantAck asks for an answer as soon as the entries are stored. The
	// leader sets it for sync followers and once per tick for the others;
	// an async follower otherwise answers only every quarter window.
	WantAck bool
	// ReadSeq is the leader's latest read round (see readindex.go); a
	// follower echoes the highest it has heard in its answers.
	ReadSeq uint64

	// MsgAppendResp.
	Reject   bool // Prev did not match (or Epoch was stale): see Hint
	Hint     LSN  // on reject: the leader should resend from Hint+1
	Received LSN  // highest LSN received and matched
	Durable  LSN  // highest LSN stored and synced
	Applied  LSN  // highest LSN applied to the state machine
	Last     Position
}

// Transport carries messages between nodes. Send must not block: it
// delivers msg to msg.To's handler or drops it, as a network may. The
// in-memory implementation is MemNet.
type Transport interface {
	// Register sets the function that receives messages for id. It is
	// called once per node start; a new call replaces the old handler.
	Register(id NodeID, deliver func(Message))
	// Unregister stops delivery to id (a crashed node).
	Unregister(id NodeID)
	// Send delivers msg to msg.To, later or never.
	Send(msg Message)
}
