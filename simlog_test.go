package replstore

import "slices"

// simLog is the simulation's log store: the in-memory log the cluster uses
// by default, plus a shadow of every entry the node holds logically, the
// ones compacted into its snapshot included. The checker reads the shadow,
// so log matching, committed prefixes and acknowledged writes are checked
// across compaction and snapshot installs; the core sees a plain MemLog.
type simLog struct {
	*MemLog
	// shadow[l-1] is the entry at LSN l. After a snapshot install the
	// entries it covers are unknown (zero) until the simulation copies
	// them from the node that sent the snapshot.
	shadow []Entry
	// synced is the highest LSN the node has synced: a crash loses what
	// lies past it (a disk loses what was never flushed). durableSaid is
	// the highest LSN the node has told a leader it holds Durable (what
	// a rollback removed no longer counts).
	synced, durableSaid LSN
	// damage is the first LSN a flipped byte cost the log, reported as
	// a DamageReporter until the node records it (0: none).
	damage LSN
	// powerCut, when set, makes the next Sync with records to sync fail
	// as a power cut that keeps powerCut-1 of them (simdisk_test.go);
	// tornKeep is how many that one keeps.
	powerCut, tornKeep int
	// countedSelf is the highest LSN the node, leading, counted itself as
	// holding toward commit (what a rollback removed no longer counts).
	countedSelf LSN
	// flushing is the leader's flush in progress (simflush_test.go).
	flushing *simFlushJob
	// beforeCrash is the shadow as it was before a crash cut the log's
	// unsynced tail, until the node appends again. A node whose snapshot
	// (taken from what it had applied) lies past what the crash left of
	// its log resets the log to that snapshot when it restarts
	// (finishInstall): the entries the snapshot covers are the ones the
	// node had, and Reset takes them from here instead of leaving them
	// unknown, as it must for a snapshot another node sent.
	beforeCrash []Entry
}

var (
	_ LogStore       = (*simLog)(nil)
	_ DamageReporter = (*simLog)(nil)
)

func newSimLog() *simLog { return &simLog{MemLog: NewMemLog()} }

// Append implements LogStore.
func (l *simLog) Append(entries []Entry) error {
	if err := l.MemLog.Append(entries); err != nil {
		return err
	}
	if len(entries) > 0 {
		l.shadow = append(l.shadow[:entries[0].Pos.LSN-1], entries...)
		l.beforeCrash = nil
	}
	return nil
}

// Sync implements LogStore: everything appended is on disk.
func (l *simLog) Sync() error {
	if l.powerCut > 0 && l.synced < l.Last().LSN {
		unsynced := int(l.Last().LSN - max(l.synced, l.First()-1))
		l.tornKeep = (l.powerCut - 1) % (unsynced + 1)
		l.powerCut = 0
		return errSimPowerCut
	}
	l.synced = l.Last().LSN
	return nil
}

// crash loses what was appended and never synced, as a power cut does;
// it returns the first LSN lost (0 if none).
func (l *simLog) crash() LSN {
	l.flushing = nil // a flush in progress is lost with the node
	if l.synced >= l.Last().LSN {
		return 0
	}
	lost := max(l.synced, l.First()-1)
	l.beforeCrash = slices.Clone(l.shadow)
	if err := l.TruncateAfter(lost); err != nil {
		panic("simulation: losing the unsynced tail: " + err.Error())
	}
	return lost + 1
}

// TruncateAfter implements LogStore.
func (l *simLog) TruncateAfter(lsn LSN) error {
	if err := l.MemLog.TruncateAfter(lsn); err != nil {
		return err
	}
	l.synced, l.durableSaid, l.countedSelf = min(l.synced, lsn), min(l.durableSaid, lsn), min(l.countedSelf, lsn)
	if l.flushing != nil {
		l.flushing.through = min(l.flushing.through, lsn)
	}
	if int(lsn) < len(l.shadow) {
		clear(l.shadow[lsn:])
		l.shadow = l.shadow[:lsn]
	}
	return nil
}

// Reset implements LogStore: a snapshot install.
func (l *simLog) Reset(base Position) error {
	if err := l.MemLog.Reset(base); err != nil {
		return err
	}
	l.synced, l.durableSaid, l.countedSelf = base.LSN, base.LSN, min(l.countedSelf, base.LSN)
	if l.flushing != nil {
		l.flushing.through = min(l.flushing.through, base.LSN)
	}
	l.shadow = make([]Entry, base.LSN)
	if base.LSN > 0 {
		l.shadow[base.LSN-1] = Entry{Pos: base}
		if int(base.LSN) <= len(l.beforeCrash) && l.beforeCrash[base.LSN-1].Pos == base {
			// The node's own snapshot (or one at the same Position, which
			// by log matching covers the same entries).
			copy(l.shadow, l.beforeCrash[:base.LSN])
		}
	}
	l.beforeCrash = nil
	return nil
}

// at returns the position of the entry at lsn, the zero Position if it is
// unknown (covered by an installed snapshot), and ok false past the end.
func (l *simLog) at(lsn LSN) (Position, bool) {
	if lsn == 0 {
		return Position{}, true
	}
	if int(lsn) > len(l.shadow) {
		return Position{}, false
	}
	return l.shadow[lsn-1].Pos, true
}

// holds reports whether the node holds the entry at pos (unknown entries
// under a snapshot count as held: the snapshot's sender held them).
func (l *simLog) holds(pos Position) bool {
	p, ok := l.at(pos.LSN)
	return ok && (p == pos || p == Position{})
}

// fillFrom copies the entries a snapshot at base covers from the shadow
// of the node that sent it.
func (l *simLog) fillFrom(from *simLog, base Position) {
	if base.LSN == 0 || int(base.LSN) > len(l.shadow) || int(base.LSN) > len(from.shadow) || from.shadow[base.LSN-1].Pos != base {
		return
	}
	for i := LSN(0); i < base.LSN; i++ {
		if p := l.shadow[i].Pos; p == (Position{}) || p == base {
			l.shadow[i] = from.shadow[i] // unknown, or Reset's stub
		}
	}
}
