package replstore

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// boundedNet is a MemNet that says it carries at most limit bytes of
// data per message.
type boundedNet struct {
	*MemNet
	limit int
}

func (b boundedNet) MaxMessageBytes() int { return b.limit }

// NewNode refuses a Config whose largest write or snapshot chunk a
// BoundedTransport cannot carry, naming the limits and the fix; one that
// fits, to the byte, is accepted.
func TestNewNodeChecksMessageLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ManualFailover, cfg.ManualTicks = true, true
	cfg.MaxKeyBytes, cfg.MaxValueBytes, cfg.SnapshotChunkBytes = 100, 1000, 512
	net := NewMemNet()
	defer net.Close()
	fits := maxCommandBytes(&cfg)
	require.Equal(t, 1132, fits)
	for _, tc := range []struct {
		limit int
		says  string // "": accepted
	}{
		{fits, ""},
		{fits - 1, "MaxKeyBytes (100) + MaxValueBytes (1000) + 32 bytes of command = 1132 bytes, more than the transport carries in one message (MaxMessageBytes 1131"},
		{0, "MaxMessageBytes 0"},
	} {
		nd, err := NewNode(cfg, "n1", boundedNet{net, tc.limit})
		if tc.says == "" {
			require.NoError(t, err)
			require.NoError(t, nd.Close())
			continue
		}
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.Contains(t, err.Error(), tc.says)
		require.Contains(t, err.Error(), "raise the transport's frame limit")
	}
	cfg.SnapshotChunkBytes = fits + 1
	_, err := NewNode(cfg, "n1", boundedNet{net, fits})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Contains(t, err.Error(), "SnapshotChunkBytes (1133)")
}

// fitAppend keeps the longest prefix, at least one entry, whose Data plus
// AppendEntryOverhead per entry after the first fits the limit.
func TestFitAppend(t *testing.T) {
	ents := func(sizes ...int) []Entry {
		var es []Entry
		for i, n := range sizes {
			es = append(es, Entry{Pos: Position{Epoch: 1, LSN: LSN(i + 1)}, Data: []byte(strings.Repeat("x", n))})
		}
		return es
	}
	for _, tc := range []struct {
		limit int
		sizes []int
		want  int
	}{
		{0, []int{1 << 20, 1 << 20}, 2}, // no limit
		{100, nil, 0},
		{100, []int{500}, 1}, // never fewer than one (NewNode checked it fits)
		{100, []int{100, 0}, 1},
		{200, []int{100, 36, 1}, 2},
		{200, []int{100, 36}, 2},
		{AppendEntryOverhead * 3, []int{0, 0, 0, 0}, 4},
		{AppendEntryOverhead*3 - 1, []int{0, 0, 0, 0}, 3},
	} {
		c := &core{cfg: &coreConfig{maxMessageBytes: tc.limit}}
		require.Len(t, c.fitAppend(ents(tc.sizes...)), tc.want, "limit %d, sizes %v", tc.limit, tc.sizes)
	}
}
