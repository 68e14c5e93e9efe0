package replstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Session is one client's sequence of reads and writes. It keeps the
// client's causal high-water mark, its Token: the highest position it has
// written (acknowledged writes only) or read. Reads go through the
// session's mode unless a read passes Via; under SessionConsistent they
// never show the session less than its token. Hand the token to another
// session (another service, another process) with Token and Adopt.
//
// A Session is safe for concurrent use; concurrent calls all merge into
// its one token.
type Session struct {
	cl   *Cluster // one of cl and nd
	nd   *Node
	mode ReadRouter
	seq  atomic.Uint64 // reads routed so far

	mu  sync.Mutex
	tok Token // only grows (Token.Merge)
}

// NewSession starts a session whose reads use mode by default; a nil mode
// is SessionConsistent{}.
func (cl *Cluster) NewSession(mode ReadRouter) *Session {
	if mode == nil {
		mode = SessionConsistent{}
	}
	return &Session{cl: cl, mode: mode}
}

// Mode returns the session's default read mode.
func (s *Session) Mode() ReadRouter { return s.mode }

// Token returns the session's high-water mark.
func (s *Session) Token() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}

// Adopt merges t into the session's token, so that its reads under
// SessionConsistent see everything the session that issued t had written
// or read: "a ground station writes, a second service reads". A token
// that ParseToken would refuse (an LSN without an epoch, or an epoch
// without an LSN) fails with ErrBadToken at once and is not merged. A
// well-formed token this cluster never issued (past the end of the
// leader's log) is found only by the next read, which fails with
// ErrBadToken.
func (s *Session) Adopt(t Token) error {
	if err := t.check(); err != nil {
		return err
	}
	s.observe(t)
	return nil
}

// observe merges t into the token.
func (s *Session) observe(t Token) {
	s.mu.Lock()
	s.tok = s.tok.Merge(t)
	s.mu.Unlock()
}

// wrote merges a write's position into the token if the write committed:
// without error, or with a state machine result that is only given once
// the write committed and applied.
func (s *Session) wrote(pos Position, err error) (Position, error) {
	if pos.LSN != 0 && (err == nil || errors.Is(err, ErrVersionMismatch) || errors.Is(err, ErrBadCommand)) {
		s.observe(Token(pos))
	}
	return pos, err
}

// Put is Cluster.Put; the session learns the write's position.
func (s *Session) Put(ctx context.Context, key string, value []byte) (Position, error) {
	if s.nd != nil {
		return s.wrote(s.nd.Put(ctx, key, value))
	}
	return s.wrote(s.cl.Put(ctx, key, value))
}

// Delete is Cluster.Delete; the session learns the write's position.
func (s *Session) Delete(ctx context.Context, key string) (Position, error) {
	if s.nd != nil {
		return s.wrote(s.nd.Delete(ctx, key))
	}
	return s.wrote(s.cl.Delete(ctx, key))
}

// CompareAndSwap is Cluster.CompareAndSwap; the session learns the write's
// position, also when it failed with ErrVersionMismatch (it committed,
// and its result reflects the state there).
func (s *Session) CompareAndSwap(ctx context.Context, key string, version LSN, value []byte) (Position, error) {
	if s.nd != nil {
		return s.wrote(s.nd.CompareAndSwap(ctx, key, version, value))
	}
	return s.wrote(s.cl.CompareAndSwap(ctx, key, version, value))
}

// AppendSample is Cluster.AppendSample (a sample at a time the series
// already holds replaces it); the session learns the write's position.
func (s *Session) AppendSample(ctx context.Context, series string, t time.Time, v float64) (Position, error) {
	if s.nd != nil {
		return s.wrote(s.nd.AppendSample(ctx, series, t, v))
	}
	return s.wrote(s.cl.AppendSample(ctx, series, t, v))
}

// Write is Cluster.Write; the session learns the write's position.
func (s *Session) Write(ctx context.Context, cmd []byte) (Position, error) {
	if s.nd != nil {
		return s.wrote(s.nd.Write(ctx, cmd))
	}
	return s.wrote(s.cl.Write(ctx, cmd))
}

// Get is Cluster.Get in the session's mode; the session learns the view's
// position.
func (s *Session) Get(ctx context.Context, key string, opts ...ReadOption) (Record, bool, Served, error) {
	if s.nd != nil {
		return s.nd.get(ctx, s, key, opts)
	}
	return s.cl.get(ctx, s, key, opts)
}

// GetMany is Cluster.GetMany in the session's mode.
func (s *Session) GetMany(ctx context.Context, keys []string, opts ...ReadOption) (map[string]Record, Served, error) {
	if s.nd != nil {
		return s.nd.getMany(ctx, s, keys, opts)
	}
	return s.cl.getMany(ctx, s, keys, opts)
}

// Latest is Cluster.Latest in the session's mode.
func (s *Session) Latest(ctx context.Context, series string, opts ...ReadOption) (Sample, bool, Served, error) {
	if s.nd != nil {
		return s.nd.latest(ctx, s, series, opts)
	}
	return s.cl.latest(ctx, s, series, opts)
}

// Range is Cluster.Range in the session's mode.
func (s *Session) Range(ctx context.Context, series string, from, to time.Time, opts ...ReadOption) ([]Sample, Served, error) {
	if s.nd != nil {
		return s.nd.rangeSamples(ctx, s, series, from, to, opts)
	}
	return s.cl.rangeSamples(ctx, s, series, from, to, opts)
}

// Read is Cluster.Read in the session's mode. A session of a Node has
// no Read: fn cannot travel to another replica (use GetMany).
func (s *Session) Read(ctx context.Context, fn func(tx *ReadTx), opts ...ReadOption) (Served, error) {
	if s.nd != nil {
		return Served{}, fmt.Errorf("replstore: Session.Read: a Node's session reads by query (Get, GetMany, Latest, Range): %w", errors.ErrUnsupported)
	}
	return s.cl.read(ctx, s, opts, fn)
}
