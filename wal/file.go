package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/replstore/replstore"
)

var errStorage = replstore.ErrStorage

// ErrLocked is wrapped by Open and OpenHardState when another Log or
// HardStateFile (in this process or another) holds the directory.
var ErrLocked = errors.New("replstore: wal: directory locked")

// syncDir fsyncs a directory, making the creation, removal and renaming
// of its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir fsyncs directory dir, making the creation, removal and
// renaming of its entries durable. It is what the log does for its own
// files, for a caller that keeps small files beside it (replstore-node's
// IDENTITY).
func SyncDir(dir string) error { return syncDir(dir) }

// WriteFileAtomic replaces dir/name with data so that a crash leaves
// either the old file or the new one, and once it returns the new one
// is durable: the log's own way of storing its hard state, for a caller
// that keeps small files beside it. Its errors wrap replstore.ErrStorage.
func WriteFileAtomic(dir, name string, data []byte) error {
	return writeFileAtomic(dir, name, data)
}

// writeFileSynced writes data to path (replacing it) and fsyncs it; on
// failure it removes what it wrote.
func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%w: write %s: %w", errStorage, path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("%w: write %s: %w", errStorage, path, err)
	}
	return nil
}

// writeFileAtomic replaces dir/name with data: a crash leaves either the
// old file or the new one, and once it returns the new one is durable.
// It writes a temporary file, fsyncs it, renames it over name and fsyncs
// the directory.
func writeFileAtomic(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := writeFileSynced(tmp, data); err != nil {
		return err
	}
	err := os.Rename(tmp, path)
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: write %s: %w", errStorage, path, err)
	}
	return nil
}

// readIfExists reads the small file at path whole; exists is false, and
// err nil, if there is no such file.
func readIfExists(path string) (b []byte, exists bool, err error) {
	b, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: read %s: %w", errStorage, path, err)
	}
	return b, true, nil
}
