package main

import (
	"sync"
	"time"

	"github.com/replstore/replstore"
)

// heardTransport wraps the node's Transport to record when a message
// last arrived from each peer. The Node API does not say whether a
// follower still hears from its leader (Node.Leader keeps naming a
// leader that died until a failover names another), so /readyz and
// /metrics use this.
type heardTransport struct {
	replstore.Transport
	mu   sync.Mutex
	last map[replstore.NodeID]time.Time
}

func newHeardTransport(tr replstore.Transport) *heardTransport {
	return &heardTransport{Transport: tr, last: map[replstore.NodeID]time.Time{}}
}

func (h *heardTransport) Register(id replstore.NodeID, deliver func(replstore.Message)) {
	h.Transport.Register(id, func(m replstore.Message) {
		h.mu.Lock()
		h.last[m.From] = time.Now()
		h.mu.Unlock()
		deliver(m)
	})
}

// since returns how long ago a message from id arrived, and false if
// none ever did.
func (h *heardTransport) since(id replstore.NodeID) (time.Duration, bool) {
	h.mu.Lock()
	t, ok := h.last[id]
	h.mu.Unlock()
	if !ok {
		return 0, false
	}
	return time.Since(t), true
}
