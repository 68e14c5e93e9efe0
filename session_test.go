package replstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestParseToken(t *testing.T) {
	good := []struct {
		in   string
		want Token
	}{
		{"0:0", Token{}},
		{"1:2", Token{Epoch: 1, LSN: 2}},
		{"3:1042", Token{Epoch: 3, LSN: 1042}},
		{"007:42", Token{Epoch: 7, LSN: 42}},
		{"18446744073709551615:18446744073709551615", Token{Epoch: 1<<64 - 1, LSN: 1<<64 - 1}},
	}
	for _, tc := range good {
		got, err := ParseToken(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	bad := []struct{ in, why string }{
		{"", "empty"},
		{"3", "no colon"},
		{"3:", "LSN: missing"},
		{":3", "epoch: missing"},
		{"3:1042:7", "not a decimal number"},
		{"-3:1042", "not a decimal number"},
		{"+3:1042", "not a decimal number"},
		{" 3:1042", "not a decimal number"},
		{"3:1042\n", "not a decimal number"},
		{"3:1_042", "not a decimal number"},
		{"0x3:1042", "not a decimal number"},
		{"3:18446744073709551616", "out of range"},
		{"0:5", "both an epoch and an LSN"},
		{"5:0", "both an epoch and an LSN"},
		{strings.Repeat("9", 100) + ":1", "at most 41"},
		{"épоch:1", "not a decimal number"},
	}
	for _, tc := range bad {
		_, err := ParseToken(tc.in)
		require.ErrorIs(t, err, ErrBadToken, "%q", tc.in)
		assert.Contains(t, err.Error(), tc.why, "%q", tc.in)
		assert.True(t, strings.HasPrefix(err.Error(), "replstore: bad token "), err.Error())
		assert.Less(t, len(err.Error()), 200, "the error echoes too much input")
	}
}

// TestTokenText: the text form round-trips through String, MarshalText,
// AppendText and JSON, and a bad token in JSON is a clear error that
// leaves the old value.
func TestTokenText(t *testing.T) {
	tok := Token{Epoch: 3, LSN: 1042}
	assert.Equal(t, "3:1042", tok.String())
	assert.Equal(t, Position(tok).String(), tok.String(), "a token prints as its Position")
	text, err := tok.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "3:1042", string(text))
	appended, err := tok.AppendText([]byte("X-Replstore-Token: "))
	require.NoError(t, err)
	assert.Equal(t, "X-Replstore-Token: 3:1042", string(appended))

	type msg struct {
		Token Token `json:"token"`
	}
	b, err := json.Marshal(msg{tok})
	require.NoError(t, err)
	assert.Equal(t, `{"token":"3:1042"}`, string(b))
	var m msg
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, tok, m.Token)
	err = json.Unmarshal([]byte(`{"token":"3-1042"}`), &m)
	require.ErrorIs(t, err, ErrBadToken)
	assert.Equal(t, tok, m.Token, "a failed unmarshal changed the token")
}

// TestTokenMerge: merging is the least upper bound of the order in which
// replicas satisfy tokens: a view satisfies the merge exactly when it
// satisfies both, and the merge is commutative, associative, idempotent.
func TestTokenMerge(t *testing.T) {
	genTok := rapid.Custom(func(t *rapid.T) Token {
		return Token{Epoch: Epoch(rapid.Uint64Range(0, 4).Draw(t, "epoch")), LSN: LSN(rapid.Uint64Range(0, 8).Draw(t, "lsn"))}
	})
	rapid.Check(t, func(rt *rapid.T) {
		a, b, c := genTok.Draw(rt, "a"), genTok.Draw(rt, "b"), genTok.Draw(rt, "c")
		view := Position(genTok.Draw(rt, "view"))
		if a.Merge(b) != b.Merge(a) || a.Merge(b).Merge(c) != a.Merge(b.Merge(c)) || a.Merge(a) != a {
			rt.Fatalf("merge is not a join: %v %v %v", a, b, c)
		}
		if got, want := a.Merge(b).SatisfiedBy(view), a.SatisfiedBy(view) && b.SatisfiedBy(view); got != want {
			rt.Fatalf("view %v satisfies %v∨%v=%v: %v, both: %v", view, a, b, a.Merge(b), got, want)
		}
		if !(Token{}).SatisfiedBy(view) {
			rt.Fatalf("the zero token asks for something")
		}
	})
	// Within one history the merge is simply the later position.
	assert.Equal(t, Token{Epoch: 2, LSN: 90}, Token{Epoch: 1, LSN: 40}.Merge(Token{Epoch: 2, LSN: 90}))
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"0:0", "3:1042", "", ":", "1:2:3", "-1:2", "99999999999999999999:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "replstore: bad token") {
				t.Fatalf("error %q", err)
			}
			return
		}
		again, err := ParseToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("%q parsed as %v, which reparses as %v, %v", s, tok, again, err)
		}
	})
}

// TestSessionToken: a session's token is the max of what it wrote and
// read. A read from a stale follower does not lower it; a failed CAS
// counts (it committed); an unacknowledged write does not.
func TestSessionToken(t *testing.T) {
	cl, _ := newTestCluster(t, nil)
	ctx := testCtx(t)
	s := cl.NewSession(AnyFollower{})
	assert.True(t, s.Token().IsZero())
	assert.Equal(t, AnyFollower{}, s.Mode())
	assert.Equal(t, SessionConsistent{}, cl.NewSession(nil).Mode(), "the default session mode")

	pos, err := s.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	assert.Equal(t, Token(pos), s.Token())
	_, _, sv, err := s.Get(ctx, "k") // n2 has not applied it yet
	require.NoError(t, err)
	assert.Less(t, sv.Applied.LSN, pos.LSN)
	assert.Equal(t, Token(pos), s.Token(), "a stale read lowered the token")

	other, err := cl.Put(ctx, "k", []byte("by someone else"))
	require.NoError(t, err)
	_, _, sv, err = s.Get(ctx, "k", Via(Leader{}))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, sv.Applied.LSN, other.LSN)
	assert.Equal(t, Token(sv.Applied), s.Token(), "a read did not raise the token")

	mismatch, err := s.CompareAndSwap(ctx, "k", 1, []byte("x"))
	require.ErrorIs(t, err, ErrVersionMismatch)
	assert.Equal(t, Token(mismatch), s.Token())

	for name, write := range map[string]func() (Position, error){
		"delete": func() (Position, error) { return s.Delete(ctx, "k") },
		"sample": func() (Position, error) { return s.AppendSample(ctx, "series", time.Unix(1, 0), 1) },
		"raw":    func() (Position, error) { return s.Write(ctx, AppendPut(nil, "raw", []byte("v"))) },
	} {
		p, err := write()
		require.NoError(t, err, name)
		assert.Equal(t, Token(p), s.Token(), name)
	}

	before := s.Token()
	require.NoError(t, cl.Net().PauseNode("n2")) // the sync follower: nothing commits
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		_ = cl.waitUntil(ctx, "n1", func(c *core) bool { return c.last.LSN > before.LSN })
	}()
	_, err = s.Put(wctx, "k", []byte("never acknowledged"))
	require.ErrorIs(t, err, ErrNotAcknowledged)
	assert.Equal(t, before, s.Token(), "an unacknowledged write entered the token")
	require.NoError(t, cl.Net().ResumeNode("n2"))

	require.NoError(t, s.Adopt(Token{Epoch: 1, LSN: 2}))
	assert.Equal(t, before, s.Token(), "adopting an older token lowered the session's")
}

// TestSessionConcurrentUse: goroutines sharing a session write and read;
// the token ends at least at every acknowledged write, and with
// SessionConsistent each goroutine's reads never go back in time and see
// its own writes.
func TestSessionConcurrentUse(t *testing.T) {
	cl, _ := newTestCluster(t, func(c *Config) { c.ManualTicks = false })
	ctx := testCtx(t)
	s := cl.NewSession(SessionConsistent{})
	const workers, each = 4, 30
	var wg sync.WaitGroup
	acked := make([][]Position, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint("k", w)
			var last Position
			for i := range each {
				pos, err := s.Put(ctx, key, []byte(fmt.Sprint(i)))
				if !assert.NoError(t, err) {
					return
				}
				acked[w] = append(acked[w], pos)
				rec, ok, sv, err := s.Get(ctx, key)
				if !assert.NoError(t, err) {
					return
				}
				assert.True(t, ok)
				assert.Equal(t, fmt.Sprint(i), string(rec.Value), "own write missing on %s at %v", sv.Node, sv.Applied)
				assert.False(t, sv.Applied.Less(last), "went back in time")
				last = sv.Applied
			}
		}()
	}
	wg.Wait()
	for _, ps := range acked {
		for _, p := range ps {
			assert.True(t, s.Token().Merge(Token(p)) == s.Token(), "the token %v does not cover acknowledged write %v", s.Token(), p)
		}
	}
}

// TestSessionGuaranteesUnderFaults: clients, each with a SessionConsistent
// session, write their own key and read every key while a seeded fault
// schedule pauses and drops links and nodes. Every read sees the
// session's own last write, no key's version ever goes back, and the
// served position never goes back (invariant 6). Replay with the seed it
// prints.
func TestSessionGuaranteesUnderFaults(t *testing.T) {
	seed := *linSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	cl, _ := newTestCluster(t, func(c *Config) {
		c.SyncFollowers, c.AsyncFollowers = []NodeID{"n2", "n3"}, []NodeID{"n4"}
		c.Quorum = Any
	})
	ctx := testCtx(t)
	const clients, rounds = 4, 40
	keys := make([]string, clients)
	for i := range keys {
		keys[i] = fmt.Sprint("station/", i, "/pass")
	}
	steps := &stepSignal{next: make(chan struct{})}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sessionClient(ctx, cl, keys, i, rounds, steps); err != nil {
				t.Errorf("seed %d: client %d: %v", seed, i, err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	schedule := driveFaults(ctx, t, cl, rand.New(rand.NewPCG(seed, 0)), done, steps)
	cl.Net().Heal()
	if t.Failed() {
		t.Logf("fault schedule (last 40 of %d): %s\nreplay: go test -race -run 'TestSessionGuaranteesUnderFaults$' -count=1 . -args -reads.seed=%d",
			len(schedule), strings.Join(schedule[max(0, len(schedule)-40):], ", "), seed)
	}
}

// sessionClient writes its own key and reads all keys through one
// SessionConsistent session, checking the session guarantees.
func sessionClient(ctx context.Context, cl *Cluster, keys []string, me, rounds int, steps *stepSignal) error {
	s := cl.NewSession(SessionConsistent{})
	seen := map[string]LSN{}
	var last Position
	// check the served position and the versions of keys read (an
	// absent key is at version 0).
	check := func(sv Served, recs map[string]Record, read []string) error {
		if sv.Applied.Less(last) {
			return fmt.Errorf("served %v by %s after %v: went back in time", sv.Applied, sv.Node, last)
		}
		last = sv.Applied
		for _, k := range read {
			v := recs[k].Pos.LSN
			if v < seen[k] {
				return fmt.Errorf("%s at version %d from %s after version %d", k, v, sv.Node, seen[k])
			}
			seen[k] = v
		}
		return nil
	}
	for r := range rounds {
		select {
		case <-steps.wait():
		case <-ctx.Done():
			return ctx.Err()
		}
		value := fmt.Sprint(r)
		pos, err := s.Put(ctx, keys[me], []byte(value))
		if err != nil {
			return err
		}
		rec, _, sv, err := s.Get(ctx, keys[me])
		if err != nil {
			return err
		}
		if string(rec.Value) != value || rec.Pos != pos {
			return fmt.Errorf("read %q at %v from %s (view %v) after writing %q at %v", rec.Value, rec.Pos, sv.Node, sv.Applied, value, pos)
		}
		if err := check(sv, map[string]Record{keys[me]: rec}, keys[me:me+1]); err != nil {
			return err
		}
		recs, sv, err := s.GetMany(ctx, keys)
		if err != nil {
			return err
		}
		if err := check(sv, recs, keys); err != nil {
			return err
		}
	}
	return nil
}
