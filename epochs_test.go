package replstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// A node snapshot's header round-trips, and every malformed or
// inconsistent one is refused as a bad snapshot, never read as a history.
func TestNodeSnapshotHeader(t *testing.T) {
	h := epochStarts{{Epoch: 1, LSN: 1}, {Epoch: 3, LSN: 4}, {Epoch: 4, LSN: 300}}
	pos := Position{Epoch: 4, LSN: 301}
	data := append(appendNodeSnapshotHeader(nil, h), "state"...)
	got, state, err := decodeNodeSnapshot(pos, data)
	require.NoError(t, err)
	require.Equal(t, h, got)
	require.Equal(t, "state", string(state))

	_, _, err = decodeNodeSnapshot(Position{}, appendNodeSnapshotHeader(nil, nil))
	require.NoError(t, err, "the empty snapshot, as a leader with an empty log takes it")

	// A build before the header stored the state alone: it loads, with
	// no history (holds() then answers as that build did).
	got, state, err = decodeNodeSnapshot(pos, []byte("a store snapshot"))
	require.NoError(t, err)
	require.Nil(t, got)
	require.Equal(t, "a store snapshot", string(state))

	bad := map[string]struct {
		pos  Position
		data []byte
	}{
		"header cut after the magic":   {pos, []byte(nodeSnapshotMagic)},
		"other version":                {pos, append([]byte(nodeSnapshotMagic), 2, 0)},
		"truncated history":            {pos, appendNodeSnapshotHeader(nil, h)[:8]},
		"count past the data":          {pos, append([]byte(nodeSnapshotMagic), 1, 100, 1, 1)},
		"epochs out of order":          {pos, appendNodeSnapshotHeader(nil, epochStarts{{Epoch: 3, LSN: 1}, {Epoch: 2, LSN: 5}})},
		"LSNs out of order":            {pos, appendNodeSnapshotHeader(nil, epochStarts{{Epoch: 1, LSN: 5}, {Epoch: 2, LSN: 5}})},
		"LSN 0":                        {pos, appendNodeSnapshotHeader(nil, epochStarts{{Epoch: 1, LSN: 0}})},
		"ends in another epoch":        {pos, appendNodeSnapshotHeader(nil, h[:2])},
		"starts past the snapshot":     {Position{Epoch: 4, LSN: 200}, appendNodeSnapshotHeader(nil, h)},
		"history of an empty snapshot": {Position{}, appendNodeSnapshotHeader(nil, h)},
		"no history under entries":     {pos, appendNodeSnapshotHeader(nil, nil)},
	}
	for name, c := range bad {
		_, _, err := decodeNodeSnapshot(c.pos, c.data)
		require.ErrorIs(t, err, ErrBadSnapshot, name)
		require.ErrorIs(t, err, errNodeSnapshot, name)
	}
}

// historyThrough gives the epochs of the log up to any LSN, across the
// compaction point (the snapshot's history below it, the log's entries
// above), and holds() answers by it for compacted LSNs: the property
// against a plain list of every entry's epoch.
func TestHistoryThroughMatchesTheLog(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// A log of random epochs (non-decreasing), compacted somewhere.
		n := rapid.IntRange(1, 60).Draw(t, "entries")
		epochs := make([]Epoch, n+1) // epochs[l] wrote LSN l
		e := Epoch(rapid.IntRange(1, 3).Draw(t, "first epoch"))
		for l := 1; l <= n; l++ {
			if rapid.IntRange(0, 4).Draw(t, "new epoch") == 0 {
				e += Epoch(rapid.IntRange(1, 2).Draw(t, "epoch step"))
			}
			epochs[l] = e
		}
		log := NewMemLog()
		var want epochStarts
		for l := 1; l <= n; l++ {
			require.NoError(t, log.Append([]Entry{{Pos: Position{Epoch: epochs[l], LSN: LSN(l)}, Kind: EntryCommand}}))
			if len(want) == 0 || want[len(want)-1].Epoch != epochs[l] {
				want = append(want, Position{Epoch: epochs[l], LSN: LSN(l)})
			}
		}
		c := &core{log: log, last: log.Last(), hard: &hardState{}}
		snapAt := LSN(rapid.IntRange(0, n).Draw(t, "snapshot LSN"))
		if snapAt > 0 {
			h, ok := c.historyThrough(snapAt)
			require.True(t, ok)
			c.hard.snap = &localSnapshot{pos: Position{Epoch: epochs[snapAt], LSN: snapAt}, epochs: h}
			through := LSN(rapid.IntRange(1, int(snapAt)).Draw(t, "compact through"))
			require.NoError(t, log.CompactThrough(through))
		}
		for through := c.log.First() - 1; through <= LSN(n); through++ {
			h, ok := c.historyThrough(through)
			require.True(t, ok)
			var upTo epochStarts
			for _, p := range want {
				if p.LSN <= through {
					upTo = append(upTo, p)
				}
			}
			require.Equal(t, upTo, h, "history through %d", through)
		}
		for l := 1; l <= n; l++ {
			for _, e := range []Epoch{epochs[l] - 1, epochs[l], epochs[l] + 1} {
				require.Equal(t, e == epochs[l], c.holds(Position{Epoch: e, LSN: LSN(l)}), "holds %d:%d (log from %d)", e, l, c.log.First())
			}
		}
	})
}

// writeSnapshot and parseSnapshot agree: what a node stores or ships is
// what a node that loads or installs it reads, state and history.
func TestNodeSnapshotRoundTrip(t *testing.T) {
	st := NewStore()
	for l := LSN(1); l <= 5; l++ {
		require.NoError(t, st.Apply(Entry{Pos: Position{Epoch: 2, LSN: l}, Kind: EntryCommand, Data: AppendPut(nil, fmt.Sprint("k", l), []byte("v"))}))
	}
	pos := Position{Epoch: 2, LSN: 5}
	h := epochStarts{{Epoch: 1, LSN: 1}, {Epoch: 2, LSN: 3}}
	snap, err := writeSnapshot(pos, h, st.Snapshot)
	require.NoError(t, err)
	got, err := parseSnapshot(pos, bytes.Clone(snap.data))
	require.NoError(t, err)
	require.Equal(t, h, got.epochs)
	require.Equal(t, snap.state, got.state)
	restored := NewStore()
	require.NoError(t, restored.Restore(bytes.NewReader(got.state)))
	require.Equal(t, 5, restored.Len())

	failing := errors.New("disk gone")
	_, err = writeSnapshot(pos, h, func(io.Writer) error { return failing })
	require.ErrorIs(t, err, failing)
}
