package replstore

import "slices"

// Topology is who does what in an epoch: the leader, the followers
// eligible for the sync set (in priority order) and the async followers.
// It starts from Config and changes with failover, switchover and the
// Replace policy; the coordinator always knows the one in force.
type Topology struct {
	Leader NodeID
	Sync   []NodeID
	Async  []NodeID
}

func (t Topology) clone() Topology {
	return Topology{Leader: t.Leader, Sync: slices.Clone(t.Sync), Async: slices.Clone(t.Async)}
}

// followers lists every follower: sync list first, then async.
func (t Topology) followers() []NodeID {
	return append(slices.Clone(t.Sync), t.Async...)
}

// has reports whether id has a role in t.
func (t Topology) has(id NodeID) bool {
	return t.Leader == id || slices.Contains(t.Sync, id) || slices.Contains(t.Async, id)
}

// promote returns the topology after id takes over as leader: id's place
// in the sync list goes to best (an async follower, or the old leader when
// best is ""), and the old leader, if it did not take that place, becomes
// async.
func (t Topology) promote(id, best NodeID) Topology {
	n := Topology{Leader: id}
	old := t.Leader
	replacement := best
	if replacement == "" {
		replacement = old
	}
	for _, s := range t.Sync {
		if s == id {
			if replacement != "" && replacement != id {
				n.Sync = append(n.Sync, replacement)
			}
			continue
		}
		n.Sync = append(n.Sync, s)
	}
	for _, a := range t.Async {
		if a != id && !slices.Contains(n.Sync, a) {
			n.Async = append(n.Async, a)
		}
	}
	if old != "" && old != id && !slices.Contains(n.Sync, old) {
		n.Async = append(n.Async, old)
	}
	return n
}
