package replstore

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// waitOn is a router that waits for node id to apply LSN 1 before it
// routes the read there.
type waitOn NodeID

func (w waitOn) Route(ctx context.Context, req *RouteRequest) (Target, error) {
	if err := req.WaitApplied(ctx, NodeID(w), 1); err != nil {
		return Target{}, err
	}
	return Target{Node: NodeID(w)}, nil
}

// A read a router sends to a node that is no replica of the cluster, or
// a router's wait on one, fails at once with ErrUnknownNode naming it,
// on a Node as on a Cluster, instead of waiting for an answer that the
// transport will never deliver. (Before the fix a Node's read ran until
// its context ended.)
func TestReadRoutedToUnknownNode(t *testing.T) {
	ctx := testCtx(t)
	nodes, _ := newTestNodes(t, nil)
	pos, err := nodes["n1"].Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	require.NoError(t, nodes["n2"].WaitApplied(ctx, pos.LSN))
	cl, _ := newTestCluster(t, nil)

	type reader interface {
		Get(ctx context.Context, key string, opts ...ReadOption) (Record, bool, Served, error)
	}
	for _, rd := range []struct {
		name string
		r    reader
	}{{"leader node", nodes["n1"]}, {"follower node", nodes["n2"]}, {"cluster", cl}} {
		for _, tc := range []struct {
			name   string
			router ReadRouter
			op     string // what the error says failed
		}{
			{"routed read", routeTo{target: Target{Node: "zz"}}, `read routed to "zz": unknown node: "zz"`},
			{"WaitApplied", waitOn("zz"), `waiting for zz to apply LSN 1: unknown node: "zz"`},
		} {
			t.Run(rd.name+"/"+tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				_, _, _, err := rd.r.Get(ctx, "k", Via(tc.router))
				require.ErrorIs(t, err, ErrUnknownNode)
				require.NoError(t, ctx.Err(), "the read returned only when its context ended")
				require.True(t, strings.HasPrefix(err.Error(), "replstore: "+tc.op), "error %q", err)
			})
		}
	}

	// A replica the router names is still served, wherever it is.
	for _, id := range []NodeID{"n1", "n2", "n3"} {
		require.NoError(t, nodes[id].WaitApplied(ctx, pos.LSN))
		rec, found, sv, err := nodes["n2"].Get(ctx, "k", Via(waitOn(id)))
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, "v", string(rec.Value))
		require.Equal(t, id, sv.Node)
	}
}
