package replstore

import "math/rand/v2"

// The leader's flush off its turn. The runtime syncs a leader's log on a
// goroutine of its own once the batch's appends have left (driver.go,
// asyncFlush) and hands the completion back through the mailbox; the
// simulation does the same after a drawn delay. The disk holds what the
// flush covers when it completes; the core learns it when it takes the
// completion as an input; a crash before the flush completes loses what
// no flush covered (simLog.crash). Followers sync inline, as the runtime's
// do, in the batches that answer (driver.followerMustSync): a crash loses
// a follower's appends that no answer has claimed yet.

// simFlushJob is a leader's flush on its way back to its node.
type simFlushJob struct {
	f flushJob
	// through is what the disk holds when the flush completes: the log's
	// end when it began, lowered by any truncation or reset since.
	through     LSN
	incarnation int // the node's incarnation that began it
}

// simDisk draws how long each flush takes. Its source is seeded from the
// run's network seed on a stream of its own, so the network's draws (and
// the schedules) are what they were before flushes took time. Each run
// draws its disk's speed first (swarm testing): from a flush as quick as
// the next input to one slower than two ticks.
type simDisk struct {
	rng      *rand.Rand
	min, max int64 // µs per flush
}

var simDiskMaxDelays = []int64{0, 100, 1000, 5000, 25000}

func newSimDisk(p simParams) simDisk {
	rng := rand.New(rand.NewPCG(p.NetSeed, 0xf1a5))
	mx := simDiskMaxDelays[rng.IntN(len(simDiskMaxDelays))]
	return simDisk{rng: rng, min: mx / 10, max: mx}
}

func (d *simDisk) delay() int64 {
	if d.max <= d.min {
		return d.min
	}
	return d.min + d.rng.Int64N(d.max-d.min+1)
}

// startFlush implements nodeHost: the flush completes after a drawn
// delay (deliver hands it to the disk, then to the node).
func (h simHost) startFlush(f flushJob) {
	n := h.n
	job := &simFlushJob{f: f, through: n.log.Last().LSN, incarnation: n.incarnation}
	n.log.flushing = job
	h.w.net.pushAt(h.w.now+h.w.disk.delay(), simFlight{msg: Message{To: n.id}, flush: job})
}

// diskFlushed: the flush job completes on n's disk (a paused node's disk
// goes on working; a crashed incarnation's flush is lost with it).
func (w *simWorld) diskFlushed(n *simNode, job *simFlushJob) {
	if n.log.flushing != job {
		return
	}
	n.log.flushing = nil
	if l := n.log; l.powerCut > 0 && l.synced < job.through {
		// A power cut armed by simTornCrash (simdisk_test.go) goes during
		// the leader's flush as it would during a follower's inline one:
		// the write is torn, and the node crashes.
		unsynced := int(job.through - max(l.synced, l.First()-1))
		l.tornKeep = (l.powerCut - 1) % (unsynced + 1)
		l.powerCut = 0
		w.powerCut(n)
		return
	}
	n.log.synced = max(n.log.synced, job.through)
	w.trace.add(simTraceRec{now: w.now, what: traceFlush, node: n.id, a: uint64(job.f.through), b: uint64(job.through)})
}

// flushDone hands a completed flush to the node's driver, as the
// runtime's flush goroutine does through the mailbox.
func (w *simWorld) flushDone(n *simNode, job *simFlushJob) {
	if job.incarnation != n.incarnation {
		return
	}
	n.drv.flushed(job.f, nil)
}

// noteCounted records, after a leader's batch, the highest LSN it has
// counted itself as holding toward commit: its commit LSN (the quorum
// rule counts the leader only up to what it has synced). A crash must not
// lose any of it (simWorld.crash).
func (n *simNode) noteCounted() {
	if c := n.core; c != nil && c.role == roleLeader {
		n.log.countedSelf = max(n.log.countedSelf, c.commit)
	}
}
