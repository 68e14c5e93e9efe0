package replstore

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// coreNet runs cores in one goroutine: a deterministic little driver for
// protocol tests. Messages wait in a queue until deliver is called; drop
// decides which of them vanish.
type coreNet struct {
	t     testing.TB
	cores map[NodeID]*core
	drvs  map[NodeID]*driver
	// events are every node's events, as the driver reported them.
	events map[NodeID][]Event
	queue  []Message
	drop   func(Message) bool
	now    int64
}

func newCoreNet(t testing.TB, cfg Config, leaderLog LogStore) *coreNet {
	cfg = cfg.withDefaults()
	require.NoError(t, cfg.Validate())
	cc := newCoreConfig(cfg)
	cc.coordinated = false
	n := &coreNet{t: t, cores: map[NodeID]*core{}, drvs: map[NodeID]*driver{}, events: map[NodeID][]Event{}}
	ids := append(append([]NodeID{cfg.Leader}, cfg.SyncFollowers...), cfg.AsyncFollowers...)
	for _, id := range ids {
		log := LogStore(NewMemLog())
		if id == cfg.Leader && leaderLog != nil {
			log = leaderLog
		}
		d, err := newDriver(id, cc, log, NewStore(), NewMemHardState(), coreNetHost{n, id})
		require.NoError(t, err)
		n.cores[id], n.drvs[id] = d.c, d
	}
	return n
}

// coreNetHost is coreNet's side of the driver contract: messages go to
// the queue, events to the net's record; results are dropped.
type coreNetHost struct {
	n  *coreNet
	id NodeID
}

func (h coreNetHost) send(msgs []Message) { h.n.queue = append(h.n.queue, msgs...) }
func (h coreNetHost) report(e Event) {
	if h.n.events != nil {
		h.n.events[h.id] = append(h.n.events[h.id], e)
	}
}
func (coreNetHost) startSnapshot(*snapshotJob) {
	panic("core tests snapshot inline (asyncSnapshots is off)")
}
func (h coreNetHost) answer() {}
func (coreNetHost) startFlush(flushJob) {
	panic("core tests sync inline (asyncFlush is off)")
}

// collect ends every core's batch with the driver and checks invariants.
func (n *coreNet) collect() {
	for _, id := range n.ids() {
		c := n.cores[id]
		n.drvs[id].advance()
		c.errs = c.errs[:0]
		c.readsReady = c.readsReady[:0]
		require.NoError(n.t, c.fatal)
		require.NoError(n.t, c.checkInvariants())
	}
}

func (n *coreNet) ids() []NodeID {
	ids := make([]NodeID, 0, len(n.cores))
	for id := range n.cores {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// stabilize delivers messages until none are left (bounded).
func (n *coreNet) stabilize() {
	n.collect()
	for i := 0; len(n.queue) > 0; i++ {
		require.Less(n.t, i, 100000, "messages never stop flowing")
		m := n.queue[0]
		n.queue = n.queue[1:]
		n.now++
		if n.drop != nil && n.drop(m) || n.cores[m.To] == nil {
			continue // dropped, or for the coordinator, which is not here
		}
		n.cores[m.To].step(m, n.now)
		n.collect()
	}
}

func (n *coreNet) tick() {
	n.now++
	for _, id := range n.ids() {
		n.cores[id].onTick(n.now)
	}
	n.collect()
}

func topoOf(cfg Config) Topology {
	return Topology{Leader: cfg.Leader, Sync: cfg.SyncFollowers, Async: cfg.AsyncFollowers}
}

func logOf(t testing.TB, l LogStore) []Position {
	var out []Position
	for lsn := l.First(); lsn <= l.Last().LSN; {
		ents, err := l.Entries(lsn, l.Last().LSN)
		require.NoError(t, err)
		for _, e := range ents {
			out = append(out, e.Pos)
		}
		lsn += LSN(len(ents))
	}
	return out
}

// TestMismatchRepair gives a follower a divergent tail (entries of an old
// epoch that the new leader never had): the leader backs up to the last
// shared position, the follower truncates the conflict, and both logs end
// identical.
func TestMismatchRepair(t *testing.T) {
	cfg := Config{Leader: "a", SyncFollowers: []NodeID{"b"}}
	// The leader's log: epoch 1 for LSN 1..3, then epoch 3 (it leads).
	ll := NewMemLog()
	for lsn := LSN(1); lsn <= 3; lsn++ {
		require.NoError(t, ll.Append([]Entry{{Pos: Position{1, lsn}}}))
	}
	n := newCoreNet(t, cfg, ll)
	// The follower shares LSN 1..3 but then holds a tail from epoch 2
	// that no one acknowledged: LSN 4..9.
	fl := n.cores["b"].log
	for lsn := LSN(1); lsn <= 3; lsn++ {
		require.NoError(t, fl.Append([]Entry{{Pos: Position{1, lsn}}}))
	}
	for lsn := LSN(4); lsn <= 9; lsn++ {
		require.NoError(t, fl.Append([]Entry{{Pos: Position{2, lsn}, Data: AppendPut(nil, "stale", []byte("x"))}}))
	}
	n.cores["b"].last = fl.Last()
	n.cores["b"].hard.epoch, n.cores["b"].epoch = 2, 2

	leader := n.cores["a"]
	leader.becomeLeader(3, 0, topoOf(cfg))
	for i := 0; i < 5; i++ {
		leader.propose(AppendPut(nil, fmt.Sprint("k", i), []byte("v")))
	}
	n.stabilize()

	require.Equal(t, logOf(t, leader.log), logOf(t, fl), "logs differ after repair")
	require.Equal(t, Position{3, 9}, fl.Last())
	var rolled []Entry
	for _, e := range n.events["b"] {
		if e.Kind == EventRolledBack {
			rolled = append(rolled, e.Entries...)
		}
	}
	require.Len(t, rolled, 6, "the follower did not report the rolled-back entries")
	for i, e := range rolled {
		require.Equal(t, Position{2, LSN(4 + i)}, e.Pos)
	}
	require.Equal(t, LSN(9), leader.commit)
	_, stale := n.cores["b"].sm.(*Store).Get("stale")
	require.False(t, stale, "a rolled-back entry was applied")
}

// TestLostAppendIsResent drops one pipelined append: the next one is
// rejected, the leader backs up and resends, nothing is lost.
func TestLostAppendIsResent(t *testing.T) {
	cfg := Config{Leader: "a", SyncFollowers: []NodeID{"b"}, MaxBatch: 2, MaxInflight: 8}
	n := newCoreNet(t, cfg, nil)
	leader := n.cores["a"]
	leader.becomeLeader(1, 0, topoOf(cfg))
	n.stabilize()
	dropped := 0
	n.drop = func(m Message) bool {
		if m.Kind == MsgAppend && len(m.Entries) > 0 && dropped == 0 {
			dropped++
			return true
		}
		return false
	}
	for i := 0; i < 10; i++ {
		leader.propose(AppendPut(nil, fmt.Sprint("k", i), []byte("v")))
	}
	n.stabilize()
	require.Equal(t, 1, dropped)
	// The last pipelined message may have been the dropped one: a
	// heartbeat finds the gap.
	n.tick()
	n.stabilize()
	require.Equal(t, logOf(t, leader.log), logOf(t, n.cores["b"].log))
	require.Equal(t, leader.last.LSN, leader.commit)
}

// TestStaleEpochIsFenced: a follower that has seen epoch 2 refuses an
// append from epoch 1, and the old leader steps down on the answer.
func TestStaleEpochIsFenced(t *testing.T) {
	n := newCoreNet(t, Config{Leader: "a", SyncFollowers: []NodeID{"b"}}, nil)
	old := n.cores["a"]
	old.becomeLeader(1, 0, Topology{Leader: "a", Sync: []NodeID{"b"}})
	n.cores["b"].epoch, n.cores["b"].hard.epoch = 2, 2
	pos := old.propose(AppendPut(nil, "k", []byte("v")))
	n.stabilize()
	require.Equal(t, roleFollower, old.role, "the deposed leader still leads")
	require.Equal(t, Epoch(2), old.epoch)
	require.Less(t, old.commit, pos.LSN, "a deposed leader committed a write")
	require.Equal(t, LSN(0), n.cores["b"].last.LSN, "the follower stored an entry from an older epoch")
}

// TestCommitRuleMatchesReference drives a leader core with random
// acknowledgements from its followers and checks after every step that
// the commit LSN is what a naive reading of the rule gives: the largest L
// that SyncCount members of the sync set hold at the ack level (under
// FIRST, of the highest-priority live members), never going backwards.
func TestCommitRuleMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nSync := rapid.IntRange(1, 4).Draw(t, "syncFollowers")
		cfg := Config{Leader: "L", MaxBatch: 8, MaxInflight: 64, FollowerTimeoutTicks: 3,
			SyncCount: rapid.IntRange(1, nSync).Draw(t, "n"),
			Quorum:    rapid.SampledFrom([]Quorum{First, Any}).Draw(t, "quorum"),
			AckLevel:  rapid.SampledFrom([]AckLevel{Local, Received, Durable, Applied}).Draw(t, "level")}
		for i := 0; i < nSync; i++ {
			cfg.SyncFollowers = append(cfg.SyncFollowers, NodeID(fmt.Sprint("s", i)))
		}
		cfg.AsyncFollowers = []NodeID{"a0"}
		cfg = cfg.withDefaults()
		cc := newCoreConfig(cfg)
		cc.coordinated = false
		d, err := newDriver("L", cc, NewMemLog(), NewStore(), NewMemHardState(), coreNetHost{&coreNet{}, "L"})
		if err != nil {
			t.Fatal(err)
		}
		c := d.c
		c.becomeLeader(1, 0, topoOf(cfg))
		d.advance()
		type ack struct{ recv, dur, app LSN }
		acks := map[NodeID]*ack{}
		heard := map[NodeID]uint64{}
		all := append(slices.Clone(cfg.SyncFollowers), "a0")
		for _, id := range all {
			acks[id] = &ack{}
		}
		prevCommit := c.commit
		for step := 0; step < 80; step++ {
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0:
				for k := rapid.IntRange(1, 5).Draw(t, "proposals"); k > 0; k-- {
					c.propose(AppendPut(nil, "k", []byte("v")))
				}
				d.advance()
			case 1:
				c.onTick(int64(step))
				d.advance()
			default:
				id := rapid.SampledFrom(all).Draw(t, "from")
				a := acks[id]
				a.recv = LSN(rapid.Uint64Range(uint64(a.recv), uint64(c.last.LSN)).Draw(t, "received"))
				a.dur = LSN(rapid.Uint64Range(uint64(a.dur), uint64(a.recv)).Draw(t, "durable"))
				a.app = LSN(rapid.Uint64Range(uint64(a.app), uint64(min(a.dur, c.safe))).Draw(t, "applied"))
				heard[id] = c.tick
				// A follower echoes the tracking version the leader's
				// appends carry (Message.MemberVersion).
				c.step(Message{Kind: MsgAppendResp, From: id, To: "L", Epoch: 1, Received: a.recv, Durable: a.dur, Applied: a.app,
					MemberVersion: c.progressOf(id).memberVersion}, int64(step))
				d.advance()
			}
			c.msgs = c.msgs[:0]
			if err := c.checkInvariants(); err != nil {
				t.Fatal(err)
			}
			// The reference: pick the sync set by hand.
			var members []NodeID
			if cfg.Quorum == Any {
				members = cfg.SyncFollowers
			} else {
				var dead []NodeID
				for _, id := range cfg.SyncFollowers {
					if c.tick-heard[id] <= uint64(cfg.FollowerTimeoutTicks) {
						members = append(members, id)
					} else {
						dead = append(dead, id)
					}
				}
				members = append(members, dead...)[:cfg.SyncCount]
			}
			want := c.last.LSN
			if cfg.AckLevel != Local {
				want = 0
				for l := c.last.LSN; l > 0; l-- {
					have := 0
					for _, id := range members {
						a := acks[id]
						v := map[AckLevel]LSN{Received: a.recv, Durable: a.dur, Applied: a.app}[cfg.AckLevel]
						if v >= l {
							have++
						}
					}
					if have >= cfg.SyncCount {
						want = l
						break
					}
				}
			}
			want = max(want, prevCommit)
			if c.commit != want {
				t.Fatalf("commit %d, reference %d (members %v, acks %v)", c.commit, want, members, fmtAcks(acks))
			}
			prevCommit = c.commit
		}
	})
}

func fmtAcks[T any](m map[NodeID]*T) string {
	s := ""
	for _, id := range slices.Sorted(func(yield func(NodeID) bool) {
		for id := range m {
			if !yield(id) {
				return
			}
		}
	}) {
		s += fmt.Sprintf("%s:%+v ", id, *m[id])
	}
	return s
}
