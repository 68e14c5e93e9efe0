package wal_test

import (
	"fmt"
	"os"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wal"
)

func Example() {
	dir, _ := os.MkdirTemp("", "wal-example-")
	defer os.RemoveAll(dir)

	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	l.Append([]replstore.Entry{
		{Pos: replstore.Position{Epoch: 1, LSN: 1}, Data: []byte("put a=1")},
		{Pos: replstore.Position{Epoch: 1, LSN: 2}, Data: []byte("put b=2")},
	})
	if err := l.Sync(); err != nil { // durable from here on
		fmt.Println(err)
		return
	}
	fmt.Println("synced through", l.SyncedLSN())
	l.Close()

	l, _ = wal.Open(dir, wal.Options{})
	defer l.Close()
	ents, _ := l.Entries(1, 2)
	fmt.Printf("reopened: last %v, %q %q\n", l.Last(), ents[0].Data, ents[1].Data)
	// Output:
	// synced through 2
	// reopened: last 1:2, "put a=1" "put b=2"
}
