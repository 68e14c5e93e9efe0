package wire

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/replstore/replstore"
	"github.com/stretchr/testify/require"
)

// seedMessages are valid messages of several kinds for the fuzz corpora.
func seedMessages() []replstore.Message {
	hb := replstore.Message{Kind: replstore.MsgAppend, From: "n1", To: "n2", Epoch: 3, Commit: 10, Time: 5, ReadSeq: 1, MemberVersion: 2}
	resp := replstore.Message{Kind: replstore.MsgAppendResp, From: "n2", To: "n1", Epoch: 3, Received: 10, Durable: 10, Applied: 9,
		Last: replstore.Position{Epoch: 3, LSN: 10}, Reject: true, Hint: 4, MemberVersion: 2}
	status := replstore.Message{Kind: replstore.MsgStatus, From: "n1", To: "coordinator",
		Update: &replstore.TopologyUpdate{Topology: replstore.Topology{Leader: "n1", Sync: []replstore.NodeID{"n2"}}, Version: 2,
			Base: &replstore.TopologyUpdate{Settled: true}}}
	snap := replstore.Message{Kind: replstore.MsgSnapshot, From: "n1", To: "n3",
		Snapshot: &replstore.SnapshotChunk{Pos: replstore.Position{Epoch: 1, LSN: 99}, Offset: 10, Total: 20, Data: []byte("chunk")}}
	return []replstore.Message{goldenMessage, hb, resp, status, snap}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range seedMessages() {
		p, err := AppendMessage(nil, &m)
		require.NoError(f, err)
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := DecodeMessage(payload)
		if err != nil {
			return
		}
		// What decodes re-encodes, and decodes to the same message.
		p, err := AppendMessage(nil, &m)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", m, err)
		}
		m2, err := DecodeMessage(p)
		if err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		require.Equal(t, m, m2)
	})
}

func FuzzReadFrame(f *testing.F) {
	var stream []byte
	for _, m := range seedMessages() {
		fr, err := AppendMessageFrame(nil, &m)
		require.NoError(f, err)
		f.Add(fr)
		stream = append(stream, fr...)
	}
	stream = AppendFrame(stream, FramePing, nil)
	f.Add(stream)
	f.Add(AppendFrame(nil, FrameHello, AppendHello(nil, &Hello{ClusterID: "c", Version: Version, From: "n1", Want: "n2"})))
	f.Add(AppendFrame(nil, FrameHelloAnswer, AppendHelloAnswer(nil, &HelloAnswer{Version: Version, From: "n2", Reason: "no"})))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		r := bufio.NewReader(bytes.NewReader(data))
		buf := make([]byte, 0, 128)
		for {
			kind, p, err := ReadFrame(r, limit, buf)
			if err != nil {
				return
			}
			if len(p) > limit {
				t.Fatalf("payload of %d bytes over the limit %d", len(p), limit)
			}
			switch kind {
			case FrameMessage:
				_, _ = DecodeMessage(p)
			case FrameHello:
				_, _ = DecodeHello(p)
			case FrameHelloAnswer:
				_, _ = DecodeHelloAnswer(p)
			}
		}
	})
}
