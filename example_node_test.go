package replstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/replstore/replstore"
)

// A service embeds one Node per process; here three share a MemNet so the
// example runs anywhere (between processes, give each NewNode a
// tcpnet.Transport instead). A write on a follower is forwarded to the
// leader; a session's token carries read-your-writes to another node.
func ExampleNewNode() {
	cfg := replstore.DefaultConfig() // n1 leads, n2 sync, n3 async
	cfg.ManualFailover = true        // no coordinator in this example
	net := replstore.NewMemNet()
	defer net.Close()
	nodes := map[replstore.NodeID]*replstore.Node{}
	for _, id := range []replstore.NodeID{"n1", "n2", "n3"} {
		nd, err := replstore.NewNode(cfg, id, net)
		if err != nil {
			log.Fatal(err)
		}
		defer nd.Close()
		nodes[id] = nd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ground := nodes["n3"].NewSession(nil)                               // SessionConsistent
	pos, err := ground.Put(ctx, "sat/ISS/elements", []byte("a=6791km")) // n3 forwards it to n1
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("written through n3 at", pos, "(LSN 1 is the epoch's opening entry)")

	// Another service, on n2, adopts the token (an HTTP header in practice).
	tok, _ := replstore.ParseToken(ground.Token().String())
	svc := nodes["n2"].NewSession(nil)
	if err := svc.Adopt(tok); err != nil {
		log.Fatal(err)
	}
	rec, _, _, err := svc.Get(ctx, "sat/ISS/elements")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("n2's session reads", string(rec.Value), "version", rec.Pos.LSN)

	// Leader mode from a follower: n1 proves it still leads, then reads.
	_, _, served, err := nodes["n3"].Get(ctx, "sat/ISS/elements", replstore.Via(replstore.Leader{}))
	fmt.Println("linearizable read served by", served.Node, served.Linearizable, err)
	// Output:
	// written through n3 at 1:2 (LSN 1 is the epoch's opening entry)
	// n2's session reads a=6791km version 2
	// linearizable read served by n1 true <nil>
}
