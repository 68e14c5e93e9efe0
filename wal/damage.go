package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/replstore/replstore"
)

// Damage: with Options.TruncateDamaged, Open cuts the log off at a
// damaged record. Before it truncates anything it writes the DAMAGED file
// (atomically), naming the first LSN lost, so that a crash during the
// cut, or before the node has recorded the loss, still reports it at the
// next Open. ClearDamage removes the file.
//
//	magic "RDMG" | lsn u64 | crc32c u32 of the rest
const (
	damageName  = "DAMAGED"
	damageMagic = "RDMG"
	damageBytes = 4 + 8 + 4
)

// readDamage returns the LSN the DAMAGED file names, 0 if there is none.
func readDamage(dir string) (replstore.LSN, error) {
	path := filepath.Join(dir, damageName)
	b, exists, err := readIfExists(path)
	if !exists || err != nil {
		return 0, err
	}
	if len(b) != damageBytes || string(b[:4]) != damageMagic ||
		crc32.Checksum(b[:damageBytes-4], castagnoli) != binary.LittleEndian.Uint32(b[damageBytes-4:]) {
		// Damaged itself: the log lost something, from where is unknown.
		return 1, nil
	}
	return max(replstore.LSN(binary.LittleEndian.Uint64(b[4:])), 1), nil
}

// cutDamage handles a damaged record found in segs[i]: it records the
// loss in DAMAGED, then truncates segs[i] before the record and removes
// every later segment.
func (l *Log) cutDamage(i int, de *damageError) error {
	from := max(de.lsn, l.base.LSN+1)
	if l.damage != 0 {
		from = min(from, l.damage)
	}
	b := binary.LittleEndian.AppendUint64([]byte(damageMagic), uint64(from))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if err := writeFileAtomic(l.dir, damageName, b); err != nil {
		return err
	}
	l.damage = from
	s := l.segs[i]
	if err := l.removeSegments(i + 1); err != nil {
		return err
	}
	if err := s.f.Truncate(de.off); err != nil {
		return fmt.Errorf("%w: truncate damaged %s at %d: %w", errStorage, s.path, de.off, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("%w: sync %s: %w", errStorage, s.path, err)
	}
	l.recovered = Recovery{File: s.path, Offset: de.off, Reason: "damaged (synced data lost): " + de.what, Damaged: true, LostFrom: from}
	return nil
}

// Damage implements replstore.DamageReporter: the first LSN that Open
// cut off as damaged (Options.TruncateDamaged), in this or an earlier
// Open, until ClearDamage.
func (l *Log) Damage() (replstore.LSN, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.damage, l.damage != 0
}

// ClearDamage implements replstore.DamageReporter: it removes the
// DAMAGED file (durably).
func (l *Log) ClearDamage() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if l.damage == 0 {
		return nil
	}
	path := filepath.Join(l.dir, damageName)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: remove %s: %w", errStorage, path, err)
	}
	if err := syncDir(l.dir); err != nil {
		return fmt.Errorf("%w: sync %s: %w", errStorage, l.dir, err)
	}
	l.damage = 0
	return nil
}
