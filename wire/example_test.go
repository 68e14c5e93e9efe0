package wire_test

import (
	"bufio"
	"bytes"
	"fmt"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wire"
)

// A message through a frame and back.
func Example() {
	var stream bytes.Buffer
	m := replstore.Message{Kind: replstore.MsgAppendResp, From: "n2", To: "n1", Epoch: 3, Received: 10, Durable: 10}
	frame, err := wire.AppendMessageFrame(nil, &m)
	if err != nil {
		panic(err)
	}
	stream.Write(frame)

	kind, payload, err := wire.ReadFrame(bufio.NewReader(&stream), wire.DefaultMaxFrame, nil)
	if err != nil {
		panic(err)
	}
	got, err := wire.DecodeMessage(payload)
	if err != nil {
		panic(err)
	}
	fmt.Println(kind, len(frame), "bytes:", got.Kind, got.From, "->", got.To, "durable", got.Durable)
	// Output: message 20 bytes: append-resp n2 -> n1 durable 10
}
