package replstore

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// MemNet is the in-memory Transport, with fault injection that tests drive
// deterministically: pause, delay, drop, partition and crash (Unregister).
//
// With no fault configured anywhere and no message held, Send calls the
// receiver's handler directly: one atomic load decides that, and nothing is
// allocated. While any fault is configured, every Send takes the slower
// path through its link's lock; the fast path comes back once the faults
// are removed and every held message is out.
//
// Order: messages on one directed link (From, To) are delivered in the
// order their Send calls happened, across every pause, resume and delay.
// Sends from goroutines that run concurrently are in whatever order the
// calls took.
//
// Rules apply in this order: a closed network, a partition, DropLink and
// DropNext drop the message (a dropped message is never held); otherwise a
// pause or a delay holds it; a message whose receiver is not registered
// when it is finally delivered is dropped. Every drop is counted in
// NetCounts.Dropped.
//
// Handlers must not block and must not call MemNet's methods: they put the
// message in the node's mailbox. MemNet may call a handler while it holds the link's
// lock, from the goroutine that calls Send, ResumeLink, ResumeNode, Heal or
// Delay, or from the goroutine that times a delayed link.
//
// The fault methods that name nodes fail with ErrUnknownNode for a node
// that has never been registered (a crashed node, unregistered, is still
// known), and do nothing.
//
// Use NewMemNet; the zero value is not ready. All methods are safe for
// concurrent use.
type MemNet struct {
	// Read by every Send. active counts the links that have a fault or
	// hold a message, plus one for each global flag that is on (nodes
	// paused, partitioned, closed); 0 selects the fast path.
	// Invariant: active is nonzero whenever any link holds a message.
	active    atomic.Int64
	receivers atomic.Pointer[map[NodeID]*receiver] // immutable; replaced under mu
	_         [64]byte                             // keep the counters off the line every Send reads

	sent, delivered, dropped atomic.Uint64 // on the slow path; only grow

	cfg sync.Mutex // serialises the fault methods and Close; Send never takes it

	mu          sync.RWMutex    // guards the fields below and receivers' replacement
	registered  []*receiver     // every receiver ever registered, for Counts
	known       map[NodeID]bool // every node ever registered; only grows
	links       map[linkKey]*link
	pausedNodes map[NodeID]bool
	groups      map[NodeID]int // partition group of each named node; nil: no partition
	nodesPaused bool           // len(pausedNodes) > 0; counted in active
	partitioned bool           // groups != nil; counted in active
	closed      bool           // set once by Close; counted in active

	done chan struct{}  // closed by Close: stops the delay goroutines
	wg   sync.WaitGroup // delay goroutines
}

// NetCounts are MemNet's message totals since NewMemNet. Each only grows.
// Sent = Delivered + Dropped + held + in flight.
type NetCounts struct {
	Sent      uint64 // Send calls
	Delivered uint64 // handler calls
	Dropped   uint64 // messages dropped by a fault, a missing receiver or Close
}

var _ Transport = (*MemNet)(nil)

// NewMemNet returns a network with no node registered and no fault.
func NewMemNet() *MemNet {
	m := &MemNet{
		links:       make(map[linkKey]*link),
		pausedNodes: make(map[NodeID]bool),
		known:       make(map[NodeID]bool),
		done:        make(chan struct{}),
	}
	m.receivers.Store(&map[NodeID]*receiver{})
	return m
}

// receiver is one Register call's handler. It counts what the fast path
// delivers to it, so concurrent Sends to different nodes share no counter.
type receiver struct {
	deliver  func(Message)
	fastSent atomic.Uint64 // sent and delivered on the fast path
	_        [48]byte      // one cache line per receiver
}

// Register implements Transport. A nil deliver unregisters id.
func (m *MemNet) Register(id NodeID, deliver func(Message)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := maps.Clone(*m.receivers.Load())
	if deliver == nil {
		delete(next, id)
	} else {
		next[id] = &receiver{deliver: deliver}
		m.registered = append(m.registered, next[id])
		m.known[id] = true
	}
	m.receivers.Store(&next)
}

// Unregister implements Transport: messages to id are dropped from now on,
// including held ones released later (a crashed node).
func (m *MemNet) Unregister(id NodeID) { m.Register(id, nil) }

// Send implements Transport. It never blocks beyond short lock sections.
func (m *MemNet) Send(msg Message) {
	if m.active.Load() == 0 {
		if r := (*m.receivers.Load())[msg.To]; r != nil {
			r.deliver(msg)
			r.fastSent.Add(1)
			return
		}
	}
	m.sendSlow(msg)
}

// sendSlow applies the faults of msg's link: drop, hold or deliver.
func (m *MemNet) sendSlow(msg Message) {
	m.sent.Add(1)
	l := m.link(msg.From, msg.To)
	if l == nil {
		m.dropped.Add(1) // closed
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drops() {
		m.dropped.Add(1)
		l.syncActive(m)
		return
	}
	if len(l.queue) == 0 && !l.paused() && l.delay == 0 {
		m.deliver(msg)
		return
	}
	var due time.Time
	if l.delay > 0 {
		due = time.Now().Add(l.delay)
	}
	l.queue = append(l.queue, heldMsg{msg: msg, due: due})
	m.settleLocked(l)
}

// deliver hands msg to its receiver's handler, or drops it if there is none.
func (m *MemNet) deliver(msg Message) {
	if r := (*m.receivers.Load())[msg.To]; r != nil {
		r.deliver(msg)
		m.delivered.Add(1)
		return
	}
	m.dropped.Add(1)
}

// Counts returns the message totals. Each total is read atomically; read
// while messages move, the three need not add up exactly.
func (m *MemNet) Counts() NetCounts {
	var fast uint64
	m.mu.RLock()
	for _, r := range m.registered {
		fast += r.fastSent.Load()
	}
	m.mu.RUnlock()
	return NetCounts{
		Sent:      fast + m.sent.Load(),
		Delivered: fast + m.delivered.Load(),
		Dropped:   m.dropped.Load(),
	}
}

// Held returns how many messages the link from -> to holds now, paused or
// delayed.
func (m *MemNet) Held(from, to NodeID) int {
	m.mu.RLock()
	l := m.links[linkKey{from, to}]
	m.mu.RUnlock()
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// PauseLink holds every message sent from -> to, in order, until
// ResumeLink or Heal.
func (m *MemNet) PauseLink(from, to NodeID) error {
	return m.updateLink(from, to, func(l *link) { l.pausedLink = true })
}

// ResumeLink lifts PauseLink: the held messages are delivered in order
// (delayed ones when due) before any message sent after it. A link whose
// end is paused by PauseNode stays paused.
func (m *MemNet) ResumeLink(from, to NodeID) error {
	return m.updateLink(from, to, func(l *link) { l.pausedLink = false })
}

// DropLink turns silent dropping of every message sent from -> to on or
// off. Messages already held on the link are not dropped.
func (m *MemNet) DropLink(from, to NodeID, on bool) error {
	return m.updateLink(from, to, func(l *link) { l.drop = on })
}

// DropNext drops the next n messages sent from -> to that no partition or
// DropLink drops already. It replaces an earlier count; n <= 0 clears it.
func (m *MemNet) DropNext(from, to NodeID, n int) error {
	return m.updateLink(from, to, func(l *link) { l.dropNext = max(n, 0) })
}

// Delay delivers each message sent from -> to from now on d after its
// Send, in order: a message never overtakes an earlier one, even when d
// shrinks. d <= 0 removes the delay; messages already delayed still arrive
// when due (Heal delivers them at once). A goroutine times the link until
// Close.
func (m *MemNet) Delay(from, to NodeID, d time.Duration) error {
	return m.updateLink(from, to, func(l *link) {
		l.delay = max(d, 0)
		if l.delay > 0 {
			m.startTimingLocked(l)
		}
	})
}

// PauseNode pauses every link to and from id, including links first used
// later: a stalled process that neither hears nor speaks. It fails with
// ErrUnknownNode if id has never been registered.
func (m *MemNet) PauseNode(id NodeID) error { return m.setNodePaused(id, true) }

// ResumeNode lifts PauseNode(id): each of its links that is not paused
// otherwise delivers its held messages in order.
func (m *MemNet) ResumeNode(id NodeID) error { return m.setNodePaused(id, false) }

// setNodePaused is PauseNode (on) and ResumeNode (off).
func (m *MemNet) setNodePaused(id NodeID, on bool) error {
	if err := m.checkKnown(id); err != nil {
		return err
	}
	m.cfg.Lock()
	defer m.cfg.Unlock()
	links := m.updateGlobal(func() {
		if on {
			m.pausedNodes[id] = true
		} else {
			delete(m.pausedNodes, id)
		}
		m.setFlag(&m.nodesPaused, len(m.pausedNodes) > 0)
	})
	for _, l := range links {
		if l.key.from == id || l.key.to == id {
			m.changeLink(l, func(l *link) { l.setNodePaused(id, on) })
		}
	}
	return nil
}

// Partition splits the network: a message between nodes named in different
// groups is dropped. Nodes named in no group reach and are reached by
// everyone; a node named twice is in the last group naming it. The call
// replaces any earlier partition; Partition() with no group removes it.
// Messages held before the call are not dropped.
func (m *MemNet) Partition(groups ...[]NodeID) error {
	group := make(map[NodeID]int)
	for i, g := range groups {
		if err := m.checkKnown(g...); err != nil {
			return err
		}
		for _, id := range g {
			group[id] = i
		}
	}
	if len(group) == 0 {
		group = nil
	}
	m.cfg.Lock()
	defer m.cfg.Unlock()
	links := m.updateGlobal(func() {
		m.groups = group
		m.setFlag(&m.partitioned, group != nil)
	})
	for _, l := range links {
		cut := isCut(group, l.key)
		m.changeLink(l, func(l *link) { l.cut = cut })
	}
	return nil
}

// isCut reports whether the partition group separates the ends of k.
func isCut(group map[NodeID]int, k linkKey) bool {
	from, okFrom := group[k.from]
	to, okTo := group[k.to]
	return okFrom && okTo && from != to
}

// Heal removes every fault: partitions, drop rules and delays go, every
// paused link and node resumes, and every held message, delayed ones
// included, is delivered in link order before Heal returns.
func (m *MemNet) Heal() {
	m.cfg.Lock()
	defer m.cfg.Unlock()
	links := m.updateGlobal(func() {
		clear(m.pausedNodes)
		m.groups = nil
		m.setFlag(&m.nodesPaused, false)
		m.setFlag(&m.partitioned, false)
	})
	for _, l := range links {
		m.changeLink(l, (*link).heal)
	}
}

// Close stops the network: held messages are discarded (counted as
// dropped), the delay goroutines end before Close returns, and later Sends
// are dropped silently. Fault methods after Close do nothing. Close is
// idempotent.
func (m *MemNet) Close() {
	m.cfg.Lock()
	defer m.cfg.Unlock()
	links := m.updateGlobal(func() { m.setFlag(&m.closed, true) })
	for _, l := range links {
		l.mu.Lock()
		l.closed = true
		m.dropped.Add(uint64(len(l.queue)))
		l.queue = nil
		l.syncActive(m)
		l.mu.Unlock()
	}
	select {
	case <-m.done:
	default:
		close(m.done)
	}
	m.wg.Wait()
}

// updateLink applies change to the link from -> to under the fault lock.
func (m *MemNet) updateLink(from, to NodeID, change func(*link)) error {
	if err := m.checkKnown(from, to); err != nil {
		return err
	}
	m.cfg.Lock()
	defer m.cfg.Unlock()
	if l := m.link(from, to); l != nil {
		m.changeLink(l, change)
	}
	return nil
}

// checkKnown returns an error wrapping ErrUnknownNode for the first of ids
// that has never been registered.
func (m *MemNet) checkKnown(ids ...NodeID) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, id := range ids {
		if !m.known[id] {
			return fmt.Errorf("%w: %q has never been registered on the network", ErrUnknownNode, id)
		}
	}
	return nil
}

// changeLink applies change to l, then delivers what l may deliver now.
func (m *MemNet) changeLink(l *link, change func(*link)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	change(l)
	m.settleLocked(l)
}

// updateGlobal runs change under mu and returns every link, for the caller
// to bring in line; it does nothing and returns nil once closed.
func (m *MemNet) updateGlobal(change func()) []*link {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	change()
	links := make([]*link, 0, len(m.links))
	for _, l := range m.links {
		links = append(links, l)
	}
	return links
}

// setFlag sets one global fault flag, keeping active in step. mu is held.
func (m *MemNet) setFlag(flag *bool, on bool) {
	if *flag == on {
		return
	}
	*flag = on
	if on {
		m.active.Add(1)
	} else {
		m.active.Add(-1)
	}
}

// link returns the state of the link from -> to, creating it with the
// current node pauses and partition; nil once closed.
func (m *MemNet) link(from, to NodeID) *link {
	k := linkKey{from, to}
	m.mu.RLock()
	l, closed := m.links[k], m.closed
	m.mu.RUnlock()
	if l != nil || closed {
		return l
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	if l = m.links[k]; l == nil {
		l = &link{key: k, cut: isCut(m.groups, k)}
		for id := range m.pausedNodes {
			l.setNodePaused(id, true)
		}
		l.syncActive(m)
		m.links[k] = l
	}
	return l
}

// settleLocked delivers what l may deliver now and wakes l's timer if a
// delayed message waits at the front. l.mu is held.
func (m *MemNet) settleLocked(l *link) {
	if len(l.queue) > 0 {
		if next := m.releaseLocked(l, time.Now()); !next.IsZero() && l.wake != nil {
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}
	l.syncActive(m)
}

// releaseLocked delivers, in order, the messages at the front of l's queue
// that may go at now: the link is not paused and each is due. It returns
// when the first remaining message is due, or zero if none remains or the
// link is paused. l.mu is held.
func (m *MemNet) releaseLocked(l *link, now time.Time) time.Time {
	if l.paused() {
		return time.Time{}
	}
	for len(l.queue) > 0 {
		head := l.queue[0]
		if head.due.After(now) {
			return head.due
		}
		l.queue[0] = heldMsg{}
		l.queue = l.queue[1:]
		m.deliver(head.msg)
	}
	l.queue = nil
	return time.Time{}
}

// startTimingLocked starts the goroutine that delivers l's delayed
// messages when due, unless it runs already. cfg and l.mu are held and the
// network is open, so Close waits for it.
func (m *MemNet) startTimingLocked(l *link) {
	if l.wake != nil {
		return
	}
	l.wake = make(chan struct{}, 1)
	m.wg.Add(1)
	go m.timeLink(l)
}

// timeLink delivers l's delayed messages when due, until Close.
func (m *MemNet) timeLink(l *link) {
	defer m.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		next := m.releaseLocked(l, time.Now())
		l.syncActive(m)
		l.mu.Unlock()
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(next))
		}
		select {
		case <-m.done:
			return
		case <-l.wake:
		case <-timer.C:
		}
	}
}

// linkKey names a directed link.
type linkKey struct{ from, to NodeID }

// heldMsg is a message a link holds, with the time it is due (zero: as
// soon as the link is not paused).
type heldMsg struct {
	msg Message
	due time.Time
}

// link is the state of one directed link. Fields are guarded by mu, except
// key, which never changes.
type link struct {
	mu  sync.Mutex
	key linkKey

	pausedLink bool          // PauseLink
	pausedNode uint8         // bit 0: from is paused by PauseNode; bit 1: to is
	cut        bool          // a partition separates from and to
	drop       bool          // DropLink
	dropNext   int           // DropNext still to drop; only shrinks between calls
	delay      time.Duration // Delay; 0: none
	closed     bool          // Close ran: everything is dropped

	// queue holds messages in Send order, each paused or not yet due.
	// Invariant: when the link is open, queue[0] is not due yet, except
	// for the moment before the timing goroutine wakes.
	queue []heldMsg

	active bool          // counted in MemNet.active; see wantActive
	wake   chan struct{} // nil until the first Delay; nudges timeLink
}

// paused reports whether the link holds its messages.
func (l *link) paused() bool { return l.pausedLink || l.pausedNode != 0 }

// setNodePaused records whether PauseNode(id) holds the link, for each of
// its ends that is id.
func (l *link) setNodePaused(id NodeID, on bool) {
	for end, node := range [2]NodeID{l.key.from, l.key.to} {
		if node == id {
			l.pausedNode &^= 1 << end
			if on {
				l.pausedNode |= 1 << end
			}
		}
	}
}

// drops reports whether the next message on the link is dropped, using
// up one DropNext if so.
func (l *link) drops() bool {
	switch {
	case l.closed || l.cut || l.drop:
		return true
	case l.dropNext > 0:
		l.dropNext--
		return true
	}
	return false
}

// heal removes the link's faults and makes its held messages due now.
func (l *link) heal() {
	l.pausedLink, l.pausedNode, l.cut, l.drop = false, 0, false, false
	l.dropNext, l.delay = 0, 0
	for i := range l.queue {
		l.queue[i].due = time.Time{}
	}
}

// wantActive reports whether the link must keep Send off the fast path.
func (l *link) wantActive() bool {
	if l.closed {
		return false
	}
	return l.paused() || l.cut || l.drop || l.dropNext > 0 || l.delay > 0 || len(l.queue) > 0
}

// syncActive brings l.active and m.active in line with the link's state.
// l.mu is held.
func (l *link) syncActive(m *MemNet) {
	want := l.wantActive()
	if want == l.active {
		return
	}
	l.active = want
	if want {
		m.active.Add(1)
	} else {
		m.active.Add(-1)
	}
}

// checkInvariants reports the first broken invariant of m. Call it when no
// Send runs and no delayed message is falling due.
func (m *MemNet) checkInvariants() error {
	m.cfg.Lock()
	defer m.cfg.Unlock()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var wantActive int64
	for _, flag := range []bool{m.nodesPaused, m.partitioned, m.closed} {
		if flag {
			wantActive++
		}
	}
	var held uint64
	for k, l := range m.links {
		l.mu.Lock()
		if l.active != l.wantActive() {
			l.mu.Unlock()
			return fmt.Errorf("link %v: active=%v, want %v", k, l.active, !l.active)
		}
		if l.active {
			wantActive++
		}
		if !l.paused() && len(l.queue) > 0 && l.queue[0].due.IsZero() {
			l.mu.Unlock()
			return fmt.Errorf("link %v: open but holds %d messages", k, len(l.queue))
		}
		held += uint64(len(l.queue))
		l.mu.Unlock()
	}
	if got := m.active.Load(); got != wantActive {
		return fmt.Errorf("active=%d, want %d", got, wantActive)
	}
	if c := m.Counts(); c.Sent != c.Delivered+c.Dropped+held {
		return fmt.Errorf("counts %+v with %d held do not add up", c, held)
	}
	return nil
}
