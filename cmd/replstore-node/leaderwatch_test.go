package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The warning comes after the spell has lasted `after`, then at most once
// per `every`, and a live leader ends the spell.
func TestLeaderWatch(t *testing.T) {
	w := &leaderWatch{after: time.Second, every: 5 * time.Second}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration // since t0
		live bool
		warn bool
	}{
		{0, true, false},
		{100 * time.Millisecond, false, false}, // the spell begins
		{900 * time.Millisecond, false, false},
		{1100 * time.Millisecond, false, true}, // 1 s without
		{2 * time.Second, false, false},        // not again so soon
		{6 * time.Second, false, false},
		{6100 * time.Millisecond, false, true}, // 5 s after the last
		{6200 * time.Millisecond, true, false}, // a leader again
		{6300 * time.Millisecond, false, false},
		{7300 * time.Millisecond, false, true}, // a new spell warns after 1 s
	}
	for _, st := range steps {
		warn, _ := w.observe(t0.Add(st.at), st.live)
		require.Equal(t, st.warn, warn, "at %v live=%v", st.at, st.live)
	}
}
