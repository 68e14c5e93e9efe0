package replstore

import "sync"

// mailbox is a node's unbounded inbox. Senders never block (so two nodes
// sending to each other cannot deadlock); the leader's pipelining window
// bounds what can pile up. The owner takes everything queued at once,
// which batches naturally, and hands back an emptied buffer so the steady
// state allocates nothing.
type mailbox struct {
	mu     sync.Mutex
	q      []Message
	notify chan struct{} // one slot: "something is queued"
}

func newMailbox() *mailbox {
	return &mailbox{notify: make(chan struct{}, 1)}
}

// put queues m and wakes the owner.
func (b *mailbox) put(m Message) {
	b.mu.Lock()
	b.q = append(b.q, m)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// take returns everything queued and keeps spare (emptied) for the next
// messages.
func (b *mailbox) take(spare []Message) []Message {
	b.mu.Lock()
	q := b.q
	b.q = spare[:0]
	b.mu.Unlock()
	return q
}
