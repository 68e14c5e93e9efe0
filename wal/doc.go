// Package wal keeps a replstore node's state on disk: Log is a durable
// replstore.LogStore (a write-ahead log with group commit) and
// HardStateFile a durable replstore.HardStateStore. It needs only the
// standard library.
//
// # Files
//
// A Log's directory holds:
//
//   - segment files, 00000000000000000001.seg and so on, each named by
//     the LSN of its first record, holding records back to back (see
//     record.go for the frame: length, CRC-32C, epoch, LSN, kind, time,
//     data). A new segment starts when the last one would pass
//     Options.SegmentBytes.
//   - META, the base (last compacted Position), replaced atomically
//     (temporary file, fsync, rename, fsync the directory).
//   - LOCK, flocked while a Log has the directory open.
//
// A HardStateFile may share the directory: HARDSTATE, SNAPSHOT and
// HARDSTATE.LOCK.
//
// # Durability
//
// Append only buffers and writes; Sync makes everything appended before it
// durable with one fdatasync, shared by concurrent callers (group commit).
// Starting a new segment fdatasyncs the full one, so only the last
// segment can be torn by a crash. TruncateAfter and Reset are durable when
// they return; CompactThrough stores its base durably before it deletes
// segments. Every file change is ordered so that a crash leaves a prefix
// of the log.
//
// # Recovery
//
// Open checks every record. A bad or short record in the last segment
// with no intact record after it is a torn tail: it is cut off and
// reported by Log.Recovered. Any other bad record, and any break in the
// LSN sequence, is an error wrapping replstore.ErrStorage that names the
// file and byte offset; nothing is skipped. After a storage error a Log
// refuses every later write (the error sticks).
package wal
