package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"

	"github.com/replstore/replstore"
)

// The meta file keeps the log's base: the Position of the last compacted
// entry, so that EpochAt(First()-1) still answers after a restart. It is
// replaced atomically by CompactThrough and Reset.
//
//	magic "RWAL" | version u8 | epoch u64 | lsn u64 | crc32c u32 of the rest
const (
	metaName    = "META"
	metaMagic   = "RWAL"
	metaVersion = 1
	metaBytes   = 4 + 1 + 8 + 8 + 4
)

func encodeMeta(base replstore.Position) []byte {
	b := make([]byte, 0, metaBytes)
	b = append(b, metaMagic...)
	b = append(b, metaVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(base.Epoch))
	b = binary.LittleEndian.AppendUint64(b, uint64(base.LSN))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// readMeta returns the stored base, or the zero Position if dir has no
// meta file.
func readMeta(dir string) (replstore.Position, error) {
	path := filepath.Join(dir, metaName)
	b, exists, err := readIfExists(path)
	if !exists || err != nil {
		return replstore.Position{}, err
	}
	switch {
	case len(b) != metaBytes:
		return replstore.Position{}, fmt.Errorf("%w: %s: %d bytes, want %d", errStorage, path, len(b), metaBytes)
	case string(b[:4]) != metaMagic:
		return replstore.Position{}, fmt.Errorf("%w: %s: bad magic %q", errStorage, path, b[:4])
	case b[4] != metaVersion:
		return replstore.Position{}, fmt.Errorf("%w: %s: unsupported version %d", errStorage, path, b[4])
	case crc32.Checksum(b[:metaBytes-4], castagnoli) != binary.LittleEndian.Uint32(b[metaBytes-4:]):
		return replstore.Position{}, fmt.Errorf("%w: %s: checksum mismatch", errStorage, path)
	}
	return replstore.Position{
		Epoch: replstore.Epoch(binary.LittleEndian.Uint64(b[5:])),
		LSN:   replstore.LSN(binary.LittleEndian.Uint64(b[13:])),
	}, nil
}
