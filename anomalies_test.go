package replstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The replication-lag anomalies, each first reproduced under AnyFollower
// with followers held behind by the in-memory network and the manual
// clock (never by sleeping), then shown gone under SessionConsistent and
// Leader.
//
// Every scenario starts from heldBack: leader n1, sync follower n2, async
// follower n3, ack level Durable. After a Put returns, n2 has stored the
// write but applies it only when the leader tells it the commit LSN, in
// its next append or heartbeat, that is, at the next Tick or write; n3,
// cut off by PauseLink, hears nothing at all.

const (
	elementsKey = "sat/ISS/elements"
	passKey     = "sat/ISS/pass-1"
)

// heldBack starts the cluster, writes v1 of the orbital elements, lets
// every replica apply it, then cuts the async follower n3 off.
func heldBack(t *testing.T) *Cluster {
	t.Helper()
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	pos, err := cl.Put(ctx, elementsKey, []byte("v1"))
	require.NoError(t, err)
	ticks(t, cl, 1)
	for _, id := range []NodeID{"n2", "n3"} {
		require.NoError(t, cl.WaitApplied(ctx, id, pos.LSN))
	}
	require.NoError(t, cl.Net().PauseLink("n1", "n3"))
	return cl
}

// waitCaughtUp waits until each node has caught up with the leader once
// (ReplicaState.CaughtUp): only then may it serve reads.
func waitCaughtUp(t *testing.T, cl *Cluster, ids ...NodeID) {
	t.Helper()
	for _, id := range ids {
		require.NoError(t, cl.waitUntil(testCtx(t), id, func(c *core) bool { return c.caughtUp }))
	}
}

// tickUntilApplied ticks once (the heartbeat carries the commit LSN) and
// waits until id has applied lsn.
func tickUntilApplied(t *testing.T, cl *Cluster, id NodeID, lsn LSN) {
	t.Helper()
	ticks(t, cl, 1)
	require.NoError(t, cl.WaitApplied(testCtx(t), id, lsn))
}

// sessionGet reads key through s and returns its value ("" if absent).
func sessionGet(t *testing.T, s *Session, key string, opts ...ReadOption) (string, Served) {
	t.Helper()
	rec, found, sv, err := s.Get(testCtx(t), key, opts...)
	require.NoError(t, err)
	if !found {
		return "", sv
	}
	return string(rec.Value), sv
}

// TestAnomalyReadYourWrites: a session writes, then reads its own write
// back. From any follower it gets the old value; SessionConsistent waits
// for a follower to catch up or falls back to the leader; Leader mode
// reads the leader after proving it still leads.
func TestAnomalyReadYourWrites(t *testing.T) {
	write := func(t *testing.T, mode ReadRouter) (*Cluster, *Session, Position) {
		cl := heldBack(t)
		s := cl.NewSession(mode)
		pos, err := s.Put(testCtx(t), elementsKey, []byte("v2"))
		require.NoError(t, err)
		return cl, s, pos
	}

	t.Run("AnyFollower reproduces", func(t *testing.T) {
		_, s, pos := write(t, AnyFollower{})
		for _, want := range []NodeID{"n2", "n3"} { // the session's reads rotate
			v, sv := sessionGet(t, s, elementsKey)
			assert.Equal(t, want, sv.Node)
			assert.Equal(t, "v1", v, "the anomaly did not happen: %s had the session's own write", sv.Node)
			assert.Less(t, sv.Applied.LSN, pos.LSN)
			assert.NotZero(t, sv.LagEntries, "a stale view reported no lag")
		}
	})

	t.Run("SessionConsistent waits for a follower", func(t *testing.T) {
		cl, s, pos := write(t, SessionConsistent{Wait: testTimeout})
		type got struct {
			v  string
			sv Served
		}
		done := make(chan got, 1)
		ctx := testCtx(t)
		go func() {
			rec, _, sv, err := s.Get(ctx, elementsKey)
			assert.NoError(t, err)
			done <- got{string(rec.Value), sv}
		}()
		// Whether the read is already waiting or not, this heartbeat is
		// what lets n2 apply the write; n3 stays cut off.
		ticks(t, cl, 1)
		r := <-done
		assert.Equal(t, "v2", r.v)
		assert.Equal(t, NodeID("n2"), r.sv.Node)
		assert.GreaterOrEqual(t, r.sv.Applied.LSN, pos.LSN)
	})

	t.Run("SessionConsistent falls back to the leader", func(t *testing.T) {
		_, s, pos := write(t, SessionConsistent{Wait: time.Millisecond})
		for range 2 {
			v, sv := sessionGet(t, s, elementsKey)
			assert.Equal(t, "v2", v)
			assert.Equal(t, NodeID("n1"), sv.Node, "no follower can reach the token without a heartbeat")
			assert.True(t, sv.Leader)
			assert.GreaterOrEqual(t, sv.Applied.LSN, pos.LSN)
		}
	})

	t.Run("Leader", func(t *testing.T) {
		_, s, pos := write(t, Leader{})
		v, sv := sessionGet(t, s, elementsKey)
		assert.Equal(t, "v2", v)
		assert.Equal(t, NodeID("n1"), sv.Node)
		assert.True(t, sv.Linearizable)
		assert.GreaterOrEqual(t, sv.Applied.LSN, pos.LSN)
	})
}

// TestAnomalyMonotonicReads: another client updated the elements; n2 has
// applied the update, n3 has not. A reader that reads twice sees the
// update, then, from n3, the value before it: time went backwards.
func TestAnomalyMonotonicReads(t *testing.T) {
	setup := func(t *testing.T) *Cluster {
		cl := heldBack(t)
		pos, err := cl.Put(testCtx(t), elementsKey, []byte("v2"))
		require.NoError(t, err)
		tickUntilApplied(t, cl, "n2", pos.LSN)
		return cl
	}

	t.Run("AnyFollower reproduces", func(t *testing.T) {
		r := setup(t).NewSession(AnyFollower{})
		first, sv1 := sessionGet(t, r, elementsKey)
		second, sv2 := sessionGet(t, r, elementsKey)
		assert.Equal(t, []NodeID{"n2", "n3"}, []NodeID{sv1.Node, sv2.Node})
		assert.Equal(t, []string{"v2", "v1"}, []string{first, second}, "the anomaly did not happen")
		assert.Less(t, sv2.Applied.LSN, sv1.Applied.LSN, "the second read did not go back in time")
	})

	for _, mode := range []ReadRouter{SessionConsistent{}, Leader{}} {
		t.Run(modeName(mode)+" prevents", func(t *testing.T) {
			r := setup(t).NewSession(mode)
			var last Position
			for i := range 4 {
				v, sv := sessionGet(t, r, elementsKey)
				assert.Equal(t, "v2", v, "read %d", i)
				assert.NotEqual(t, NodeID("n3"), sv.Node, "read %d served by the follower that is behind", i)
				assert.False(t, sv.Applied.Less(last), "read %d went back from %v to %v", i, last, sv.Applied)
				last = sv.Applied
			}
		})
	}
}

// TestAnomalyConsistentPrefix: a writer records the orbital elements, then
// the pass prediction computed from them. An observer reads the
// prediction, then the elements it depends on, and finds no elements:
// the effect without its cause. In one log every replica holds a prefix,
// so one read never shows this; it takes two reads served by different
// replicas, and a multi-key read (one replica, one position) is immune.
func TestAnomalyConsistentPrefix(t *testing.T) {
	setup := func(t *testing.T) *Cluster {
		cl, _ := newTestCluster(t, nil)
		ctx := testCtx(t)
		waitCaughtUp(t, cl, "n3")                          // it has the epoch's first entry
		require.NoError(t, cl.Net().PauseLink("n1", "n3")) // and will have neither write
		writer := cl.NewSession(Leader{})
		_, err := writer.Put(ctx, elementsKey, []byte("a=6791km e=0.0003 i=51.6"))
		require.NoError(t, err)
		pos, err := writer.Put(ctx, passKey, []byte("AOS 14:02 from the elements above"))
		require.NoError(t, err)
		tickUntilApplied(t, cl, "n2", pos.LSN)
		return cl
	}

	t.Run("AnyFollower reproduces", func(t *testing.T) {
		observer := setup(t).NewSession(AnyFollower{})
		pass, sv1 := sessionGet(t, observer, passKey)
		elements, sv2 := sessionGet(t, observer, elementsKey)
		assert.Equal(t, []NodeID{"n2", "n3"}, []NodeID{sv1.Node, sv2.Node})
		assert.NotEmpty(t, pass, "the effect is missing")
		assert.Empty(t, elements, "the anomaly did not happen: the cause is there")
	})

	t.Run("AnyFollower multi-key read sees a prefix", func(t *testing.T) {
		observer := setup(t).NewSession(AnyFollower{})
		served := map[NodeID]bool{}
		for range 4 {
			recs, sv, err := observer.GetMany(testCtx(t), []string{passKey, elementsKey})
			require.NoError(t, err)
			served[sv.Node] = true
			_, hasPass := recs[passKey]
			_, hasElements := recs[elementsKey]
			assert.False(t, hasPass && !hasElements, "%s showed the pass without the elements at %v", sv.Node, sv.Applied)
		}
		assert.Equal(t, map[NodeID]bool{"n2": true, "n3": true}, served)
	})

	for _, mode := range []ReadRouter{SessionConsistent{}, Leader{}} {
		t.Run(modeName(mode)+" prevents", func(t *testing.T) {
			observer := setup(t).NewSession(mode)
			pass, _ := sessionGet(t, observer, passKey)
			elements, sv := sessionGet(t, observer, elementsKey)
			assert.NotEmpty(t, pass)
			assert.NotEmpty(t, elements, "%s showed the effect, then not its cause", sv.Node)
		})
	}
}

// TestTokenHandover: a ground station writes new elements and passes its
// session token, as text in a header or a JSON body, to a second service.
// A fresh session there reads the old elements from a follower; one that
// adopts the token reads the new ones, from a follower that catches up or
// from the leader.
func TestTokenHandover(t *testing.T) {
	cl := heldBack(t)
	ctx := testCtx(t)
	ground := cl.NewSession(SessionConsistent{})
	pos, err := ground.Put(ctx, elementsKey, []byte("v2"))
	require.NoError(t, err)
	header := ground.Token().String()
	body, err := json.Marshal(struct {
		Token Token `json:"token"`
	}{ground.Token()})
	require.NoError(t, err)
	assert.JSONEq(t, `{"token":"`+pos.String()+`"}`, string(body))

	fresh := cl.NewSession(SessionConsistent{Wait: -1})
	v, sv := sessionGet(t, fresh, elementsKey)
	assert.Equal(t, "v1", v, "without the token, the second service reads %s's old elements", sv.Node)

	fromHeader, err := ParseToken(header)
	require.NoError(t, err)
	service := cl.NewSession(SessionConsistent{Wait: -1})
	require.NoError(t, service.Adopt(fromHeader))
	v, sv = sessionGet(t, service, elementsKey)
	assert.Equal(t, "v2", v)
	assert.Equal(t, NodeID("n1"), sv.Node, "no follower has the write: only the leader may answer")

	var msg struct {
		Token Token `json:"token"`
	}
	require.NoError(t, json.Unmarshal(body, &msg))
	waiting := cl.NewSession(SessionConsistent{Wait: testTimeout})
	require.NoError(t, waiting.Adopt(msg.Token))
	tickUntilApplied(t, cl, "n2", pos.LSN)
	v, sv = sessionGet(t, waiting, elementsKey)
	assert.Equal(t, "v2", v)
	assert.Equal(t, NodeID("n2"), sv.Node, "n2 caught up and may serve")
	assert.Equal(t, ground.Token(), msg.Token)
}

// TestBoundedStalenessEntries: n3 is exactly 5 entries behind and n2 is
// caught up. A bound of 4 never lets n3 serve; a bound of 5 does; with n2
// a write behind as well, a bound of 0 leaves only the leader.
func TestBoundedStalenessEntries(t *testing.T) {
	cl := heldBack(t)
	ctx := testCtx(t)
	var pos Position
	for i := range 5 {
		var err error
		pos, err = cl.AppendSample(ctx, "sat/ISS/altitude_km", time.Unix(int64(i), 0), 418.2)
		require.NoError(t, err)
	}
	tickUntilApplied(t, cl, "n2", pos.LSN)
	lag := lagOf(t, cl)
	require.Equal(t, uint64(5), lag["n3"].LagEntries)
	require.Zero(t, lag["n2"].LagEntries)

	servers := func(mode ReadRouter, reads int) map[NodeID]int {
		s := cl.NewSession(mode)
		got := map[NodeID]int{}
		for range reads {
			_, _, sv, err := s.Latest(ctx, "sat/ISS/altitude_km")
			require.NoError(t, err)
			got[sv.Node]++
			if !sv.Leader {
				assert.LessOrEqual(t, sv.LagEntries, mode.(BoundedStaleness).maxEntries, "served by %s", sv.Node)
			}
		}
		return got
	}
	assert.Equal(t, map[NodeID]int{"n2": 6}, servers(MaxLagEntries(4), 6))
	assert.Equal(t, map[NodeID]int{"n2": 3, "n3": 3}, servers(MaxLagEntries(5), 6))

	_, err := cl.Put(ctx, "k", []byte("n2 stores this but has not applied it"))
	require.NoError(t, err)
	require.Equal(t, uint64(1), lagOf(t, cl)["n2"].LagEntries)
	assert.Equal(t, map[NodeID]int{"n1": 3}, servers(BoundedStaleness{}, 3))
	assert.Equal(t, map[NodeID]int{"n2": 3}, servers(MaxLagEntries(1), 3))
}

// TestBoundedStalenessTime: n3 was cut off before it applied anything;
// its empty state has been stale since the leader wrote the oldest entry
// it lacks, so its LagTime is measured from the epoch's opening entry (not
// from the Unix epoch, TestRegressionReplicasLagOfNothingApplied), which
// is at least n2's, one write behind. An hour's bound takes both (n3
// answering from its empty state, n2 a write behind); a bound of 0 takes
// only caught-up followers, so the leader.
func TestBoundedStalenessTime(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	waitCaughtUp(t, cl, "n3") // it has the epoch's first entry, not yet committed
	require.NoError(t, cl.Net().PauseLink("n1", "n3"))
	pos, err := cl.Put(ctx, elementsKey, []byte("v1"))
	require.NoError(t, err)
	tickUntilApplied(t, cl, "n2", pos.LSN)
	_, err = cl.Put(ctx, elementsKey, []byte("v2"))
	require.NoError(t, err)
	lag := lagOf(t, cl)
	require.Zero(t, lag["n3"].Applied.LSN)
	require.True(t, lag["n3"].CaughtUp, "premise: only its lag could keep n3 from serving")
	require.Equal(t, uint64(1), lag["n2"].LagEntries)
	require.GreaterOrEqual(t, lag["n3"].LagTime, lag["n2"].LagTime, "n3 lacks older entries than n2 does")
	require.Less(t, lag["n3"].LagTime, time.Hour, "n3 lacks entries written moments ago")

	hour := cl.NewSession(MaxLagTime(time.Hour))
	seen := map[NodeID]string{}
	for range 4 {
		v, sv := sessionGet(t, hour, elementsKey)
		seen[sv.Node] = v
		assert.LessOrEqual(t, sv.LagTime, time.Hour)
	}
	assert.Equal(t, map[NodeID]string{"n2": "v1", "n3": ""}, seen, "n2 is a write behind and n3 has applied nothing, both within the bound")
	zero := cl.NewSession(MaxLagTime(0))
	v, sv := sessionGet(t, zero, elementsKey)
	assert.Equal(t, NodeID("n1"), sv.Node)
	assert.Equal(t, "v2", v)
}

// TestBoundedStalenessNeedsLeader: without a running leader, lag cannot
// be measured, so BoundedStaleness refuses while AnyFollower still serves.
func TestBoundedStalenessNeedsLeader(t *testing.T) {
	cl := heldBack(t)
	ctx := testCtx(t)
	require.NoError(t, cl.Crash("n1"))
	_, _, _, err := cl.Get(ctx, elementsKey, Via(MaxLagEntries(1000)))
	require.ErrorIs(t, err, ErrNoReplica)
	assert.Contains(t, err.Error(), "no running leader")
	_, _, sv, err := cl.Get(ctx, elementsKey, Via(AnyFollower{}))
	require.NoError(t, err)
	assert.False(t, sv.Leader)
}

// TestLeaderReadRefusesWhenCutOff: a leader whose sync follower does not
// answer cannot prove it still leads, so a Leader read fails when its
// context ends instead of answering from possibly stale state.
func TestLeaderReadRefusesWhenCutOff(t *testing.T) {
	cl := heldBack(t)
	ctx := testCtx(t)
	require.NoError(t, cl.Net().PauseNode("n2"))
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, sv, err := cl.Get(short, elementsKey)
	require.ErrorIs(t, err, ErrNoReplica)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "could not confirm it still leads")
	assert.Equal(t, Served{}, sv)

	require.NoError(t, cl.Net().ResumeNode("n2"))
	v, _, sv, err := cl.Get(ctx, elementsKey)
	require.NoError(t, err)
	assert.Equal(t, "v1", string(v.Value))
	assert.True(t, sv.Linearizable)
}

// lagOf returns every node's state by ID.
func lagOf(t *testing.T, cl *Cluster) map[NodeID]ReplicaState {
	t.Helper()
	reps, err := cl.Replicas()
	require.NoError(t, err)
	out := map[NodeID]ReplicaState{}
	for _, rs := range reps {
		out[rs.ID] = rs
	}
	return out
}

// modeName names a built-in mode for subtests.
func modeName(r ReadRouter) string {
	switch m := r.(type) {
	case Leader:
		return "Leader"
	case AnyFollower:
		return "AnyFollower"
	case SessionConsistent:
		return "SessionConsistent"
	case BoundedStaleness:
		return m.String()
	}
	return "custom"
}
