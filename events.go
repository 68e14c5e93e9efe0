package replstore

import "fmt"

// EventKind names what happened.
type EventKind uint8

const (
	// EventLog is a note from a node's core (Detail says what).
	EventLog EventKind = iota + 1
	// EventSyncSetChanged: the sync set now has Members.
	EventSyncSetChanged
	// EventSyncUnavailable: fewer sync followers are live than the commit
	// rule needs; writes wait (Block) until the policy acts.
	EventSyncUnavailable
	// EventSyncAvailable: enough sync followers are live again.
	EventSyncAvailable
	// EventSyncReplaced: Peer, an async follower, replaced a lost sync
	// follower (Replace policy).
	EventSyncReplaced
	// EventDegraded: DegradeAfter fired; writes after LSN commit only on
	// the leader.
	EventDegraded
	// EventRestored: the sync commit rule is back after a degrade.
	EventRestored
	// EventFenced: a node refused a message from an older epoch (Peer).
	EventFenced
	// EventSteppedDown: a leader saw a newer epoch and now follows.
	EventSteppedDown
	// EventNodeCrashed and EventNodeRestarted report the cluster's fault
	// injection.
	EventNodeCrashed
	EventNodeRestarted
	// EventFailoverStarted: the coordinator is fencing every node with a
	// new Epoch (Peer is the old leader); Detail says why.
	EventFailoverStarted
	// EventFailoverBlocked: no node provably holds every acknowledged
	// write, so nothing was promoted (Detail says who answered).
	EventFailoverBlocked
	// EventDataLoss is reported before a promotion that may lose
	// acknowledged writes (asynchronous commit, or AllowDataLoss): LSN is
	// the last LSN that may be lost and Detail gives the range.
	EventDataLoss
	// EventPromoted: Peer leads Epoch; Members is its sync list.
	EventPromoted
	// EventRolledBack: a node (typically a returning old leader) dropped
	// the entries in Entries, which its new leader does not have. Under
	// sync commit none of them was acknowledged.
	EventRolledBack
	// EventSnapshotSending: the leader is reseeding Peer from a snapshot
	// at LSN (Peer needs entries that were compacted).
	EventSnapshotSending
	// EventSnapshotInstalled: the node installed a snapshot at LSN.
	EventSnapshotInstalled
	// EventSnapshotRejected: a snapshot failed to install (corrupted or
	// truncated); it is sent again.
	EventSnapshotRejected
	// EventCompacted: the node dropped its log through LSN.
	EventCompacted
	// EventMembershipChanged: a follower was added, removed, or moved
	// between sync and async; Members is the sync list.
	EventMembershipChanged
)

var eventNames = map[EventKind]string{
	EventLog: "log", EventSyncSetChanged: "sync-set-changed", EventSyncUnavailable: "sync-unavailable",
	EventSyncAvailable: "sync-available", EventSyncReplaced: "sync-replaced", EventDegraded: "degraded",
	EventRestored: "restored", EventFenced: "fenced", EventSteppedDown: "stepped-down",
	EventNodeCrashed: "node-crashed", EventNodeRestarted: "node-restarted",
	EventFailoverStarted: "failover-started", EventFailoverBlocked: "failover-blocked", EventDataLoss: "data-loss",
	EventPromoted: "promoted", EventRolledBack: "rolled-back", EventSnapshotSending: "snapshot-sending",
	EventSnapshotInstalled: "snapshot-installed", EventSnapshotRejected: "snapshot-rejected", EventCompacted: "compacted",
	EventMembershipChanged: "membership-changed",
}

func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something the cluster reports: see Config.OnEvent.
type Event struct {
	Kind    EventKind
	Node    NodeID // the node it happened on
	Epoch   Epoch
	Peer    NodeID // the other node involved, if any
	LSN     LSN    // the commit LSN (or the LSN concerned) at the time
	Members []NodeID
	Entries []Entry // EventRolledBack: the entries dropped
	Detail  string
}

func (e Event) String() string {
	s := fmt.Sprintf("%s on %s (epoch %d, LSN %d)", e.Kind, e.Node, e.Epoch, e.LSN)
	if e.Peer != "" {
		s += " peer " + string(e.Peer)
	}
	if e.Members != nil {
		s += fmt.Sprintf(" members %v", e.Members)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}
