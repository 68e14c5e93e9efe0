package tcpnet

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoff(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: 100 * time.Millisecond}
	rng := rand.New(rand.NewPCG(1, 2))
	require.Zero(t, b.delay(rng), "no wait before the first failure")
	var waits []time.Duration
	for range 6 {
		b.fail()
		waits = append(waits, b.wait)
		for range 100 {
			d := b.delay(rng)
			require.GreaterOrEqual(t, d, b.wait/2)
			require.LessOrEqual(t, d, b.wait)
		}
	}
	ms := time.Millisecond
	require.Equal(t, []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, 100 * ms}, waits)
	b.reset()
	require.Zero(t, b.delay(rng))

	// The same seed draws the same delays: a test run replays.
	draw := func() []time.Duration {
		b := backoff{min: ms, max: time.Second}
		rng := rand.New(rand.NewPCG(7, 7))
		var ds []time.Duration
		for range 10 {
			b.fail()
			ds = append(ds, b.delay(rng))
		}
		return ds
	}
	require.Equal(t, draw(), draw())
}
