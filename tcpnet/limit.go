package tcpnet

import (
	"math"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wire"
)

var _ replstore.BoundedTransport = (*Transport)(nil)

// MaxMessageBytes implements replstore.BoundedTransport: Config.
// MaxFrameBytes less the most that the encoding of a message (package
// wire) adds to its one entry's Data, its forwarded command or its
// snapshot chunk, in this cluster (the longest node ID; every node
// advertised on a heartbeat). 0 if the frames are too small for even
// that.
func (t *Transport) MaxMessageBytes() int {
	return max(t.cfg.MaxFrameBytes-messageOverhead(t.cfg.Self, t.cfg.Peers), 0)
}

// messageOverhead bounds the bytes a message payload holds besides one
// entry's Data, a forwarded command or a snapshot chunk's data: it
// encodes a message that sets every field a MsgAppend, MsgForward or
// MsgSnapshot does, each at its longest (uvarints of the largest values,
// the longest node ID, a Replicas list of every node), with one-byte
// Data, and adds the longest length prefix each Data may need.
func messageOverhead(self replstore.NodeID, peers map[replstore.NodeID]string) int {
	long := self
	for id := range peers {
		if len(id) > len(long) {
			long = id
		}
	}
	const big = math.MaxUint64
	pos := replstore.Position{Epoch: big, LSN: big}
	replicas := make([]replstore.ReplicaState, len(peers)+1)
	for i := range replicas {
		replicas[i] = replstore.ReplicaState{ID: long, Leader: true, Epoch: big, Applied: pos, LagEntries: big,
			LagTime: math.MinInt64, Down: true, CaughtUp: true}
	}
	one := []byte{1}
	m := replstore.Message{Kind: replstore.MsgAppend, From: long, To: long, Epoch: big, Prev: pos, Commit: big,
		Time: math.MinInt64, WantAck: true, ReadSeq: big, Replicas: replicas, MemberVersion: big, Incarnation: big,
		Entries: []replstore.Entry{{Pos: pos, Kind: math.MaxUint8, Time: math.MinInt64, Data: one}}, ReqID: big, Data: one,
		Snapshot: &replstore.SnapshotChunk{Pos: pos, Offset: math.MinInt64, Total: math.MinInt64, Data: one, Reseed: true}}
	payload, err := wire.AppendMessage(nil, &m)
	if err != nil {
		panic("tcpnet: cannot encode the largest message: " + err.Error()) // every field above is valid
	}
	const lenPrefix = 5 // a uvarint of a length below 4 GiB
	return len(payload) + 3*lenPrefix
}
