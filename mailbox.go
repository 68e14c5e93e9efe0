package replstore

import "sync"

// mailbox is a node's unbounded inbox of messages and control calls, in
// one FIFO. Senders never block (so two nodes sending to each other cannot
// deadlock); the leader's pipelining window bounds what can pile up. The
// owner takes everything queued at once, which batches naturally, and
// hands back an emptied buffer so the steady state allocates nothing.
type mailbox struct {
	mu     sync.Mutex
	q      []inboxItem
	notify chan struct{} // one slot: "something is queued"
}

// inboxItem is a message, or (f != nil) a function to run on the node's
// goroutine: a tick, a cancel, a stats call, a stop.
type inboxItem struct {
	m Message
	f func()
}

func newMailbox() *mailbox {
	return &mailbox{notify: make(chan struct{}, 1)}
}

// put queues m and wakes the owner.
func (b *mailbox) put(m Message) { b.add(inboxItem{m: m}) }

// call queues f to run on the owner's goroutine.
func (b *mailbox) call(f func()) { b.add(inboxItem{f: f}) }

func (b *mailbox) add(it inboxItem) {
	b.mu.Lock()
	b.q = append(b.q, it)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// take returns everything queued and keeps spare (emptied) for the next
// items.
func (b *mailbox) take(spare []inboxItem) []inboxItem {
	b.mu.Lock()
	q := b.q
	b.q = spare[:0]
	b.mu.Unlock()
	return q
}
