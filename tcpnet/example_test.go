package tcpnet_test

import (
	"fmt"
	"net"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/tcpnet"
)

// Two nodes on loopback: n1 sends n2 a heartbeat.
func Example() {
	ln1, _ := net.Listen("tcp", "127.0.0.1:0")
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	peers := map[replstore.NodeID]string{"n1": ln1.Addr().String(), "n2": ln2.Addr().String()}

	n1, err := tcpnet.New(tcpnet.Config{ClusterID: "demo", Self: "n1", Listener: ln1, Peers: peers})
	if err != nil {
		panic(err)
	}
	defer n1.Close()
	n2, err := tcpnet.New(tcpnet.Config{ClusterID: "demo", Self: "n2", Listener: ln2, Peers: peers})
	if err != nil {
		panic(err)
	}
	defer n2.Close()

	got := make(chan replstore.Message, 1)
	n2.Register("n2", func(m replstore.Message) { got <- m }) // a handler must not block
	n1.Send(replstore.Message{Kind: replstore.MsgAppend, From: "n1", To: "n2", Epoch: 1, Commit: 42})

	m := <-got
	fmt.Println(m.Kind, "from", m.From, "commit", m.Commit)
	// Output: append from n1 commit 42
}
