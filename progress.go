package replstore

// progress is the leader's view of one follower.
//
// Invariant: durable <= received < next <= leader's last LSN + 1, within an
// epoch; received, durable and applied only grow while the leader leads,
// except when the follower is reseeded because its state differs from the
// leader's (asynchronous commit; see compareCompacted).
type progress struct {
	id NodeID
	// memberVersion names this leader's tracking of the follower
	// (Message.MemberVersion, core.trackVersion): new when the leader
	// begins tracking it and when it starts reseeding it; answers to
	// messages of an earlier one are ignored.
	memberVersion uint64
	adsSent       uint64 // tick whose advertisement (core.ads) it was last sent
	priority      int    // index in Config.SyncFollowers; -1 for async followers
	sync          bool   // member of the sync set now: its acks count for commit

	next     LSN // next LSN to send
	received LSN // highest LSN the follower received and matched
	durable  LSN // highest LSN the follower stored and synced
	applied  LSN // highest LSN the follower applied

	// incarnation is the follower's StorageIncarnation as its answers
	// show it (0 until one does): only grows. When it grows, the
	// follower lost data it may have acknowledged, and its progress
	// starts again from what it reports (resetForIncarnation).
	incarnation uint64

	lastHeard  uint64 // tick of the last answer
	lastSent   uint64 // tick of the last message sent
	sentCommit LSN    // highest commit LSN sent to it
	askedAt    uint64 // tick of the last append with WantAck
	readEcho   uint64 // highest read round it has answered

	// Snapshot shipping (see snapshot.go).
	snapPos   Position // the snapshot being sent; zero if none
	snapSent  int64    // bytes sent
	snapAcked int64    // bytes the follower holds
	probing   bool     // a reject arrived: resend only when it answers
	reseed    bool     // its snapshot differs from our log: send ours
}

// resetForIncarnation forgets what an earlier incarnation of the
// follower acknowledged: the new one holds only what it reports from now
// on (last is its last Position). The leader resends from there, and
// backs up as for any mismatch.
func (p *progress) resetForIncarnation(incarnation uint64, last Position) {
	p.incarnation = incarnation
	p.received, p.durable, p.applied = 0, 0, 0
	p.next = min(p.next, last.LSN+1)
	p.probing = true
	p.reseed = false
	p.forgetSnapshot()
}

// ack returns the follower's progress at level.
func (p *progress) ack(level AckLevel) LSN {
	switch level {
	case Received:
		return p.received
	case Applied:
		return p.applied
	default:
		return p.durable
	}
}

// live reports whether the follower answered within timeout ticks of now.
func (p *progress) live(now uint64, timeout int) bool {
	return now-p.lastHeard <= uint64(timeout)
}

// inflight is how many sent entries the follower has not acknowledged.
func (p *progress) inflight() LSN {
	if p.next <= p.received+1 {
		return 0
	}
	return p.next - 1 - p.received
}
