package replstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Membership changes and failover through a Node, by message: a
// membership change goes to the leader (MsgRead, ReadReconfigure), which
// answers once the change is in force and settled; a failover or
// switchover goes to the coordinator (ReadFailover, ReadSwitchover),
// which answers with its Decision.

// waitTicks converts what is left of ctx into ticks for a remote wait
// (1000 ticks without a deadline).
func waitTicks(ctx context.Context, tick time.Duration) uint32 {
	if dl, ok := ctx.Deadline(); ok {
		return uint32(min(max(time.Until(dl)/tick+1, 1), math.MaxUint32))
	}
	return 1000
}

// AddFollower asks the leader to add node id, already started with
// NewNode (its Config naming it), as an async follower; it returns once
// the change is recorded and settled (see Cluster.AddFollower).
func (nd *Node) AddFollower(ctx context.Context, id NodeID) error {
	return nd.reconfigure(ctx, id, memberAsync, true)
}

// RemoveFollower asks the leader to take follower id out (see
// Cluster.RemoveFollower); stop that node's process afterwards.
func (nd *Node) RemoveFollower(ctx context.Context, id NodeID) error {
	return nd.reconfigure(ctx, id, memberRemoved, false)
}

// SetSync asks the leader to move follower id into the sync list or out
// of it (see Cluster.SetSync).
func (nd *Node) SetSync(ctx context.Context, id NodeID, sync bool) error {
	role := memberAsync
	if sync {
		role = memberSync
	}
	return nd.reconfigure(ctx, id, role, false)
}

// reconfigure asks the leader to give id role; add says id is new (a
// change of an existing member's role refuses an unknown ID).
func (nd *Node) reconfigure(ctx context.Context, id NodeID, role memberRole, add bool) error {
	if id == "" || id == CoordinatorID {
		return fmt.Errorf("%w: %q cannot name a node", ErrInvalidConfig, id)
	}
	n, err := nd.running()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replstore: making %s %v: not started: %w", id, role, err)
	}
	l, err := nd.awaitLeader(ctx)
	if err != nil {
		return fmt.Errorf("replstore: making %s %v: %w", id, role, err)
	}
	resp, err := n.call(ctx, Message{Kind: MsgRead, To: l, Op: ReadReconfigure, Target: id, Data: []byte{byte(role), boolByte(add)},
		WaitTicks: waitTicks(ctx, nd.env.cfg.TickInterval)})
	if err == nil {
		err = respErr(resp)
	}
	if err != nil {
		return fmt.Errorf("replstore: making %s %v: %w", id, role, err)
	}
	return nil
}

// serveReconfigure starts a membership change on the leader's goroutine
// and answers once it is in force and settled (or its time runs out).
func (n *node) serveReconfigure(m Message, reply func([]byte, Position, bool, error)) {
	c := n.core
	if len(m.Data) != 2 || memberRole(m.Data[0]) > memberSync {
		reply(nil, Position{}, false, fmt.Errorf("%w: malformed membership change", ErrBadCommand))
		return
	}
	id, role, add := m.Target, memberRole(m.Data[0]), m.Data[1] == 1
	if err := c.reconfigure(id, role, add); err != nil {
		reply(nil, Position{}, false, err)
		return
	}
	n.conds = append(n.conds, cond{
		pred:  func(c *core) bool { return c.changeSettled(id, role) },
		fn:    func(err error) { reply(nil, c.last, false, err) },
		until: c.tick + uint64(max(m.WaitTicks, 1))})
	n.checkConds()
}

// Failover asks the coordinator to fence every node with a new epoch and
// promote the node that provably holds every acknowledged write (see
// Cluster.Failover); it returns once this node knows the promoted one
// leads. It needs a coordinator on the Transport (CoordinatorID).
func (nd *Node) Failover(ctx context.Context, opts FailoverOptions) (Decision, error) {
	return nd.coordinate(ctx, Message{Kind: MsgRead, To: CoordinatorID, Op: ReadFailover, Confirm: opts.AllowDataLoss})
}

// Switchover asks the coordinator to move leadership to follower to with
// no loss (see Cluster.Switchover).
func (nd *Node) Switchover(ctx context.Context, to NodeID) (Decision, error) {
	return nd.coordinate(ctx, Message{Kind: MsgRead, To: CoordinatorID, Op: ReadSwitchover, Target: to})
}

func (nd *Node) coordinate(ctx context.Context, m Message) (Decision, error) {
	n, err := nd.running()
	if err != nil {
		return Decision{}, err
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("replstore: %v: not started: %w", m.Op, err)
	}
	resp, err := n.call(ctx, m)
	if err == nil {
		err = respErr(resp)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("replstore: %v: %w", m.Op, err)
	}
	var d Decision
	if err := json.Unmarshal(resp.Data, &d); err != nil {
		return Decision{}, fmt.Errorf("replstore: %v: malformed decision: %w", m.Op, err)
	}
	if _, err := nd.waitLeader(ctx, func(l NodeID) bool { return l == d.Promote }); err != nil {
		return d, fmt.Errorf("replstore: %v: %s promoted, not yet heard of by %s: %w", m.Op, d.Promote, nd.id, err)
	}
	return d, nil
}

func (op ReadOp) String() string {
	switch op {
	case ReadFailover:
		return "failover"
	case ReadSwitchover:
		return "switchover"
	}
	return fmt.Sprintf("ReadOp(%d)", uint8(op))
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
