package replstore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests for defects reported by a user of the public API, one
// per defect, named after it.

// TestRegressionAppendSampleSameTimeReplaces: a sample at a time the
// series already holds replaces the old one (it was documented only on
// the command encoder, not on Cluster.AppendSample).
func TestRegressionAppendSampleSameTimeReplaces(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	s := cl.NewSession(nil)
	_, err := s.AppendSample(ctx, "sat/ISS/altitude_km", t0, 418.20)
	require.NoError(t, err)
	second, err := s.AppendSample(ctx, "sat/ISS/altitude_km", t0, 418.15)
	require.NoError(t, err)

	got, _, err := s.Range(ctx, "sat/ISS/altitude_km", t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, got, 1, "the second sample at %v replaces the first", t0)
	assert.Equal(t, Sample{Time: t0, Value: 418.15, Pos: second}, got[0])
	latest, ok, _, err := s.Latest(ctx, "sat/ISS/altitude_km")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 418.15, latest.Value)
}
