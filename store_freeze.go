package replstore

import (
	"io"
	"maps"
)

// ConcurrentSnapshotter is implemented by state machines that can be
// snapshotted while Apply goes on. SnapshotFunc must return quickly; the
// function it returns writes the state as it was when SnapshotFunc was
// called, runs on another goroutine, and is called exactly once. Nodes use
// it to snapshot for log compaction without pausing replication; state
// machines without it are snapshotted on the node's goroutine.
type ConcurrentSnapshotter interface {
	SnapshotFunc() func(io.Writer) error
}

var _ ConcurrentSnapshotter = (*Store)(nil)

// SnapshotFunc implements ConcurrentSnapshotter. It copies the two maps
// (not the records or samples, which the store then stops changing in
// place until the snapshot is written): a pause proportional to the number
// of keys, far shorter than encoding them.
func (s *Store) SnapshotFunc() func(io.Writer) error {
	s.mu.Lock()
	frozen := storeState{records: maps.Clone(s.state.records), applied: s.state.applied,
		series: make(map[string]*series, len(s.state.series))}
	for name, ser := range s.state.series {
		frozen.series[name] = &series{samples: ser.samples[:len(ser.samples):len(ser.samples)]}
	}
	s.frozen++
	s.mu.Unlock()
	return func(w io.Writer) error {
		buf := frozen.appendSnapshot(nil)
		s.mu.Lock()
		s.frozen--
		s.mu.Unlock()
		if _, err := w.Write(buf); err != nil {
			return withOp("write snapshot", err)
		}
		return nil
	}
}
