//go:build !linux

package wal

import "os"

// preallocate is a no-op outside Linux.
func preallocate(*os.File, int64) error { return nil }
