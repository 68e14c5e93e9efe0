//go:build linux

package wal

import (
	"os"
	"syscall"
)

// preallocate reserves n bytes for f with fallocate(2), extending its size;
// the reserved range reads as zeroes. A file system without fallocate is
// not an error: the log simply grows the file as it writes.
func preallocate(f *os.File, n int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, 0, n)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EOPNOTSUPP, syscall.ENOSYS:
			return nil
		}
		return err
	}
}
