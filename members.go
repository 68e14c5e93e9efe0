package replstore

import (
	"context"
	"fmt"
	"slices"
)

// AddFollower starts a new node id with an empty log and adds it to the
// running cluster as an async follower, without stopping writes: the
// leader reseeds it from a snapshot (if its log is compacted) and streams
// the log from there. It returns once the coordinator has recorded the new
// follower; catching up continues in the background (see Stats: a
// follower being reseeded reports its snapshot progress, and
// ReplicaState.CaughtUp says when it may serve reads). Make it sync with
// SetSync once it has caught up.
func (cl *Cluster) AddFollower(ctx context.Context, id NodeID) error {
	if cl.closed.Load() {
		return ErrClosed
	}
	if id == "" || id == CoordinatorID {
		return fmt.Errorf("%w: %q cannot name a node", ErrInvalidConfig, id)
	}
	cl.mu.Lock()
	old := cl.mem.Load()
	if _, exists := old.slots[id]; exists {
		cl.mu.Unlock()
		return fmt.Errorf("replstore: add follower: node %s already exists", id)
	}
	s, err := newNodeFor(cl.clusterEnv(), id)
	if err != nil {
		cl.mu.Unlock()
		return fmt.Errorf("replstore: add follower %s: %w", id, err)
	}
	n, err := s.attach()
	if err != nil {
		cl.mu.Unlock()
		return fmt.Errorf("replstore: add follower %s: %w", id, err)
	}
	cl.mem.Store(newMembers(append(slices.Clone(old.list), s)))
	cl.launch(n)
	cl.mu.Unlock()
	if err := cl.reconfigure(ctx, id, memberAsync); err != nil {
		cl.forget(id)
		return err
	}
	return nil
}

// RemoveFollower takes follower id out of the cluster and stops it. A
// sync follower can be removed only if enough sync followers remain for
// SyncCount, or if the policy is Replace and a caught-up async follower
// takes its place (ErrSyncSetTooSmall otherwise). The leader cannot be
// removed: Switchover first.
func (cl *Cluster) RemoveFollower(ctx context.Context, id NodeID) error {
	if _, err := cl.slotOf(id); err != nil {
		return err
	}
	if err := cl.reconfigure(ctx, id, memberRemoved); err != nil {
		return err
	}
	cl.forget(id)
	return nil
}

// SetSync moves follower id into the sync list (at the lowest priority) or
// out of it, under the same rule as RemoveFollower. A follower made sync
// while behind holds up commits (under ANY, only if too few others
// answer) until it catches up.
func (cl *Cluster) SetSync(ctx context.Context, id NodeID, sync bool) error {
	if _, err := cl.slotOf(id); err != nil {
		return err
	}
	role := memberAsync
	if sync {
		role = memberSync
	}
	return cl.reconfigure(ctx, id, role)
}

// reconfigure asks the leader for a membership change and waits until it
// is in force and settled: the coordinator recorded it, the leader applied
// it, its sync followers hold every write acknowledged before, and the
// coordinator knows (so a node leaving the sync list may then stop).
func (cl *Cluster) reconfigure(ctx context.Context, id NodeID, role memberRole) error {
	leader, err := cl.awaitLeader(ctx, nil)
	if err != nil {
		return err
	}
	var rerr error
	if err := leader.do(ctx, func() { rerr = leader.core.reconfigure(id, role) }); err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	err = cl.waitUntil(ctx, leader.id, func(c *core) bool {
		return c.pendingChange == nil && c.settleAcked && c.roleOf(id) == role
	})
	if err != nil {
		return withOp(fmt.Sprintf("making %s %v", id, role), err)
	}
	return nil
}

// roleOf says what id is to this leader.
func (c *core) roleOf(id NodeID) memberRole {
	switch {
	case slices.Contains(c.syncList, id):
		return memberSync
	case slices.Contains(c.asyncList, id):
		return memberAsync
	}
	return memberRemoved
}

// forget stops node id and removes it from the cluster.
func (cl *Cluster) forget(id NodeID) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	old := cl.mem.Load()
	s, ok := old.slots[id]
	if !ok {
		return
	}
	cl.stop(s, fmt.Errorf("%w: %s was removed", ErrNodeDown, id))
	if err := s.closeStorage(); err != nil {
		cl.cfg.Logger.Warn("removed node's storage did not close cleanly", "node", id, "err", err)
	}
	cl.mem.Store(newMembers(slices.DeleteFunc(slices.Clone(old.list), func(o *Node) bool { return o == s })))
}
