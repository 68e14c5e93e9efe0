package replstore

import (
	"sync"
	"sync/atomic"
)

// mailbox is a node's unbounded inbox of writes, peer messages and control
// calls, in one FIFO. Senders never block (so two nodes sending to each
// other cannot deadlock); what can pile up is bounded by the leader's
// pipelining window and, for writes, by the number of goroutines writing
// (each Write has one request in flight). The owner takes everything
// queued at once, which batches naturally, and hands back an emptied
// buffer so the steady state allocates nothing.
//
// Once closed, a mailbox refuses everything: a sender learns at once that
// the node stopped, and the owner answers whatever was queued, so no write
// is ever left unanswered.
type mailbox struct {
	mu     sync.Mutex
	q      []inboxItem
	closed bool
	notify chan struct{} // one slot: "something is queued"
	// writers counts the writes proposed here whose writer has not
	// returned yet (see node.gatherProposals). It shares mu's cache line,
	// which every proposal takes anyway.
	writers atomic.Int64
}

// inboxItem is one of: a write (r != nil), a function to run on the
// node's goroutine (f != nil: a tick, a cancel, a stats call, a stop), or
// a peer message.
type inboxItem struct {
	m Message
	f func()
	r *request
}

func newMailbox() *mailbox {
	return &mailbox{notify: make(chan struct{}, 1)}
}

// put queues a peer message; one for a stopped node is dropped, as a
// network would.
func (b *mailbox) put(m Message) { b.add(inboxItem{m: m}) }

// call queues f to run on the owner's goroutine. It reports false if the
// node has stopped.
func (b *mailbox) call(f func()) bool { return b.add(inboxItem{f: f}) }

// propose queues a write. It reports false if the node has stopped.
func (b *mailbox) propose(r *request) bool { return b.add(inboxItem{r: r}) }

func (b *mailbox) add(it inboxItem) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.q = append(b.q, it)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return true
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

// takeMore appends everything queued since the last take to got, keeping
// FIFO order.
func (b *mailbox) takeMore(got []inboxItem) []inboxItem {
	b.mu.Lock()
	got = append(got, b.q...)
	clear(b.q)
	b.q = b.q[:0]
	b.mu.Unlock()
	return got
}

// close refuses all later items and returns those still queued.
func (b *mailbox) close() []inboxItem {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	q := b.q
	b.q = nil
	return q
}
