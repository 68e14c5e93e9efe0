//go:build !unix

package wal

import (
	"fmt"
	"os"
)

// lockFile creates path but cannot lock it outside Unix: two Logs on one
// directory are not detected there.
func lockFile(path, dir string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: lock %s: %w", errStorage, path, err)
	}
	return f, nil
}

func unlockFile(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}
