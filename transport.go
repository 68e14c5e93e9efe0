package replstore

import "fmt"

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
	// MsgSuspect goes from a follower to the coordinator: it has not heard
	// from the leader of Epoch for SuspectTicks.
	MsgSuspect
	// MsgFence goes from the coordinator to every node: take Epoch (newer
	// than any leader's) and stop following the old leader.
	MsgFence
	// MsgFenceResp answers MsgFence with the node's Last position, or
	// Reject if it has seen a newer epoch.
	MsgFenceResp
	// MsgPromote tells the chosen node to lead Epoch with Update.Topology.
	MsgPromote
	// MsgStatus goes from the leader to the coordinator every tick: its
	// commit LSN and, in Update, its topology (and any change it wants to
	// make, which takes effect only when acknowledged).
	MsgStatus
	// MsgStatusAck acknowledges Update.Version of a MsgStatus.
	MsgStatusAck
	// MsgTransfer asks the leader to hand over to Target (switchover): it
	// refuses new writes, waits until its writes are committed and Target
	// holds them all, then answers with MsgTransferReady.
	MsgTransfer
	// MsgTransferReady: the leader is ready to hand over.
	MsgTransferReady
	// MsgTransferAbort cancels a transfer: the leader accepts writes again.
	MsgTransferAbort
	// MsgSnapshot carries a chunk of a snapshot to a follower that needs
	// entries the leader has compacted.
	MsgSnapshot
	// MsgSnapshotResp says how much of the snapshot the follower holds, or
	// (Reject) that it could not install it.
	MsgSnapshotResp
	// MsgForward carries a client's write (Data) from the node that took
	// it to the node it believes leads; ReqID names it for the answer.
	MsgForward
	// MsgForwardResp answers a MsgForward: the write's Position in Last,
	// or why it failed (ErrCode, ErrText).
	MsgForwardResp
	// MsgRead asks a replica to serve a read (Op, the query in Data) from
	// a view that reaches AtLeast, after proving it leads if Confirm; or
	// to wait until it has applied AtLeast (opWaitApplied, at most
	// WaitTicks), or to say whether its log holds AtLeast (opTokenHeld).
	MsgRead
	// MsgReadResp answers a MsgRead: the result in Data, the view's
	// position in Last, Confirm if the read was linearizable, or why it
	// failed (ErrCode, ErrText).
	MsgReadResp
)

var msgKindNames = [...]string{MsgAppend: "append", MsgAppendResp: "append-resp", MsgSuspect: "suspect",
	MsgFence: "fence", MsgFenceResp: "fence-resp", MsgPromote: "promote", MsgStatus: "status",
	MsgStatusAck: "status-ack", MsgTransfer: "transfer", MsgTransferReady: "transfer-ready", MsgTransferAbort: "transfer-abort",
	MsgSnapshot: "snapshot", MsgSnapshotResp: "snapshot-resp", MsgForward: "forward", MsgForwardResp: "forward-resp",
	MsgRead: "read", MsgReadResp: "read-resp"}

func (k MsgKind) String() string {
	if int(k) < len(msgKindNames) && msgKindNames[k] != "" {
		return msgKindNames[k]
	}
	return fmt.Sprintf("MsgKind(%d)", uint8(k))
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
	// Replicas, on a heartbeat, is every replica's state as the leader
	// knows it (advertise.go): what a node routes reads on. Shared,
	// never modified.
	Replicas []ReplicaState
	// MemberVersion, on MsgAppend and MsgSnapshot, names the leader's
	// tracking of the receiver (core.trackVersion): the topology version
	// for the followers it started its epoch with, and a larger one for a
	// follower added later or one it starts reseeding. The follower echoes
	// the last one it heard in its MsgAppendResp and MsgSnapshotResp, and
	// the leader ignores an answer that carries another: a node removed
	// and added again under the same ID starts empty, and a reseeded one
	// throws its log away, so what it said before (late, in flight) must
	// not count. It is not about storage: a follower that restarts keeps
	// its place and its version (Incarnation covers lost data).
	MemberVersion uint64

	// MsgAppendResp.
	Reject   bool // Prev did not match (or Epoch was stale): see Hint
	Hint     LSN  // on reject: the leader should resend from Hint+1
	Received LSN  // highest LSN received and matched
	Durable  LSN  // highest LSN stored and synced
	Applied  LSN  // highest LSN applied to the state machine
	// Last is the sender's last Position on answers; on MsgPromote, the
	// one the promoted node answered the fencing round with (it refuses
	// the promotion if it no longer holds that entry).
	Last Position
	// Incarnation is a StorageIncarnation (HardState): on a follower's
	// answers (MsgAppendResp, MsgSnapshotResp, MsgFenceResp) its own; on
	// the leader's MsgAppend and MsgSnapshot, the follower's as the
	// leader knows it, so the follower learns that the leader has seen
	// its new incarnation.
	Incarnation uint64

	// Coordination (MsgStatus, MsgPromote, MsgTransfer...).
	Target   NodeID
	Update   *TopologyUpdate
	Snapshot *SnapshotChunk

	// Client requests between nodes (MsgForward, MsgRead and answers).
	ReqID     uint64
	Data      []byte  // a forwarded write's command; a read's query or result
	ErrCode   ErrCode // an answer's error, as a code that crosses processes
	ErrText   string  // and its text
	Op        ReadOp  // MsgRead
	AtLeast   Position
	Confirm   bool
	WaitTicks uint32
}

// TopologyUpdate is a leader's topology and commit mode as the
// coordinator records it. Version orders a leader's updates.
type TopologyUpdate struct {
	Topology     Topology
	Version      uint64
	Degraded     bool
	DegradedFrom LSN
	// Settled: the sync set of this topology holds every write
	// acknowledged before it took effect (at least SyncCount of its sync
	// list have stored them). Until the coordinator hears so, it keeps
	// counting the sync lists before it in the candidate rule.
	Settled bool
	// Base is, on a proposed change, the settled topology it changes.
	Base *TopologyUpdate
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

// BoundedTransport is a Transport that drops a message too large for
// it, as package tcpnet drops one over its frame limit. A Transport may
// implement it; NewNode asks, refuses a Config whose largest write
// (MaxKeyBytes + MaxValueBytes and a command's overhead) or snapshot
// chunk (SnapshotChunkBytes) would not fit in one message, since such a
// write would be appended and then resent forever, never committed, and
// the leader puts no more entries in one append than fit.
type BoundedTransport interface {
	Transport
	// MaxMessageBytes is the most data one message may carry: the Data
	// of an entry alone in a MsgAppend, of a MsgForward, or of a
	// snapshot chunk. A MsgAppend of several entries must fit too when
	// their Data plus AppendEntryOverhead for each entry after the first
	// add up to at most this.
	MaxMessageBytes() int
}

// DedicatedTransport is a Transport that serves one node, as a package
// tcpnet Transport serves its Config.Self. NewNode refuses to start node
// id on one that serves another: it would register with a transport
// that ignores it, hear nothing, and wait for a leader forever.
type DedicatedTransport interface {
	Transport
	// Serves is the node this transport delivers to.
	Serves() NodeID
}

// AppendEntryOverhead is what a BoundedTransport may spend on encoding
// each entry of a MsgAppend after the first, besides its Data: its
// position, kind, time and the length of its Data.
const AppendEntryOverhead = 64
