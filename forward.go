package replstore

import (
	"errors"
	"fmt"
)

// Write forwarding. A write submitted on a node that does not lead goes
// to the node it believes leads as a MsgForward; that node proposes it as
// if a local client had, and answers with a MsgForwardResp carrying the
// write's Position or its error, as a code and a text (ErrCode). Nothing
// but the message crosses: the forwarding node keeps the caller's request
// in its own table (fwd), the leader keeps only the sender's ID and the
// request's number.

// ErrCode is an error as it crosses from one node to another: the
// sentinel it wraps (errors.Is still works on the receiving side) and,
// in ErrText, the sender's message.
type ErrCode uint8

// The error codes; ErrCodeOther is an error that wraps no sentinel.
const (
	ErrCodeNone ErrCode = iota
	ErrCodeOther
	ErrCodeClosed
	ErrCodeNotLeader
	ErrCodeNodeDown
	ErrCodeNotAcknowledged
	ErrCodeVersionMismatch
	ErrCodeBadCommand
	ErrCodeStaleEpoch
	ErrCodeStorage
	ErrCodeTokenLost
	ErrCodeNoReplica
	ErrCodeBadToken
	// ErrCodeRetry: the replica's view fell short of the read's target;
	// route the read again.
	ErrCodeRetry
	ErrCodeUnknownNode
	ErrCodeSyncSetTooSmall
	ErrCodeInvalidConfig
	ErrCodeNoSafeCandidate
	// ErrCodeValueTooLarge: a read's result is more than one message
	// carries (a BoundedTransport's MaxMessageBytes).
	ErrCodeValueTooLarge
	ErrCodeAlreadyLeader
	ErrCodeTopologyChangePending
)

var errCodes = []struct {
	code ErrCode
	err  error
}{
	// Order matters: the first sentinel an error wraps names it.
	{ErrCodeNotAcknowledged, ErrNotAcknowledged},
	{ErrCodeVersionMismatch, ErrVersionMismatch},
	{ErrCodeBadCommand, ErrBadCommand},
	{ErrCodeNotLeader, ErrNotLeader},
	{ErrCodeNodeDown, ErrNodeDown},
	{ErrCodeClosed, ErrClosed},
	{ErrCodeStaleEpoch, ErrStaleEpoch},
	{ErrCodeStorage, ErrStorage},
	{ErrCodeTokenLost, ErrTokenLost},
	{ErrCodeNoReplica, ErrNoReplica},
	{ErrCodeBadToken, ErrBadToken},
	{ErrCodeUnknownNode, ErrUnknownNode},
	{ErrCodeSyncSetTooSmall, ErrSyncSetTooSmall},
	{ErrCodeInvalidConfig, ErrInvalidConfig},
	{ErrCodeNoSafeCandidate, ErrNoSafeCandidate},
	{ErrCodeValueTooLarge, ErrValueTooLarge},
	{ErrCodeAlreadyLeader, ErrAlreadyLeader},
	{ErrCodeTopologyChangePending, ErrTopologyChangePending},
}

// encodeErr turns err into a code and a text for a message.
func encodeErr(err error) (ErrCode, string) {
	if err == nil {
		return ErrCodeNone, ""
	}
	for _, c := range errCodes {
		if errors.Is(err, c.err) {
			return c.code, err.Error()
		}
	}
	return ErrCodeOther, err.Error()
}

// remoteError is an error another node reported.
type remoteError struct {
	from     NodeID
	sentinel error // nil for ErrCodeOther
	text     string
}

func (e *remoteError) Error() string { return fmt.Sprintf("%s (reported by %s)", e.text, e.from) }
func (e *remoteError) Unwrap() error { return e.sentinel }

// decodeErr rebuilds an error a message carries.
func decodeErr(from NodeID, code ErrCode, text string) error {
	if code == ErrCodeNone {
		return nil
	}
	e := &remoteError{from: from, text: text}
	for _, c := range errCodes {
		if c.code == code {
			e.sentinel = c.err
		}
	}
	return e
}

// NotLeaderError is returned by a node that does not lead when write
// forwarding is off (Config.DisableForwarding), or when it knows no
// leader: Leader names the node it believes leads ("" if none).
type NotLeaderError struct {
	Node   NodeID // the node that refused
	Leader NodeID // the leader it knows of, "" if none
	Epoch  Epoch
}

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return fmt.Sprintf("replstore: not the leader: %s follows in epoch %d and knows no leader yet", e.Node, e.Epoch)
	}
	return fmt.Sprintf("replstore: not the leader: %s follows %s in epoch %d; send the write there", e.Node, e.Leader, e.Epoch)
}

// Is makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// reply answers a write: on its done channel, or, for a forwarded one,
// with a MsgForwardResp to the node that forwarded it.
func (n *node) reply(r *request, res result) {
	if r.from == "" {
		r.done <- res
		return
	}
	code, text := encodeErr(res.err)
	n.env.tr.Send(Message{Kind: MsgForwardResp, From: n.id, To: r.from, Epoch: n.core.epoch, ReqID: r.id,
		Last: res.pos, ErrCode: code, ErrText: text})
}

// forwarded is the node's table of writes it forwarded and waits on.
type forwarded struct {
	nextID uint64
	reqs   map[uint64]*request
	calls  map[uint64]chan Message // MsgRead sent, waiting for MsgReadResp
}

// handleClientMsg takes a client message addressed to this node's
// runtime (not its core); it reports false for any other message.
func (n *node) handleClientMsg(m *Message) bool {
	switch m.Kind {
	case MsgForward:
		r := &request{data: m.Data, from: m.From, id: m.ReqID}
		n.propose(r)
	case MsgForwardResp:
		r, ok := n.fwd.reqs[m.ReqID]
		if !ok {
			return true // its caller gave up
		}
		delete(n.fwd.reqs, m.ReqID)
		r.done <- result{pos: m.Last, err: decodeErr(m.From, m.ErrCode, m.ErrText)}
	case MsgRead:
		n.serveRemote(*m)
	case MsgReadResp:
		n.answerCall(*m)
	default:
		return false
	}
	return true
}

// forward sends r to leader on the node's goroutine.
func (n *node) forward(r *request, leader NodeID) {
	if n.fwd.reqs == nil {
		n.fwd.reqs = map[uint64]*request{}
	}
	n.fwd.nextID++
	r.id, r.to = n.fwd.nextID, leader
	n.fwd.reqs[r.id] = r
	n.env.tr.Send(Message{Kind: MsgForward, From: n.id, To: leader, Epoch: n.core.epoch, ReqID: r.id, Data: r.data})
}

// dropForward forgets a forwarded write whose caller gave up.
func (n *node) dropForward(r *request) {
	if r.id != 0 && n.fwd.reqs[r.id] == r {
		delete(n.fwd.reqs, r.id)
	}
}

// checkForwarded fails the forwarded writes whose leader this node no
// longer follows (a failover): their answers may never come, and whether
// the old leader appended them is unknown, so they are not sent again.
func (n *node) checkForwarded() {
	for id, r := range n.fwd.reqs {
		if r.to != n.core.leader {
			delete(n.fwd.reqs, id)
			r.done <- result{err: &NotAcknowledgedError{AckLevel: n.env.cfg.AckLevel, Cause: ErrNotLeader,
				Detail: fmt.Sprintf("the write was forwarded to %s, which no longer leads (the leader is now %q); its outcome is unknown", r.to, n.core.leader)}}
		}
	}
}

// failForwarded answers every forwarded write still waiting with err.
func (n *node) failForwarded(err error) {
	for id, r := range n.fwd.reqs {
		r.done <- result{err: fmt.Errorf("%w (the write was forwarded to the leader; its outcome is unknown)", err)}
		delete(n.fwd.reqs, id)
	}
}
