package wal

import "fmt"

// Options configures a Log. The zero value gives the defaults.
type Options struct {
	// SegmentBytes is the size at which the log starts a new segment file
	// (a record never spans two). Default 64 MiB.
	SegmentBytes int64
	// BufferBytes is how many framed bytes Append buffers before it
	// writes them to the file (Sync writes whatever is buffered).
	// Default 1 MiB.
	BufferBytes int
	// CacheBytes is roughly how many payload bytes of the most recent
	// entries Entries serves from memory; older ones are read from the
	// segment files. Default 8 MiB.
	CacheBytes int64
	// NoPreallocate turns off preallocation. By default each new segment
	// reserves SegmentBytes with fallocate(2) (Linux), so that appends
	// write into reserved blocks: on this project's ext4 test machine that
	// made Append+Sync of batches of 1 and 16 entries 10-28% faster, and
	// did nothing at 256 (cmd/wal-bench -nopreallocate compares). The
	// unused end of the last segment reads as zeroes, which Open keeps
	// without reporting a torn tail; rotation cuts it off the full
	// segment. (Opened with NoPreallocate, such a log reports the zeroes
	// as a torn tail and cuts them off, which is harmless.)
	NoPreallocate bool
	// TruncateDamaged makes Open cut the log off at a damaged record (one
	// that fails its checksum where no torn write can explain it: synced
	// data was lost) instead of refusing to open: the damaged record and
	// everything after it are removed, and Damage reports the first LSN
	// lost until ClearDamage. Set it for a replica, whose leader repairs
	// what it lost (a replstore node records the loss in its hard state
	// and is repaired: see replstore.DamageReporter); leave it off where
	// the log is the only copy.
	TruncateDamaged bool
}

const (
	defaultSegmentBytes = 64 << 20
	defaultBufferBytes  = 1 << 20
	defaultCacheBytes   = 8 << 20
	// maxCacheEntries bounds the cache by count too (its index costs ~56
	// bytes an entry).
	maxCacheEntries = 1 << 16
	// maxReadBytes bounds one Entries call that reads from disk.
	maxReadBytes = 1 << 20
)

// Validate reports a negative field; zero fields take their defaults.
func (o Options) Validate() error {
	switch {
	case o.SegmentBytes < 0:
		return fmt.Errorf("wal: Options.SegmentBytes is %d, want >= 0 (0 means %d)", o.SegmentBytes, defaultSegmentBytes)
	case o.BufferBytes < 0:
		return fmt.Errorf("wal: Options.BufferBytes is %d, want >= 0 (0 means %d)", o.BufferBytes, defaultBufferBytes)
	case o.CacheBytes < 0:
		return fmt.Errorf("wal: Options.CacheBytes is %d, want >= 0 (0 means %d)", o.CacheBytes, defaultCacheBytes)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	if o.BufferBytes == 0 {
		o.BufferBytes = defaultBufferBytes
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = defaultCacheBytes
	}
	return o
}
