package replstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLeaderReadConfirms(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	n, err := cl.confirmLeaderNode(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n.sm.Load().sm.(*Store).LastApplied().LSN, pos.LSN)
	require.NoError(t, cl.Net().PauseNode("n2"))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = cl.confirmLeaderNode(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, cl.Net().ResumeNode("n2"))
	_, err = cl.confirmLeaderNode(ctx)
	require.NoError(t, err)
}
