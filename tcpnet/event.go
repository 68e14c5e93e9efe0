package tcpnet

import (
	"fmt"

	"github.com/replstore/replstore"
)

// EventKind names what happened to a connection or a message.
type EventKind uint8

const (
	// EventConnected: the outbound connection to Peer passed the handshake.
	EventConnected EventKind = iota + 1
	// EventAccepted: an inbound connection from Peer passed the handshake.
	EventAccepted
	// EventDisconnected: a connection to or from Peer closed (Err says why).
	EventDisconnected
	// EventRefused: this node refused an inbound connection (Reason).
	// Peer is the node it claimed to be, if it got that far.
	EventRefused
	// EventRefusedByPeer: Peer refused this node's connection (Reason).
	EventRefusedByPeer
	// EventBadInput: a connection from Peer sent something that is not a
	// valid frame, or a message whose From is not Peer; it was closed.
	EventBadInput
	// EventDialFailed: a dial to Peer failed (Err); it is retried after a
	// backoff.
	EventDialFailed
	// EventDropping: messages are being dropped (Reason): to Peer because
	// its queue is full (reported again only after the queue has drained)
	// or it is not a configured peer (once per node); or from Peer because
	// no handler is registered (reported again only after Register).
	EventDropping
)

var eventKindNames = [...]string{EventConnected: "connected", EventAccepted: "accepted", EventDisconnected: "disconnected",
	EventRefused: "refused", EventRefusedByPeer: "refused-by-peer", EventBadInput: "bad-input", EventDialFailed: "dial-failed",
	EventDropping: "dropping"}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event reports a change in a connection, or messages being dropped.
type Event struct {
	Kind   EventKind
	Peer   replstore.NodeID // the other node, when known
	Addr   string           // the remote address
	Reason string           // refusals and drops: why
	Err    error            // disconnects, dial failures, bad input: the cause
	// Inbound: the event is about a connection the peer dialed (the one
	// this node receives on), not the one this node dialed to send.
	Inbound bool
}

func (e Event) String() string {
	s := fmt.Sprintf("%s peer=%q addr=%s", e.Kind, e.Peer, e.Addr)
	if e.Inbound {
		s += " inbound"
	}
	if e.Reason != "" {
		s += " reason=" + e.Reason
	}
	if e.Err != nil {
		s += " err=" + e.Err.Error()
	}
	return s
}
