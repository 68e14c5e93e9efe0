package replstore

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRouteChoices checks each built-in mode's choice on hand-made
// replica states: the leader n1 with two uncommitted entries, n2 caught
// up, n3 six entries and five seconds behind, n4 down, n5 rebuilding
// from a snapshot (never chosen, though its lag is small).
func TestRouteChoices(t *testing.T) {
	at := func(lsn LSN) Position { return Position{Epoch: 1, LSN: lsn} }
	healthy := []ReplicaState{
		{ID: "n1", Leader: true, Epoch: 1, Applied: at(10), LagEntries: 2, LagTime: time.Millisecond},
		{ID: "n2", Epoch: 1, Applied: at(10), LagEntries: 2, LagTime: time.Millisecond, CaughtUp: true},
		{ID: "n3", Epoch: 1, Applied: at(6), LagEntries: 6, LagTime: 5 * time.Second, CaughtUp: true},
		{ID: "n4", Down: true},
		{ID: "n5", Epoch: 1, Applied: at(10), LagEntries: 2, LagTime: time.Millisecond}, // rebuilding: not caught up
	}
	down := func(ids ...NodeID) []ReplicaState {
		out := append([]ReplicaState(nil), healthy...)
		for i := range out {
			for _, id := range ids {
				if out[i].ID == id {
					out[i] = ReplicaState{ID: id, Down: true}
				}
			}
		}
		return out
	}
	// n1 still believes it leads epoch 1; n3 leads epoch 2.
	zombie := []ReplicaState{
		{ID: "n1", Leader: true, Epoch: 1, Applied: at(10), LagEntries: 3},
		{ID: "n2", Epoch: 2, Applied: at(10), LagEntries: 3, CaughtUp: true},
		{ID: "n3", Leader: true, Epoch: 2, Applied: Position{Epoch: 2, LSN: 12}, LagEntries: 1, CaughtUp: true},
	}
	cases := []struct {
		name    string
		mode    ReadRouter
		reps    []ReplicaState
		token   Token
		seq     uint64
		want    NodeID
		atLeast Position
		err     error
	}{
		{"any/first", AnyFollower{}, healthy, Token{}, 0, "n2", Position{}, nil},
		{"any/rotates", AnyFollower{}, healthy, Token{}, 1, "n3", Position{}, nil},
		{"any/skips down and rebuilding", AnyFollower{}, healthy, Token{}, 2, "n2", Position{}, nil},
		{"any/leader only when no follower", AnyFollower{}, down("n2", "n3"), Token{}, 0, "n1", Position{}, nil},
		{"any/all down", AnyFollower{}, down("n1", "n2", "n3"), Token{}, 0, "", Position{}, ErrNoReplica},
		{"session/zero token rotates", SessionConsistent{Wait: -1}, healthy, Token{}, 1, "n3", Position{}, nil},
		{"session/only caught-up followers", SessionConsistent{Wait: -1}, healthy, Token(at(8)), 1, "n2", at(8), nil},
		{"session/leader covers", SessionConsistent{Wait: -1}, down("n2"), Token(at(10)), 0, "n1", at(10), nil},
		{"session/token past the log", SessionConsistent{Wait: -1}, healthy, Token(at(13)), 0, "", Position{}, ErrBadToken},
		{"session/token from a later epoch", SessionConsistent{Wait: -1}, healthy, Token{Epoch: 2, LSN: 5}, 0, "", Position{}, ErrBadToken},
		{"session/no leader", SessionConsistent{Wait: -1}, down("n1", "n2"), Token(at(8)), 0, "", Position{}, ErrNoReplica},
		{"session/deposed leader ignored", SessionConsistent{Wait: -1}, zombie, Token{Epoch: 2, LSN: 12}, 0, "n3", Position{Epoch: 2, LSN: 12}, nil},
		{"bounded/deposed leader ignored", BoundedStaleness{}, zombie, Token{}, 0, "n3", Position{}, nil},
		{"bounded/entries excludes n3", MaxLagEntries(5), healthy, Token{}, 1, "n2", Position{}, nil},
		{"bounded/entries includes n3", MaxLagEntries(6), healthy, Token{}, 1, "n3", Position{}, nil},
		{"bounded/time excludes n3", MaxLagTime(4 * time.Second), healthy, Token{}, 1, "n2", Position{}, nil},
		{"bounded/time includes n3", MaxLagTime(5 * time.Second), healthy, Token{}, 1, "n3", Position{}, nil},
		{"bounded/negative time is zero", MaxLagTime(-time.Second), healthy, Token{}, 0, "n1", Position{}, nil},
		{"bounded/none within: leader", BoundedStaleness{}, healthy, Token{}, 0, "n1", Position{}, nil},
		{"bounded/no leader", MaxLagEntries(100), down("n1"), Token{}, 0, "", Position{}, ErrNoReplica},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &RouteRequest{Token: tc.token, Replicas: tc.reps, Seq: tc.seq}
			got, err := tc.mode.Route(context.Background(), req)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.True(t, strings.HasPrefix(err.Error(), "replstore: "), err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.Node)
			assert.Equal(t, tc.atLeast, got.AtLeast)
		})
	}
	assert.Equal(t, "MaxLagEntries(5)", MaxLagEntries(5).String())
	assert.Equal(t, "MaxLagTime(1s)", MaxLagTime(time.Second).String())
}

// TestAnyFollowerSpreadsAndFallsBack: a session's reads take turns over
// the running followers, never the leader while one runs.
func TestAnyFollowerSpreadsAndFallsBack(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.AsyncFollowers = []NodeID{"n3", "n4"} })
	ctx := testCtx(t)
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	ticks(t, cl, 1)
	for _, id := range []NodeID{"n2", "n3", "n4"} { // each has caught up: it may serve
		require.NoError(t, cl.WaitApplied(ctx, id, pos.LSN))
	}
	served := func(reads int) []NodeID { return servedBy(t, cl, AnyFollower{}, reads) }
	assert.Equal(t, []NodeID{"n2", "n3", "n4", "n2"}, served(4))
	require.NoError(t, cl.Crash("n3"))
	assert.Equal(t, []NodeID{"n2", "n4", "n2"}, served(3))
	require.NoError(t, cl.Crash("n2"))
	require.NoError(t, cl.Crash("n4"))
	assert.Equal(t, []NodeID{"n1", "n1"}, served(2))
}

// TestFollowerReadsBypassNodeGoroutines: with every follower's goroutine
// stuck, follower reads are still served, since they read the node's
// Store and published state directly.
func TestFollowerReadsBypassNodeGoroutines(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	tickUntilApplied(t, cl, "n2", pos.LSN)
	require.NoError(t, cl.WaitApplied(ctx, "n3", pos.LSN))
	release := make(chan struct{})
	for _, id := range []NodeID{"n2", "n3"} {
		n, err := cl.running(id)
		require.NoError(t, err)
		require.True(t, n.mbox.call(func() { <-release }))
	}
	defer close(release)
	for _, mode := range []ReadRouter{AnyFollower{}, SessionConsistent{}, MaxLagEntries(0)} {
		s := cl.NewSession(mode)
		require.NoError(t, s.Adopt(Token(pos)))
		for range 2 {
			rec, _, sv, err := s.Get(ctx, "k")
			require.NoError(t, err, modeName(mode))
			assert.Equal(t, "v", string(rec.Value))
			assert.False(t, sv.Leader, modeName(mode))
		}
	}
}

// nearestRegion is a custom router: a follower in its region that has the
// session's token, else whatever SessionConsistent chooses.
type nearestRegion struct {
	region map[NodeID]string
	here   string
}

func (r nearestRegion) Route(ctx context.Context, req *RouteRequest) (Target, error) {
	for _, rs := range req.Replicas {
		if !rs.Down && !rs.Leader && r.region[rs.ID] == r.here && req.Token.SatisfiedBy(rs.Applied) {
			return Target{Node: rs.ID, AtLeast: Position(req.Token)}, nil
		}
	}
	return SessionConsistent{Wait: -1}.Route(ctx, req)
}

func TestCustomRouter(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	tickUntilApplied(t, cl, "n3", pos.LSN)
	router := nearestRegion{region: map[NodeID]string{"n2": "us", "n3": "eu"}, here: "eu"}
	s := cl.NewSession(router)
	for range 3 {
		_, _, sv, err := s.Get(ctx, "k")
		require.NoError(t, err)
		assert.Equal(t, NodeID("n3"), sv.Node, "the nearest follower")
	}
	// n3 falls behind the session: the custom router delegates.
	require.NoError(t, cl.Net().PauseLink("n1", "n3"))
	pos, err = s.Put(ctx, "k", []byte("v2"))
	require.NoError(t, err)
	rec, _, sv, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v2", string(rec.Value))
	assert.Equal(t, NodeID("n1"), sv.Node)
	assert.GreaterOrEqual(t, sv.Applied.LSN, pos.LSN)
}

// routeTo is a router that always picks one node with one requirement.
type routeTo struct {
	target   Target
	attempts *[]int
}

func (r routeTo) Route(_ context.Context, req *RouteRequest) (Target, error) {
	if r.attempts != nil {
		*r.attempts = append(*r.attempts, req.Attempt)
	}
	return r.target, nil
}

// TestReadErrors: every bad read is a clear error, returned at once, and
// a view short of its target is never shown to the caller.
func TestReadErrors(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	_, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	s := cl.NewSession(nil)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var attempts []int
	ran := false
	long := strings.Repeat("k", cl.Config().MaxKeyBytes+1)
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"empty key", func() error { _, _, _, err := cl.Get(ctx, ""); return err }, ErrEmptyKey},
		{"session empty key", func() error { _, _, _, err := s.Get(ctx, ""); return err }, ErrEmptyKey},
		{"empty key in many", func() error { _, _, err := s.GetMany(ctx, []string{"k", ""}); return err }, ErrEmptyKey},
		{"empty series latest", func() error { _, _, _, err := s.Latest(ctx, ""); return err }, ErrEmptyKey},
		{"empty series range", func() error { _, _, err := cl.Range(ctx, "", time.Time{}, time.Now()); return err }, ErrEmptyKey},
		{"key too large", func() error { _, _, _, err := s.Get(ctx, long); return err }, ErrKeyTooLarge},
		{"cancelled context", func() error { _, _, _, err := s.Get(cancelled, "k"); return err }, context.Canceled},
		{"unknown node", func() error {
			_, _, _, err := cl.Get(ctx, "k", Via(routeTo{target: Target{Node: "n9"}}))
			return err
		}, ErrUnknownNode},
		{"view short of its target", func() error {
			_, err := cl.Read(ctx, func(*ReadTx) { ran = true }, Via(routeTo{target: Target{Node: "n2", AtLeast: Position{Epoch: 1, LSN: 1000}}, attempts: &attempts}))
			return err
		}, ErrNoReplica},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "replstore: "), "error %q does not say where it comes from", err)
		})
	}
	assert.False(t, ran, "fn ran on a view short of its target")
	assert.Equal(t, []int{0, 1, 2}, attempts)
	assert.True(t, s.Token().IsZero(), "failed reads changed the token")

	require.NoError(t, cl.Close())
	for name, call := range map[string]func() error{
		"get":    func() error { _, _, _, err := cl.Get(ctx, "k"); return err },
		"many":   func() error { _, _, err := s.GetMany(ctx, []string{"k"}); return err },
		"latest": func() error { _, _, _, err := s.Latest(ctx, "k", Via(AnyFollower{})); return err },
		"range": func() error {
			_, _, err := s.Range(ctx, "k", time.Time{}, time.Now(), Via(MaxLagEntries(1)))
			return err
		},
		"read":    func() error { _, err := s.Read(ctx, func(*ReadTx) {}); return err },
		"write":   func() error { _, err := s.Put(ctx, "k", []byte("v")); return err },
		"leader":  func() error { _, _, _, err := cl.Get(ctx, "k", Via(Leader{})); return err },
		"session": func() error { _, _, _, err := s.Get(ctx, "k", Via(SessionConsistent{})); return err },
	} {
		assert.ErrorIs(t, call(), ErrClosed, name)
	}
}

// TestReadNeedsBuiltinStore: a custom state machine cannot be read through
// the router; the error says so.
func TestReadNeedsBuiltinStore(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.NewStateMachine = func() StateMachine { return &countingSM{} } })
	for _, mode := range []ReadRouter{Leader{}, AnyFollower{}} {
		_, _, _, err := cl.Get(testCtx(t), "k", Via(mode))
		require.ErrorIs(t, err, errors.ErrUnsupported)
		assert.Contains(t, err.Error(), "not the built-in Store")
	}
}

// countingSM is a minimal custom state machine.
type countingSM struct{ applied int }

func (c *countingSM) Apply(Entry) error         { c.applied++; return nil }
func (c *countingSM) Snapshot(io.Writer) error  { return nil }
func (c *countingSM) Restore(r io.Reader) error { return nil }

// TestSessionConsistentNeverHangs: a token this cluster never issued fails
// at once; a wait for a follower ends with the read's context.
func TestSessionConsistentNeverHangs(t *testing.T) {
	cl := heldBack(t)
	ctx := testCtx(t)
	s := cl.NewSession(SessionConsistent{Wait: time.Hour})
	require.NoError(t, s.Adopt(Token{Epoch: 1, LSN: 1 << 40}))
	_, _, _, err := s.Get(ctx, elementsKey)
	require.ErrorIs(t, err, ErrBadToken)
	assert.Contains(t, err.Error(), "never had")

	pos, err := cl.Put(ctx, elementsKey, []byte("v2")) // n2 will not apply it: no tick
	require.NoError(t, err)
	s = cl.NewSession(SessionConsistent{Wait: time.Hour})
	require.NoError(t, s.Adopt(Token(pos)))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, _, _, err = s.Get(short, elementsKey)
	require.ErrorIs(t, err, ErrNoReplica)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "session token "+pos.String())
}

// TestServedReportsLag: a read says which replica served it, at which
// position, and how far behind the leader's log that replica was.
func TestServedReportsLag(t *testing.T) {
	cl := heldBack(t)
	ctx := testCtx(t)
	var pos Position
	for range 3 {
		var err error
		pos, err = cl.Put(ctx, elementsKey, []byte("v2"))
		require.NoError(t, err)
	}
	tickUntilApplied(t, cl, "n2", pos.LSN)
	s := cl.NewSession(AnyFollower{})
	_, _, sv, err := s.Get(ctx, elementsKey)
	require.NoError(t, err)
	assert.Equal(t, Served{Node: "n2", Applied: pos}, sv, "caught up: no lag")
	_, _, sv, err = s.Get(ctx, elementsKey)
	require.NoError(t, err)
	assert.Equal(t, NodeID("n3"), sv.Node)
	assert.Equal(t, pos.LSN-3, sv.Applied.LSN)
	assert.Equal(t, uint64(3), sv.LagEntries)
	assert.Positive(t, sv.LagTime)
	_, _, sv, err = s.Get(ctx, elementsKey, Via(Leader{}))
	require.NoError(t, err)
	assert.Equal(t, Served{Node: "n1", Applied: pos, Leader: true, Linearizable: true}, sv)
}

// TestAppendReplicasMatchesReplicas: the read path's allocation-free
// snapshot gives Replicas' values (LagTime aside, which moves with the
// clock: both say whether a replica lags).
func TestAppendReplicasMatchesReplicas(t *testing.T) {
	cl := heldBack(t)
	ctx := testCtx(t)
	_, err := cl.Put(ctx, elementsKey, []byte("v2"))
	require.NoError(t, err)
	require.NoError(t, cl.Crash("n2"))
	want, err := cl.Replicas()
	require.NoError(t, err)
	got, nodes, err := cl.appendReplicas(nil, nil)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	require.Len(t, nodes, len(want))
	for i := range want {
		assert.Equal(t, want[i].LagTime > 0, got[i].LagTime > 0, want[i].ID)
		want[i].LagTime, got[i].LagTime = 0, 0
		assert.Equal(t, want[i].Down, nodes[i] == nil, want[i].ID)
	}
	assert.Equal(t, want, got)
	require.NoError(t, cl.Close())
	_, _, err = cl.appendReplicas(nil, nil)
	assert.ErrorIs(t, err, ErrClosed)
}

// throughRoute hides a built-in mode's type, so that every read it
// routes goes through Route with every node's state, not the cached
// replicaView.
type throughRoute struct{ ReadRouter }

// TestViewRoutingMatchesRoute: on a caught-up cluster, the built-in
// modes' O(1) route on the cached replicaView picks, read for read, the
// replica that their Route picks from every node's state, with the same
// Served.
func TestViewRoutingMatchesRoute(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.AsyncFollowers = []NodeID{"n3", "n4", "n5"} })
	ctx := testCtx(t)
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	ticks(t, cl, 1)
	for _, id := range cl.Nodes() {
		require.NoError(t, cl.WaitApplied(ctx, id, pos.LSN))
	}
	waitCaughtUp(t, cl, "n2", "n3", "n4", "n5")
	for _, mode := range []ReadRouter{AnyFollower{}, SessionConsistent{}, MaxLagEntries(0), MaxLagTime(time.Hour)} {
		var viaView, viaRoute []Served
		for _, r := range []ReadRouter{mode, throughRoute{mode}} {
			s := cl.NewSession(r)
			require.NoError(t, s.Adopt(Token(pos)))
			for range 9 {
				_, _, sv, err := s.Get(ctx, "k")
				require.NoError(t, err, modeName(mode))
				if _, hidden := r.(throughRoute); hidden {
					viaRoute = append(viaRoute, sv)
				} else {
					viaView = append(viaView, sv)
				}
			}
		}
		assert.Equal(t, viaRoute, viaView, modeName(mode))
		assert.Equal(t, NodeID("n5"), viaView[3].Node, modeName(mode))
	}
}

// TestViewFollowsShapeChanges: the cached replicaView is rebuilt when a
// follower crashes, restarts and catches up, or joins, so reads stop
// going to a node that is down and go to one that serves again, in
// Nodes order.
func TestViewFollowsShapeChanges(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.AsyncFollowers = []NodeID{"n3"} })
	ctx := testCtx(t)
	served := func(mode ReadRouter, reads int) []NodeID { return servedBy(t, cl, mode, reads) }
	caughtUp := func(ids ...NodeID) {
		pos, err := cl.Put(ctx, "k", []byte("v"))
		require.NoError(t, err)
		ticks(t, cl, 1)
		for _, id := range ids {
			require.NoError(t, cl.WaitApplied(ctx, id, pos.LSN))
		}
		waitCaughtUp(t, cl, ids...)
	}
	caughtUp("n2", "n3")
	for _, mode := range []ReadRouter{AnyFollower{}, SessionConsistent{}, MaxLagEntries(10)} {
		assert.Equal(t, []NodeID{"n2", "n3", "n2"}, served(mode, 3), modeName(mode))
	}
	require.NoError(t, cl.Crash("n3"))
	for _, mode := range []ReadRouter{AnyFollower{}, SessionConsistent{}, MaxLagEntries(10)} {
		assert.Equal(t, []NodeID{"n2", "n2", "n2"}, served(mode, 3), modeName(mode))
	}
	require.NoError(t, cl.Restart("n3"))
	caughtUp("n3")
	for _, mode := range []ReadRouter{AnyFollower{}, SessionConsistent{}, MaxLagEntries(10)} {
		assert.Equal(t, []NodeID{"n2", "n3", "n2"}, served(mode, 3), modeName(mode))
	}
	require.NoError(t, cl.AddFollower(ctx, "n4"))
	caughtUp("n2", "n3", "n4")
	for _, mode := range []ReadRouter{AnyFollower{}, SessionConsistent{}, MaxLagEntries(10)} {
		assert.Equal(t, []NodeID{"n2", "n3", "n4", "n2"}, served(mode, 4), modeName(mode))
	}
}

// leaderOnly embeds a built-in mode but routes every read to the leader:
// the read path must call its Route, not take the built-in's shortcut.
type leaderOnly struct{ AnyFollower }

func (leaderOnly) Route(ctx context.Context, req *RouteRequest) (Target, error) {
	return req.ConfirmLeader(ctx)
}

func TestEmbeddedModeKeepsCustomRoute(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	pos, err := cl.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	tickUntilApplied(t, cl, "n3", pos.LSN)
	s := cl.NewSession(leaderOnly{})
	for range 3 {
		_, _, sv, err := s.Get(ctx, "k")
		require.NoError(t, err)
		assert.Equal(t, NodeID("n1"), sv.Node)
		assert.True(t, sv.Linearizable)
	}
}

// servedBy reads key "k" reads times in one new session of mode and
// returns which node served each read.
func servedBy(t *testing.T, cl *Cluster, mode ReadRouter, reads int) []NodeID {
	t.Helper()
	s := cl.NewSession(mode)
	var out []NodeID
	for range reads {
		_, _, sv, err := s.Get(testCtx(t), "k")
		require.NoError(t, err)
		out = append(out, sv.Node)
	}
	return out
}
