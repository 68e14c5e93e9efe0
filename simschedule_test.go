package replstore

import (
	"fmt"
	"strings"

	"pgregory.net/rapid"
)

// A schedule is everything one simulated run does: the swarm parameters
// (cluster shape, commit rule, network fault rates, the network's seed)
// and a sequence of client operations and faults. rapid draws schedules
// and shrinks a failing one; String prints it as a Go literal that a
// regression test can run again with runSimSchedule.

// simParams is one run's swarm: what the cluster is and how hostile the
// network is.
type simParams struct {
	Nodes     int // 3 to 5: n1 leads epoch 1
	Sync      int // sync followers, 1 or 2; the other followers are async
	SyncCount int // n in FIRST n / ANY n
	Quorum    Quorum
	Ack       AckLevel
	SyncLoss  syncLossKind
	// DegradeTicks is DegradeAfter's delay, in ticks (SyncLoss degrade).
	DegradeTicks int
	// AllowDataLoss lets automatic failover promote without a quorum.
	AllowDataLoss bool

	TimeoutTicks, SuspectTicks, FenceTicks int
	MaxBatch, MaxInflight                  int
	// RetainEntries and SnapshotChunk are Config's RetainEntries and
	// SnapshotChunkBytes (0: the defaults): small ones make nodes compact
	// and reseed followers from snapshots sent in many chunks.
	RetainEntries, SnapshotChunk int

	DropPerMille, DupPerMille int   // per message sent
	MinDelay, MaxDelay        int64 // µs of virtual time; jitter reorders
	NetSeed                   uint64

	// ManualFailover: the coordinator promotes only when asked
	// (simFailover; in the liveness phase, an operator asks when no node
	// leads).
	ManualFailover bool
	// TickRates are the clocks' tick periods in per mille of simTick,
	// the nodes' in Nodes order and the coordinator's last; nil: one
	// clock for all (simdraws_test.go).
	TickRates []int
}

// simOpKind is one step of a schedule. The zero kind is the simplest
// (let time pass), so shrinking turns steps into waits.
type simOpKind uint8

const (
	simWait simOpKind = iota
	simPut
	simCAS
	simBurst // several puts in one batch of the leader's inputs
	simRead
	simCrash
	simRestart
	simPause  // a zombie: the node stops taking inputs, its inbox fills
	simResume // the zombie wakes and takes its whole inbox at once
	simPartition
	simHeal
	simFailover
	simSwitchover
	simSetSync        // the leader moves a follower into the sync list or out of it
	simAddFollower    // a client adds a node, new or once removed, as Cluster.AddFollower
	simRemoveFollower // a client removes a follower, as Cluster.RemoveFollower
	// Disk faults (simdisk_test.go): a crash that tears the last write,
	// and a crash that also flips a byte of a synced record.
	simTornCrash
	simCorrupt
	simOpKinds
)

var simOpNames = [...]string{simWait: "simWait", simPut: "simPut", simCAS: "simCAS", simBurst: "simBurst", simRead: "simRead",
	simCrash: "simCrash", simRestart: "simRestart", simPause: "simPause", simResume: "simResume", simPartition: "simPartition",
	simHeal: "simHeal", simFailover: "simFailover", simSwitchover: "simSwitchover", simSetSync: "simSetSync",
	simAddFollower: "simAddFollower", simRemoveFollower: "simRemoveFollower",
	simTornCrash: "simTornCrash", simCorrupt: "simCorrupt"}

func (k simOpKind) String() string {
	if int(k) < len(simOpNames) {
		return simOpNames[k]
	}
	if k >= simOpKinds && k < simAllOpKinds {
		return simExtraOpNames[k-simOpKinds]
	}
	return fmt.Sprintf("simOpKind(%d)", uint8(k))
}

// Read modes of simRead (its Arg).
const (
	readLeader = iota
	readAnyFollower
	readSession
	readBounded
	readModes
)

var readModeNames = [...]string{"Leader", "AnyFollower", "SessionConsistent", "BoundedStaleness"}

// simOp is one step. Which fields matter depends on Kind:
//
//	simPut, simCAS, simBurst  Node picks among the nodes that believe they lead;
//	                       Key, Session; Arg: CAS expectation / burst size
//	simRead                 Arg is the read mode; Node rotates the replica
//	simCrash ... simResume   Node is the node's index
//	simTornCrash, simCorrupt Node as simCrash; Key says where the write
//	                       tears / which synced record is damaged
//	simPartition            Node is a bit mask of one side (bit Nodes is the
//	                       coordinator); everything else is the other side
//	simFailover             Arg 1 allows data loss
//	simSwitchover           Node is the target
//	simSetSync              Node is the follower; Arg 1 makes it sync, 0 async
//	simAddFollower          Node names the ID (n<Node+1>, up to two past Nodes);
//	                       Arg 1: the ID removed last, if any
//	simRemoveFollower       Node is the follower
//
// Wait is how long time runs after the step, in quarter ticks.
type simOp struct {
	Kind    simOpKind
	Node    int
	Key     int
	Session int
	Arg     int
	Wait    int
}

type simSchedule struct {
	P   simParams
	Ops []simOp
}

const (
	simMaxOps = 40
	simKeys   = 3
	// simSessions counts the clients; the last one keeps no session (its
	// token stays zero), like reads and writes outside a Session.
	simSessions = 3
)

// asyncCommit reports whether acknowledged writes may be lost in this run
// by configuration: asynchronous replication, degrading to it, or
// automatic promotion without a quorum. Operator failovers that allow
// loss are accounted for one by one.
func (p simParams) asyncCommit() bool {
	return p.Ack == Local || p.SyncLoss == syncLossDegrade || p.AllowDataLoss
}

// drawSimParams draws a swarm: the cluster's shape and commit rule, its
// timeouts, and the network's fault rates.
func drawSimParams(t *rapid.T) simParams {
	p := simParams{Nodes: rapid.IntRange(3, 5).Draw(t, "nodes")}
	p.Sync = rapid.IntRange(1, 2).Draw(t, "sync")
	p.SyncCount = rapid.IntRange(1, p.Sync).Draw(t, "syncCount")
	p.Quorum = rapid.SampledFrom([]Quorum{First, Any}).Draw(t, "quorum")
	p.Ack = rapid.SampledFrom([]AckLevel{Durable, Received, Applied, Local}).Draw(t, "ack")
	p.SyncLoss = rapid.SampledFrom([]syncLossKind{syncLossBlock, syncLossReplace, syncLossDegrade}).Draw(t, "syncLoss")
	if p.SyncLoss == syncLossDegrade {
		p.DegradeTicks = rapid.IntRange(1, 4).Draw(t, "degradeTicks")
	}
	p.AllowDataLoss = rapid.IntRange(0, 9).Draw(t, "allowDataLoss") == 9
	p.TimeoutTicks = rapid.IntRange(2, 6).Draw(t, "timeoutTicks")
	p.SuspectTicks = rapid.IntRange(3, 8).Draw(t, "suspectTicks")
	p.FenceTicks = rapid.IntRange(2, 5).Draw(t, "fenceTicks")
	p.MaxBatch = rapid.IntRange(1, 8).Draw(t, "maxBatch")
	p.MaxInflight = p.MaxBatch * rapid.IntRange(1, 4).Draw(t, "inflightBatches")
	p.RetainEntries = rapid.SampledFrom([]int{0, 0, 3, 6, 12}).Draw(t, "retainEntries")
	p.SnapshotChunk = rapid.SampledFrom([]int{0, 16, 64, 512}).Draw(t, "snapshotChunk")
	p.DropPerMille = rapid.SampledFrom([]int{0, 0, 10, 50, 150}).Draw(t, "dropPerMille")
	p.DupPerMille = rapid.SampledFrom([]int{0, 0, 20, 100}).Draw(t, "dupPerMille")
	p.MinDelay = int64(rapid.IntRange(1, 20).Draw(t, "minDelay")) * 100
	p.MaxDelay = p.MinDelay + int64(rapid.IntRange(0, 150).Draw(t, "jitter"))*100
	p.NetSeed = rapid.Uint64().Draw(t, "netSeed")
	drawSimDrift(t, &p)
	return p
}

// drawSimSchedule draws a swarm, then which kinds of fault this run uses
// (each on or off, so some runs hammer one kind), then the steps.
func drawSimSchedule(t *rapid.T) simSchedule {
	p := rapid.Custom(drawSimParams).Draw(t, "params")
	kinds := []simOpKind{simWait, simPut, simCAS, simBurst, simRead, simRead}
	kinds = append(kinds, simExtraKinds...)
	// Each fault kind, and each kind that undoes one, is on or off for
	// the whole run: some runs only ever partition and never heal before
	// the liveness phase.
	faults := []simOpKind{simCrash, simRestart, simPause, simResume, simPartition, simHeal, simFailover, simSwitchover, simTornCrash, simCorrupt}
	faults = append(faults, simMemberKinds...)
	faults = append(faults, simExtraFaults...)
	for _, k := range faults {
		if rapid.Bool().Draw(t, "use "+k.String()) {
			kinds = append(kinds, k)
		}
	}
	opGen := rapid.Custom(func(t *rapid.T) simOp {
		op := simOp{Kind: rapid.SampledFrom(kinds).Draw(t, "kind")}
		switch op.Kind {
		case simPut, simCAS, simBurst:
			op.Node = rapid.IntRange(0, 1).Draw(t, "leaderChoice")
			op.Key = rapid.IntRange(0, simKeys-1).Draw(t, "key")
			op.Session = rapid.IntRange(0, simSessions-1).Draw(t, "session")
			op.Arg = rapid.IntRange(0, 3).Draw(t, "arg")
		case simRead:
			op.Node = rapid.IntRange(0, p.Nodes-1).Draw(t, "replica")
			op.Key = rapid.IntRange(0, simKeys-1).Draw(t, "key")
			op.Session = rapid.IntRange(0, simSessions-1).Draw(t, "session")
			op.Arg = rapid.IntRange(0, readModes-1).Draw(t, "mode")
		case simCrash, simRestart, simPause, simResume:
			op.Node = rapid.IntRange(0, p.Nodes-1).Draw(t, "node")
			op.Arg = rapid.IntRange(0, 1).Draw(t, "leader")
		case simTornCrash, simCorrupt:
			op.Node = rapid.IntRange(0, p.Nodes-1).Draw(t, "node")
			op.Arg = rapid.IntRange(0, 1).Draw(t, "leader")
			op.Key = rapid.IntRange(0, 63).Draw(t, "where")
		case simSwitchover:
			op.Node = rapid.IntRange(0, p.Nodes-1).Draw(t, "node")
		case simSetSync, simAddFollower, simRemoveFollower:
			op = drawSimMemberOp(t, p, op)
		case simPartition:
			op.Arg = rapid.IntRange(0, 2).Draw(t, "how")
			if op.Arg == 0 {
				op.Node = rapid.IntRange(1, 1<<(p.Nodes+1)-2).Draw(t, "side")
			}
		case simFailover:
			op.Arg = rapid.IntRange(0, 3).Draw(t, "allowLoss") / 3
		default:
			drawSimExtraOp(t, p, &op)
		}
		op.Wait = rapid.IntRange(0, 8).Draw(t, "wait")
		return op
	})
	// rapid's slices are mostly short; draw the length explicitly so that
	// runs have tens of steps (shrinking still shortens them).
	n := rapid.IntRange(1, simMaxOps).Draw(t, "steps")
	ops := rapid.SliceOfN(opGen, n, n).Draw(t, "ops")
	return simSchedule{P: p, Ops: ops}
}

var simScheduleGen = rapid.Custom(drawSimSchedule)

// String prints the schedule as a Go literal for a regression test.
func (s simSchedule) String() string {
	var b strings.Builder
	p := s.P
	fmt.Fprintf(&b, "simSchedule{P: simParams{Nodes: %d, Sync: %d, SyncCount: %d, Quorum: %s, Ack: %s, SyncLoss: %s, DegradeTicks: %d, AllowDataLoss: %t,\n",
		p.Nodes, p.Sync, p.SyncCount, quorumName(p.Quorum), p.Ack, syncLossName(p.SyncLoss), p.DegradeTicks, p.AllowDataLoss)
	fmt.Fprintf(&b, "\tTimeoutTicks: %d, SuspectTicks: %d, FenceTicks: %d, MaxBatch: %d, MaxInflight: %d, RetainEntries: %d, SnapshotChunk: %d,\n",
		p.TimeoutTicks, p.SuspectTicks, p.FenceTicks, p.MaxBatch, p.MaxInflight, p.RetainEntries, p.SnapshotChunk)
	fmt.Fprintf(&b, "\tDropPerMille: %d, DupPerMille: %d, MinDelay: %d, MaxDelay: %d, NetSeed: %d,\n",
		p.DropPerMille, p.DupPerMille, p.MinDelay, p.MaxDelay, p.NetSeed)
	b.WriteString(simParamsExtraString(p))
	b.WriteString("\tOps: []simOp{\n")
	for _, op := range s.Ops {
		fmt.Fprintf(&b, "\t\t{Kind: %s, Node: %d, Key: %d, Session: %d, Arg: %d, Wait: %d},\n",
			op.Kind, op.Node, op.Key, op.Session, op.Arg, op.Wait)
	}
	b.WriteString("\t}}")
	return b.String()
}

func quorumName(q Quorum) string {
	if q == Any {
		return "Any"
	}
	return "First"
}

func syncLossName(k syncLossKind) string {
	switch k {
	case syncLossReplace:
		return "syncLossReplace"
	case syncLossDegrade:
		return "syncLossDegrade"
	}
	return "syncLossBlock"
}
