package replstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Reads through a Node. The node routes each read with the read's mode on
// the replica states it knows: its own, exact, and the others' as the
// leader advertised them on its last heartbeat (advertise.go). A read it
// routes to itself is served from its own Store; one it routes to another
// replica goes there as a MsgRead carrying the query, and comes back as a
// MsgReadResp carrying the data and what served it (Served). A Leader
// read goes to the leader with Confirm set: the leader proves it still
// leads (a heartbeat round answered by its sync quorum) before it reads.
// A replica whose view falls short of what the router asked for refuses,
// and the read is routed again (at most maxRouteAttempts times).

// ReadOp is what a MsgRead asks of a replica.
type ReadOp uint8

// The read operations a MsgRead carries.
const (
	ReadGet         ReadOp = iota + 1 // records of keys (Data: the keys)
	ReadLatest                        // the latest sample of a series
	ReadRange                         // the samples of a series in [from, to)
	ReadWaitApplied                   // wait until applied >= AtLeast.LSN (at most WaitTicks)
	ReadTokenHeld                     // does the log hold the entry at AtLeast?
	ReadStats                         // the leader's Stats (Data: JSON)
	ReadReconfigure                   // a membership change of Target to the role in Data[0]
	ReadFailover                      // to the coordinator: fail over (Confirm: allow data loss); Data: the Decision, JSON
	ReadSwitchover                    // to the coordinator: switch over to Target
)

// readQuery is a read one replica can serve for another.
type readQuery struct {
	op       ReadOp
	keys     []string
	series   string
	from, to int64 // Unix ns, ReadRange
}

// readResult is what a readQuery found.
type readResult struct {
	recs    []Record // ReadGet: the records found
	samples []Sample // ReadLatest (0 or 1), ReadRange
}

// run serves q on tx.
func (q *readQuery) run(tx *ReadTx) readResult {
	var res readResult
	switch q.op {
	case ReadGet:
		for _, k := range q.keys {
			if rec, ok := tx.Get(k); ok {
				res.recs = append(res.recs, rec)
			}
		}
	case ReadLatest:
		if s, ok := tx.Latest(q.series); ok {
			res.samples = append(res.samples, s)
		}
	case ReadRange:
		res.samples = tx.Range(q.series, time.Unix(0, q.from), time.Unix(0, q.to))
	}
	return res
}

// encode appends q's body to dst (the op travels in Message.Op).
func (q *readQuery) encode(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(q.keys)))
	for _, k := range q.keys {
		dst = appendString(dst, k)
	}
	dst = appendString(dst, q.series)
	dst = binary.AppendVarint(dst, q.from)
	return binary.AppendVarint(dst, q.to)
}

// decodeQuery parses a query; it never trusts a length it has not seen
// bytes for.
func decodeQuery(op ReadOp, b []byte) (readQuery, error) {
	q := readQuery{op: op}
	d := decoder{b: b}
	n := d.count(1)
	q.keys = make([]string, 0, n)
	for range n {
		q.keys = append(q.keys, d.string())
	}
	q.series = d.string()
	q.from, q.to = d.varint(), d.varint()
	if d.err != nil {
		return readQuery{}, fmt.Errorf("%w: read query: %w", ErrBadCommand, d.err)
	}
	return q, nil
}

func (r *readResult) encode(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(r.recs)))
	for _, rec := range r.recs {
		dst = appendString(dst, rec.Key)
		dst = binary.AppendUvarint(dst, uint64(len(rec.Value)))
		dst = append(dst, rec.Value...)
		dst = appendPos(dst, rec.Pos)
		dst = binary.AppendVarint(dst, rec.Time.UnixNano())
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.samples)))
	for _, s := range r.samples {
		dst = binary.AppendVarint(dst, s.Time.UnixNano())
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(s.Value))
		dst = appendPos(dst, s.Pos)
	}
	return dst
}

func decodeResult(b []byte) (readResult, error) {
	var r readResult
	d := decoder{b: b}
	n := d.count(4)
	for range n {
		rec := Record{Key: d.string()}
		rec.Value = d.bytes()
		rec.Pos = d.pos()
		rec.Time = time.Unix(0, d.varint())
		r.recs = append(r.recs, rec)
	}
	n = d.count(10)
	for range n {
		s := Sample{Time: time.Unix(0, d.varint())}
		s.Value = math.Float64frombits(d.uint64())
		s.Pos = d.pos()
		r.samples = append(r.samples, s)
	}
	if d.err != nil {
		return readResult{}, fmt.Errorf("replstore: malformed read result: %w", d.err)
	}
	return r, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendPos(dst []byte, p Position) []byte {
	dst = binary.AppendUvarint(dst, uint64(p.Epoch))
	return binary.AppendUvarint(dst, uint64(p.LSN))
}

// decoder reads what the append functions wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items of at least minBytes each, refusing one
// the remaining bytes cannot hold.
func (d *decoder) count(minBytes int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minBytes) {
		d.err = fmt.Errorf("count %d exceeds the %d bytes left", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.err = errShort
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) pos() Position {
	return Position{Epoch: Epoch(d.uvarint()), LSN: LSN(d.uvarint())}
}

// serveRemote answers a MsgRead on the node's goroutine.
func (n *node) serveRemote(m Message) {
	c := n.core
	reply := func(data []byte, view Position, confirmed bool, err error) {
		if limit := n.env.coreCfg.maxMessageBytes; limit > 0 && len(data) > limit {
			// The transport would drop the answer and the reader would
			// wait for it until its context ends: say why instead.
			err = fmt.Errorf("%w: the read's result is %d bytes, more than one message carries (MaxMessageBytes %d): read fewer keys or a shorter range, or raise the transport's frame limit",
				ErrValueTooLarge, len(data), limit)
			data, view, confirmed = nil, Position{}, false
		}
		code, text := encodeErr(err)
		if _, retry := err.(*retryError); retry {
			code = ErrCodeRetry
		}
		n.env.tr.Send(Message{Kind: MsgReadResp, From: n.id, To: m.From, Epoch: c.epoch, ReqID: m.ReqID,
			Data: data, Last: view, Confirm: confirmed, ErrCode: code, ErrText: text})
	}
	switch m.Op {
	case ReadTokenHeld:
		if c.role != roleLeader {
			reply(nil, Position{}, false, fmt.Errorf("%w: %s does not lead (epoch %d)", ErrNotLeader, n.id, c.epoch))
			return
		}
		if m.AtLeast.LSN > c.last.LSN || m.AtLeast.Epoch > c.epoch {
			reply(nil, Position{}, false, fmt.Errorf("%w: %v is past the end of leader %s's log (at %v): it names an entry this cluster never had, or one a failover lost",
				ErrBadToken, m.AtLeast, n.id, c.last))
			return
		}
		if !c.holds(m.AtLeast) {
			reply(nil, Position{}, false, fmt.Errorf("%w: %v; leader %s holds another entry at LSN %d", ErrTokenLost, m.AtLeast, n.id, m.AtLeast.LSN))
			return
		}
		reply(nil, c.last, false, nil)
		return
	case ReadReconfigure:
		n.serveReconfigure(m, reply)
		return
	case ReadStats:
		data, err := n.serveStats()
		reply(data, c.last, false, err)
		return
	case ReadWaitApplied:
		lsn := m.AtLeast.LSN
		n.conds = append(n.conds, cond{pred: func(c *core) bool { return c.applied >= lsn },
			fn:    func(err error) { reply(nil, Position{}, false, err) },
			until: c.tick + uint64(max(m.WaitTicks, 1))})
		n.checkConds()
		return
	}
	q, err := decodeQuery(m.Op, m.Data)
	if err != nil || m.Op < ReadGet || m.Op > ReadRange {
		reply(nil, Position{}, false, fmt.Errorf("%w: read op %d: %v", ErrBadCommand, m.Op, err))
		return
	}
	serve := func(confirmed bool) {
		if !confirmed && c.role != roleLeader && !c.caughtUp {
			reply(nil, Position{}, false, &retryError{fmt.Sprintf("%s has not caught up since it started", n.id)})
			return
		}
		data, view, err := n.serveQuery(&q, m.AtLeast)
		reply(data, view, confirmed, err)
	}
	if !m.Confirm {
		serve(false)
		return
	}
	n.startRead(func(err error) {
		if err != nil {
			reply(nil, Position{}, false, err)
			return
		}
		serve(true)
	})
}

// serveQuery runs q on the node's Store if its view reaches atLeast, and
// encodes the result.
func (n *node) serveQuery(q *readQuery, atLeast Position) ([]byte, Position, error) {
	st := n.store()
	if st == nil {
		return nil, Position{}, fmt.Errorf("replstore: read from %s: its state machine is not the built-in Store: %w", n.id, errors.ErrUnsupported)
	}
	var res readResult
	var view Position
	short := false
	st.Read(func(tx *ReadTx) {
		view = tx.Applied()
		if short = !Token(atLeast).SatisfiedBy(view); !short {
			res = q.run(tx)
		}
	})
	if short {
		return nil, view, &retryError{fmt.Sprintf("%s's view at %v falls short of %v", n.id, view, atLeast)}
	}
	return res.encode(nil), view, nil
}

// call sends m (a MsgRead) from this node and waits for its answer.
func (n *node) call(ctx context.Context, m Message) (Message, error) {
	ch := make(chan Message, 1)
	var id uint64
	if !n.mbox.call(func() {
		n.fwd.nextID++
		id = n.fwd.nextID
		if n.fwd.calls == nil {
			n.fwd.calls = map[uint64]chan Message{}
		}
		n.fwd.calls[id] = ch
		m.ReqID, m.From, m.Epoch = id, n.id, n.core.epoch
		n.env.tr.Send(m)
	}) {
		<-n.done
		return Message{}, n.stopErr
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-n.done:
		return Message{}, n.stopErr
	case <-ctx.Done():
		n.mbox.call(func() { delete(n.fwd.calls, id) })
		return Message{}, fmt.Errorf("replstore: no answer from %s: %w", m.To, ctx.Err())
	}
}

// answerCall hands a MsgReadResp to the call waiting for it.
func (n *node) answerCall(m Message) {
	if ch, ok := n.fwd.calls[m.ReqID]; ok {
		delete(n.fwd.calls, m.ReqID)
		ch <- m
	}
}

// respErr is the error a MsgReadResp carries.
func respErr(m Message) error {
	if m.ErrCode == ErrCodeRetry {
		return &retryError{fmt.Sprintf("%s (reported by %s)", m.ErrText, m.From)}
	}
	return decodeErr(m.From, m.ErrCode, m.ErrText)
}

// The Node's side of routing (routeBackend).

// appendReplicas implements routeBackend: the replicas as the leader last
// advertised them, with this node's own state measured now.
func (nd *Node) appendReplicas(dst []ReplicaState, nodes []*node) ([]ReplicaState, []*node, error) {
	n, err := nd.running()
	if err != nil {
		return dst, nodes, err
	}
	ads := n.adsPub.Load()
	self := false
	if ads != nil {
		for _, rs := range *ads {
			if rs.ID == nd.id {
				self = true
				measure(&rs, nd.id, n, n.pub.leaderLast.Load(), nil)
				dst, nodes = append(dst, rs), append(nodes, n)
				continue
			}
			dst, nodes = append(dst, rs), append(nodes, nil)
		}
	}
	if !self {
		var rs ReplicaState
		measure(&rs, nd.id, n, n.pub.leaderLast.Load(), nil)
		dst, nodes = append(dst, rs), append(nodes, n)
	}
	return dst, nodes, nil
}

// checkReplica fails with ErrUnknownNode, as a Cluster does, for an id
// that is no replica this node knows: none the configuration names, none
// the leader advertised (a follower added since). The transport would
// drop a message to it, and the read would wait for its context.
func (nd *Node) checkReplica(n *node, id NodeID) error {
	known := nd.env.cfg.nodes()
	if id == nd.id || slices.Contains(known, id) {
		return nil
	}
	if ads := n.adsPub.Load(); ads != nil {
		for _, rs := range *ads {
			if rs.ID == id {
				return nil
			}
			if !slices.Contains(known, rs.ID) {
				known = append(known, rs.ID)
			}
		}
	}
	return fmt.Errorf("%w: %q (nodes are %v)", ErrUnknownNode, id, known)
}

// WaitApplied on a RouteRequest of a Node: locally, or by message.
func (nd *Node) waitAppliedOn(ctx context.Context, id NodeID, lsn LSN) error {
	if id == nd.id {
		return nd.WaitApplied(ctx, lsn)
	}
	n, err := nd.running()
	if err != nil {
		return err
	}
	if err := nd.checkReplica(n, id); err != nil {
		return withOp(fmt.Sprintf("waiting for %s to apply LSN %d", id, lsn), err) // as Cluster.WaitApplied says it
	}
	resp, err := n.call(ctx, Message{Kind: MsgRead, To: id, Op: ReadWaitApplied, AtLeast: Position{LSN: lsn},
		WaitTicks: waitTicks(ctx, nd.env.cfg.TickInterval)})
	if err != nil {
		return err
	}
	return respErr(resp)
}

// confirmLeader implements routeBackend: a leader proves it leads here;
// a follower sends the read to the leader it knows, which proves it there.
func (nd *Node) confirmLeader(ctx context.Context, tok Token) (Target, error) {
	n, err := nd.running()
	if err != nil {
		return Target{}, err
	}
	if n.pub.leading.Load() {
		if err := n.confirmLeading(ctx); err != nil {
			return Target{}, err
		}
		return Target{Node: nd.id, AtLeast: Position(tok), node: n, confirmed: true}, nil
	}
	l, err := nd.awaitLeader(ctx)
	if err != nil {
		return Target{}, err
	}
	if l == nd.id { // it stopped leading since: route again
		return Target{}, fmt.Errorf("%w: %s stopped leading", ErrNodeDown, nd.id)
	}
	return Target{Node: l, AtLeast: Position(tok), confirmRemote: true}, nil
}

// checkTokenHeld implements routeBackend: asks the leader.
func (nd *Node) checkTokenHeld(ctx context.Context, pos Position) error {
	n, err := nd.running()
	if err != nil {
		return err
	}
	l, err := nd.awaitLeader(ctx)
	if err != nil {
		return err
	}
	resp, err := n.call(ctx, Message{Kind: MsgRead, To: l, Op: ReadTokenHeld, AtLeast: pos})
	if err != nil {
		return err
	}
	return respErr(resp)
}

func (nd *Node) config() *Config  { return nd.env.cfg }
func (nd *Node) advertised() bool { return true }

// nodeBackend adapts Node to routeBackend (WaitApplied there takes a
// node ID).
type nodeBackend struct{ *Node }

func (b nodeBackend) WaitApplied(ctx context.Context, id NodeID, lsn LSN) error {
	return b.waitAppliedOn(ctx, id, lsn)
}

// read routes q with the read's mode and serves it.
func (nd *Node) read(ctx context.Context, s *Session, opts []ReadOption, q *readQuery) (readResult, Served, error) {
	if err := ctx.Err(); err != nil {
		return readResult{}, Served{}, fmt.Errorf("replstore: read not started: %w", err)
	}
	var router ReadRouter = Leader{}
	var tok Token
	seq := rand.Uint64()
	if s != nil {
		router, tok, seq = s.mode, s.Token(), s.seq.Add(1)-1
	}
	for _, o := range opts {
		if o.router != nil {
			router = o.router
		}
	}
	req := &RouteRequest{Token: tok, Seq: seq, be: nodeBackend{nd}}
	var short error
	for req.Attempt = 0; req.Attempt < maxRouteAttempts; req.Attempt++ {
		if err := req.Refresh(); err != nil {
			return readResult{}, Served{}, err
		}
		t, err := router.Route(ctx, req)
		if err != nil {
			return readResult{}, Served{}, err
		}
		measured, _ := req.state(t.Node)
		res, sv, err := nd.serveTarget(ctx, t, measured, q)
		if err == nil {
			if s != nil {
				s.observe(Token(sv.Applied))
			}
			return res, sv, nil
		}
		if _, retry := err.(*retryError); !retry {
			return readResult{}, Served{}, err
		}
		short = err
		if err := ctx.Err(); err != nil {
			return readResult{}, Served{}, fmt.Errorf("%w: %w (last try: %v)", ErrNoReplica, err, short)
		}
	}
	return readResult{}, Served{}, fmt.Errorf("%w: routed %d times, last: %v", ErrNoReplica, maxRouteAttempts, short)
}

// serveTarget serves q at t: here, or at another replica by message.
func (nd *Node) serveTarget(ctx context.Context, t Target, measured ReplicaState, q *readQuery) (readResult, Served, error) {
	n, err := nd.running()
	if err != nil {
		return readResult{}, Served{}, err
	}
	var sv Served
	var data []byte
	if t.Node == nd.id {
		data, sv.Applied, err = n.serveQuery(q, t.AtLeast)
		sv.Linearizable = t.confirmed
	} else if err = nd.checkReplica(n, t.Node); err != nil {
		return readResult{}, Served{}, withOp(fmt.Sprintf("read routed to %q", t.Node), err) // as Cluster.serve says it
	} else {
		var resp Message
		resp, err = n.call(ctx, Message{Kind: MsgRead, To: t.Node, Op: q.op, Data: q.encode(nil), AtLeast: t.AtLeast, Confirm: t.confirmRemote})
		if err == nil {
			err = respErr(resp)
			data, sv.Applied, sv.Linearizable = resp.Data, resp.Last, resp.Confirm
		}
	}
	if err != nil {
		return readResult{}, Served{}, err
	}
	res, err := decodeResult(data)
	if err != nil {
		return readResult{}, Served{}, err
	}
	sv.Node = t.Node
	sv.Leader = sv.Linearizable || measured.Leader
	sv.LagEntries, sv.LagTime = measured.LagEntries, measured.LagTime
	if sv.Applied.LSN > measured.Applied.LSN {
		sv.LagEntries -= min(uint64(sv.Applied.LSN-measured.Applied.LSN), sv.LagEntries)
	}
	if sv.LagEntries == 0 {
		sv.LagTime = 0
	}
	return res, sv, nil
}

// Get reads the record at key, routed by the read's mode (default Leader:
// linearizable; Via(mode) for another) from this node's view of the
// replicas; the read goes to the chosen replica by message if it is not
// this one. Served says which replica answered.
func (nd *Node) Get(ctx context.Context, key string, opts ...ReadOption) (Record, bool, Served, error) {
	return nd.get(ctx, nil, key, opts)
}

func (nd *Node) get(ctx context.Context, s *Session, key string, opts []ReadOption) (Record, bool, Served, error) {
	if err := checkKeyValue(nd.env.cfg, key, nil); err != nil {
		return Record{}, false, Served{}, err
	}
	res, sv, err := nd.read(ctx, s, opts, &readQuery{op: ReadGet, keys: []string{key}})
	if err != nil || len(res.recs) == 0 {
		return Record{}, false, sv, err
	}
	return res.recs[0], true, sv, nil
}

// GetMany reads several records from one replica at one applied position.
func (nd *Node) GetMany(ctx context.Context, keys []string, opts ...ReadOption) (map[string]Record, Served, error) {
	return nd.getMany(ctx, nil, keys, opts)
}

func (nd *Node) getMany(ctx context.Context, s *Session, keys []string, opts []ReadOption) (map[string]Record, Served, error) {
	for _, k := range keys {
		if err := checkKeyValue(nd.env.cfg, k, nil); err != nil {
			return nil, Served{}, err
		}
	}
	res, sv, err := nd.read(ctx, s, opts, &readQuery{op: ReadGet, keys: keys})
	if err != nil {
		return nil, Served{}, err
	}
	out := make(map[string]Record, len(res.recs))
	for _, r := range res.recs {
		out[r.Key] = r
	}
	return out, sv, nil
}

// Latest reads the sample of series with the greatest time.
func (nd *Node) Latest(ctx context.Context, series string, opts ...ReadOption) (Sample, bool, Served, error) {
	return nd.latest(ctx, nil, series, opts)
}

func (nd *Node) latest(ctx context.Context, s *Session, series string, opts []ReadOption) (Sample, bool, Served, error) {
	if err := checkKeyValue(nd.env.cfg, series, nil); err != nil {
		return Sample{}, false, Served{}, err
	}
	res, sv, err := nd.read(ctx, s, opts, &readQuery{op: ReadLatest, series: series})
	if err != nil || len(res.samples) == 0 {
		return Sample{}, false, sv, err
	}
	return res.samples[0], true, sv, nil
}

// Range reads the samples of series with from <= Time < to, in time
// order, from one replica at one applied position.
func (nd *Node) Range(ctx context.Context, series string, from, to time.Time, opts ...ReadOption) ([]Sample, Served, error) {
	return nd.rangeSamples(ctx, nil, series, from, to, opts)
}

func (nd *Node) rangeSamples(ctx context.Context, s *Session, series string, from, to time.Time, opts []ReadOption) ([]Sample, Served, error) {
	if err := checkKeyValue(nd.env.cfg, series, nil); err != nil {
		return nil, Served{}, err
	}
	res, sv, err := nd.read(ctx, s, opts, &readQuery{op: ReadRange, series: series, from: from.UnixNano(), to: to.UnixNano()})
	return res.samples, sv, err
}

// Replicas returns every replica's state as this node knows it: its own,
// now, and the others' as the leader last advertised them.
func (nd *Node) Replicas() ([]ReplicaState, error) {
	reps, _, err := nd.appendReplicas(nil, nil)
	return reps, err
}

// NewSession starts a session on this node whose reads use mode by
// default (nil: SessionConsistent{}); its token works on any node of the
// cluster, in any process.
func (nd *Node) NewSession(mode ReadRouter) *Session {
	if mode == nil {
		mode = SessionConsistent{}
	}
	return &Session{nd: nd, mode: mode}
}

// Stats returns the cluster's state as the leader knows it (its commit
// LSN, topology, per-follower progress and lag, sync-set history), asked
// of the leader by message if this node does not lead; Nodes holds the
// leader's own state and this node's.
func (nd *Node) Stats(ctx context.Context) (Stats, error) {
	n, err := nd.running()
	if err != nil {
		return Stats{}, err
	}
	self, err := nd.NodeStats(ctx)
	if err != nil {
		return Stats{}, err
	}
	if n.pub.leading.Load() {
		var st Stats
		if err := n.do(ctx, func() { n.core.leaderStats(&st, time.Now().UnixNano()) }); err != nil {
			return Stats{}, fmt.Errorf("replstore: stats of %s: %w", nd.id, err)
		}
		st.Nodes = []NodeStats{self}
		return st, nil
	}
	l, err := nd.awaitLeader(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("replstore: stats: %w", err)
	}
	resp, err := n.call(ctx, Message{Kind: MsgRead, To: l, Op: ReadStats})
	if err == nil {
		err = respErr(resp)
	}
	if err != nil {
		return Stats{}, fmt.Errorf("replstore: stats from leader %s: %w", l, err)
	}
	var st Stats
	if err := json.Unmarshal(resp.Data, &st); err != nil {
		return Stats{}, fmt.Errorf("replstore: stats from leader %s: malformed answer: %w", l, err)
	}
	st.Nodes = append(st.Nodes, self)
	return st, nil
}

// serveStats answers a ReadStats on the leader's goroutine.
func (n *node) serveStats() ([]byte, error) {
	c := n.core
	if c.role != roleLeader {
		return nil, fmt.Errorf("%w: %s does not lead (epoch %d)", ErrNotLeader, n.id, c.epoch)
	}
	var st Stats
	c.leaderStats(&st, time.Now().UnixNano())
	st.Nodes = []NodeStats{{ID: n.id, Role: c.role.String(), Epoch: c.epoch, First: c.log.First(), Last: c.last, Commit: c.commit, Applied: c.applied}}
	return json.Marshal(st)
}
