package replstore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/wal"
)

// With REPLSTORE_TEST_STORAGE=wal every cluster and node this package's
// tests build without storage of their own runs on package wal's files:
// a segmented log and a hard state file per node, in a fresh directory
// under REPLSTORE_TEST_DIR (default: the system's temporary directory),
// removed when the tests end. CI runs the suite this way once.
func init() {
	if os.Getenv("REPLSTORE_TEST_STORAGE") != "wal" {
		return
	}
	root, err := os.MkdirTemp(os.Getenv("REPLSTORE_TEST_DIR"), "replstore-walsuite-")
	if err != nil {
		panic(fmt.Sprintf("REPLSTORE_TEST_STORAGE=wal: %v", err))
	}
	var seq atomic.Uint64
	dir := func(id replstore.NodeID, what string) string {
		return filepath.Join(root, fmt.Sprintf("%s-%s-%d", id, what, seq.Add(1)))
	}
	replstore.SetTestStorage(
		func(id replstore.NodeID) (replstore.LogStore, error) {
			return wal.Open(dir(id, "log"), wal.Options{SegmentBytes: 1 << 20, NoPreallocate: true})
		},
		func(id replstore.NodeID) (replstore.HardStateStore, error) {
			return wal.OpenHardState(dir(id, "hard"))
		},
		func() { os.RemoveAll(root) })
}
