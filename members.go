package replstore

import (
	"context"
	"errors"
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
//
// If it fails after the leader took the change (ctx ended, the leader
// failed over), the change may still be in force: the new node keeps
// running, and the error says so. RemoveFollower takes it out again
// either way.
func (cl *Cluster) AddFollower(ctx context.Context, id NodeID) error {
	if cl.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replstore: add follower %s: not started: %w", id, err)
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
		return fmt.Errorf("replstore: add follower %s: %w", id, abandoned(err, s.closeStorage()))
	}
	cl.mem.Store(newMembers(append(slices.Clone(old.list), s)))
	cl.launch(n)
	cl.mu.Unlock()
	if accepted, err := cl.reconfigure(ctx, id, memberAsync, true); err != nil {
		if forgetAfterFailedAdd(accepted) {
			cl.forget(id)
			return err
		}
		return fmt.Errorf("%w (the leader took the change, which may be in force: %s keeps running; RemoveFollower(%s) undoes it)", err, id, id)
	}
	return nil
}

// RemoveFollower takes follower id out of the cluster and stops it. A
// sync follower can be removed only if enough sync followers remain for
// SyncCount, or if the policy is Replace and a caught-up async follower
// takes its place (ErrSyncSetTooSmall otherwise). The leader cannot be
// removed: Switchover first. A node the cluster runs but the leader's
// topology does not name (an AddFollower that failed before its change
// took effect, a removal whose caller gave up after it did) is stopped.
func (cl *Cluster) RemoveFollower(ctx context.Context, id NodeID) error {
	if _, err := cl.slotOf(id); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replstore: remove follower %s: not started: %w", id, err)
	}
	if _, err := cl.reconfigure(ctx, id, memberRemoved, false); err != nil && !errors.Is(err, ErrUnknownNode) {
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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replstore: set sync %s: not started: %w", id, err)
	}
	role := memberAsync
	if sync {
		role = memberSync
	}
	_, err := cl.reconfigure(ctx, id, role, false)
	return err
}

// reconfigure asks the leader for a membership change and waits until it
// is in force and settled: the coordinator recorded it, the leader applied
// it, its sync followers hold every write acknowledged before, and the
// coordinator knows (so a node leaving the sync list may then stop).
// accepted says the leader took the change (it may be in force even if
// the wait failed).
func (cl *Cluster) reconfigure(ctx context.Context, id NodeID, role memberRole, add bool) (accepted bool, err error) {
	leader, err := cl.awaitLeader(ctx, nil)
	if err != nil {
		return false, err
	}
	var rerr error
	if err := leader.do(ctx, func() { rerr = leader.core.reconfigure(id, role, add) }); err != nil {
		// If ctx ended, the call may still run from the leader's mailbox:
		// take it as accepted. If the leader stopped first, it never ran.
		return ctx.Err() != nil, err
	}
	if rerr != nil {
		return false, rerr
	}
	err = cl.waitUntil(ctx, leader.id, func(c *core) bool {
		return c.changeSettled(id, role)
	})
	if err != nil {
		return true, withOp(fmt.Sprintf("making %s %v", id, role), err)
	}
	return true, nil
}

// forgetAfterFailedAdd says whether an AddFollower that failed stops the
// node it started: only if the leader never took the change. Once it
// did, the coordinator may record the node (and a failover may make it
// the only sync follower): stopping it would leave a member nobody runs.
func forgetAfterFailedAdd(accepted bool) bool { return !accepted }

// changeSettled reports whether giving id role is in force and settled
// on this node, which still leads: the coordinator recorded it, and the
// coordinator knows its sync set holds every write acknowledged before.
// A leader deposed meanwhile answers false: a failover may have brought
// back the node it was removing.
func (c *core) changeSettled(id NodeID, role memberRole) bool {
	return c.role == roleLeader && c.pendingChange == nil && c.settleAcked && c.roleOf(id) == role
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
	// The removed node's handle is closed with it: its calls say
	// ErrClosed, and a later Close closes nothing twice.
	if err := s.close(); err != nil {
		cl.cfg.Logger.Warn("removed node's storage did not close cleanly", "node", id, "err", err)
	}
	cl.mem.Store(newMembers(slices.DeleteFunc(slices.Clone(old.list), func(o *Node) bool { return o == s })))
}
