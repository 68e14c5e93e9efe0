package replstore

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linSeed replays a fault-driven read test: its fault schedule and its
// clients' choices of operations come from this seed.
var linSeed = flag.Uint64("reads.seed", 0, "seed for the fault-driven read tests, TestLinearizableLeaderReads and TestSessionGuaranteesUnderFaults (0: a new one each run)")

// kvInput is one operation on one key of the model.
type kvInput struct {
	op      string // "get", "put" or "cas"
	key     string
	value   string // put, cas
	version LSN    // cas: the version it expects
}

// kvOutput is what the cluster answered.
type kvOutput struct {
	found   bool   // get
	value   string // get
	version LSN    // get: the record's version; put, cas: the write's LSN
	ok      bool   // cas: swapped (false: ErrVersionMismatch)
}

// kvState is one key's register: value and version (the LSN that wrote
// it); the zero state is "absent".
type kvState struct {
	found   bool
	value   string
	version LSN
}

// kvModel is a register per key with put, get and compare-and-swap on
// version, partitioned by key. The cluster assigns versions (LSNs), so
// the model takes each write's version from its output and checks every
// read and every CAS result against it.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return kvState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(kvState), input.(kvInput), output.(kvOutput)
		switch in.op {
		case "get":
			return out == kvOutput{found: st.found, value: st.value, version: st.version}, st
		case "put":
			return true, kvState{found: true, value: in.value, version: out.version}
		default:
			matches := st.found && in.version != 0 && st.version == in.version || !st.found && in.version == 0
			if out.ok != matches {
				return false, st
			}
			if !matches {
				return true, st
			}
			return true, kvState{found: true, value: in.value, version: out.version}
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		switch in.op {
		case "get":
			if !out.found {
				return fmt.Sprintf("get(%s) -> absent", in.key)
			}
			return fmt.Sprintf("get(%s) -> %s@%d", in.key, out.value, out.version)
		case "put":
			return fmt.Sprintf("put(%s, %s) @%d", in.key, in.value, out.version)
		}
		return fmt.Sprintf("cas(%s, %d, %s) -> %v @%d", in.key, in.version, in.value, out.ok, out.version)
	},
	DescribeState: func(state any) string {
		st := state.(kvState)
		if !st.found {
			return "absent"
		}
		return fmt.Sprintf("%s@%d", st.value, st.version)
	},
}

// history records operations with their call and return times.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *history) add(client int, in kvInput, call int64, out kvOutput) {
	ret := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// kvClient runs operations against the cluster and records them.
type kvClient struct {
	id   int
	cl   *Cluster
	h    *history
	read ReadRouter
}

func (c *kvClient) get(ctx context.Context, key string) (kvOutput, error) {
	call := c.h.now()
	rec, found, _, err := c.cl.Get(ctx, key, Via(c.read))
	if err != nil {
		return kvOutput{}, err
	}
	out := kvOutput{found: found, value: string(rec.Value), version: rec.Pos.LSN}
	c.h.add(c.id, kvInput{op: "get", key: key}, call, out)
	return out, nil
}

func (c *kvClient) put(ctx context.Context, key, value string) error {
	call := c.h.now()
	pos, err := c.cl.Put(ctx, key, []byte(value))
	if err != nil {
		return err
	}
	c.h.add(c.id, kvInput{op: "put", key: key, value: value}, call, kvOutput{version: pos.LSN})
	return nil
}

func (c *kvClient) cas(ctx context.Context, key string, version LSN, value string) error {
	call := c.h.now()
	pos, err := c.cl.CompareAndSwap(ctx, key, version, []byte(value))
	if err != nil && !errors.Is(err, ErrVersionMismatch) {
		return err
	}
	c.h.add(c.id, kvInput{op: "cas", key: key, value: value, version: version}, call, kvOutput{ok: err == nil, version: pos.LSN})
	return nil
}

// checkLinearizable runs porcupine over the history. If it is not
// linearizable, it writes porcupine's HTML visualisation to a file and
// returns the file's path.
func checkLinearizable(t *testing.T, h *history, dir string) (porcupine.CheckResult, string) {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(kvModel, h.ops, time.Minute)
	if res == porcupine.Ok {
		return res, ""
	}
	f, err := os.CreateTemp(dir, "replstore-linearizability-*.html")
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, porcupine.Visualize(kvModel, info, f))
	return res, f.Name()
}

// TestLinearizableLeaderReads: concurrent clients Put, Get (Leader mode)
// and CompareAndSwap on two keys while a seeded fault schedule pauses,
// resumes and drops links and nodes, and ticks the clock; porcupine
// checks the history. Replay a failure with the seed it prints.
func TestLinearizableLeaderReads(t *testing.T) {
	seed := *linSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	cl, _ := newTestCluster(t, func(c *Config) {
		c.SyncFollowers, c.AsyncFollowers = []NodeID{"n2", "n3"}, []NodeID{"n4"}
		c.Quorum = Any
	})
	ctx := testCtx(t)
	h := newHistory()
	keys := []string{"cabin/C14", "cabin/C15"}
	const clients, opsEach = 4, 100
	// Each client draws its operations from its own seeded source.
	plans := make([]*rand.Rand, clients)
	for i := range plans {
		plans[i] = rand.New(rand.NewPCG(seed, uint64(i+1)))
	}
	steps := &stepSignal{next: make(chan struct{})}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &kvClient{id: i, cl: cl, h: h, read: Leader{}}
			if err := runClient(ctx, c, plans[i], keys, opsEach, steps); err != nil {
				t.Errorf("client %d: %v", i, err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	schedule := driveFaults(ctx, t, cl, rng, done, steps)
	cl.Net().Heal()

	res, path := checkLinearizable(t, h, "")
	if res != porcupine.Ok {
		t.Fatalf("Leader reads: history of %d operations is %s (checker result).\nvisualisation: %s\nfault schedule (last 40 of %d steps): %s\nreplay: go test -race -run 'TestLinearizableLeaderReads$' -count=1 . -args -reads.seed=%d",
			len(h.ops), res, path, len(schedule), strings.Join(schedule[max(0, len(schedule)-40):], ", "), seed)
	}
	t.Logf("seed %d: %d operations linearizable under %d fault steps", seed, len(h.ops), len(schedule))
}

// stepSignal lets clients wait for the fault driver's next step, so that
// consecutive operations meet different faults.
type stepSignal struct {
	mu   sync.Mutex
	next chan struct{} // closed at the end of the current step
}

// wait returns the channel closed at the end of the current step.
func (s *stepSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// stepped ends a step.
func (s *stepSignal) stepped() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.next)
	s.next = make(chan struct{})
}

// runClient performs n operations: a third each of Leader reads, puts and
// compare-and-swaps, the CAS usually on the version the client last saw.
// Before each operation it waits for the fault driver's next step.
func runClient(ctx context.Context, c *kvClient, rng *rand.Rand, keys []string, n int, steps *stepSignal) error {
	seen := map[string]LSN{}
	for j := range n {
		select {
		case <-steps.wait():
		case <-ctx.Done():
			return ctx.Err()
		}
		key := keys[rng.IntN(len(keys))]
		value := fmt.Sprintf("c%d.%d", c.id, j)
		var err error
		switch rng.IntN(3) {
		case 0:
			var out kvOutput
			if out, err = c.get(ctx, key); err == nil {
				seen[key] = out.version
			}
		case 1:
			err = c.put(ctx, key, value)
		default:
			version := seen[key]
			if rng.IntN(4) == 0 {
				version = LSN(rng.IntN(3)) // often stale or "absent"
			}
			err = c.cas(ctx, key, version, value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// driveFaults applies seeded faults, one per step, each followed by a
// tick or three, until done is closed; it returns the schedule.
func driveFaults(ctx context.Context, t *testing.T, cl *Cluster, rng *rand.Rand, done <-chan struct{}, steps *stepSignal) []string {
	net := cl.Net()
	links := [][2]NodeID{{"n1", "n2"}, {"n2", "n1"}, {"n1", "n3"}, {"n3", "n1"}, {"n1", "n4"}}
	nodes := []NodeID{"n2", "n3", "n4"}
	var schedule []string
	for {
		select {
		case <-done:
			return schedule
		default:
		}
		var step string
		switch l, id := links[rng.IntN(len(links))], nodes[rng.IntN(len(nodes))]; rng.IntN(8) {
		case 0:
			assert.NoError(t, net.PauseLink(l[0], l[1]))
			step = fmt.Sprintf("pause %s->%s", l[0], l[1])
		case 1, 2:
			assert.NoError(t, net.ResumeLink(l[0], l[1]))
			step = fmt.Sprintf("resume %s->%s", l[0], l[1])
		case 3:
			assert.NoError(t, net.PauseNode(id))
			step = "pause " + string(id)
		case 4, 5:
			assert.NoError(t, net.ResumeNode(id))
			step = "resume " + string(id)
		case 6:
			k := 1 + rng.IntN(3)
			assert.NoError(t, net.DropNext(l[0], l[1], k))
			step = fmt.Sprintf("drop %d %s->%s", k, l[0], l[1])
		default:
			net.Heal()
			step = "heal"
		}
		for range 1 + rng.IntN(3) {
			if err := cl.Tick(ctx); err != nil {
				t.Errorf("tick: %v", err)
				return schedule
			}
		}
		schedule = append(schedule, step)
		steps.stepped()
	}
}

// TestLinearizabilityCheckerCatchesStaleReads: the same checker over an
// AnyFollower read must fail, so we know it can. A follower is cut off, a
// write is acknowledged, then a read served by a follower returns the
// value before it. The same history with a Leader read passes.
func TestLinearizabilityCheckerCatchesStaleReads(t *testing.T) {
	for _, tc := range []struct {
		read ReadRouter
		want porcupine.CheckResult
	}{
		{AnyFollower{}, porcupine.Illegal},
		{Leader{}, porcupine.Ok},
	} {
		t.Run(modeName(tc.read), func(t *testing.T) {
			cl, _ := newTestCluster(t, nil)
			ctx := testCtx(t)
			h := newHistory()
			c := &kvClient{id: 0, cl: cl, h: h, read: tc.read}
			require.NoError(t, c.put(ctx, elementsKey, "v1"))
			ticks(t, cl, 1)
			for _, id := range []NodeID{"n2", "n3"} {
				require.NoError(t, cl.WaitApplied(ctx, id, 2))
			}
			require.NoError(t, cl.Net().PauseLink("n1", "n3"))
			require.NoError(t, c.put(ctx, elementsKey, "v2")) // n2 stores it, applies it at the next heartbeat
			// A session-less AnyFollower read picks a follower at random;
			// both are behind, so the read is stale either way.
			out, err := c.get(ctx, elementsKey)
			require.NoError(t, err)
			if tc.want == porcupine.Illegal {
				require.Equal(t, "v1", out.value, "premise: the follower read is stale")
			}
			res, path := checkLinearizable(t, h, t.TempDir())
			assert.Equal(t, tc.want, res, "checker result for %s reads; visualisation: %s", modeName(tc.read), path)
			if res == porcupine.Illegal {
				html, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.Contains(t, string(html), "get("+elementsKey+")", "the visualisation does not show the history")
			}
		})
	}
}
