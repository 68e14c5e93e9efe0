package replstore

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Test for them with errors.Is; most are wrapped with
// details.
var (
	// ErrClosed is returned by every call on a Cluster or a Node after
	// its Close (a Cluster's Nodes close with it), and by storage that
	// wraps it (package wal) after the store's Close.
	ErrClosed = errors.New("replstore: closed")
	// ErrUnknownNode names a node that is not part of the cluster.
	ErrUnknownNode = errors.New("replstore: unknown node")
	// ErrEmptyKey is returned for a write or read with an empty key or
	// series name.
	ErrEmptyKey = errors.New("replstore: empty key")
	// ErrKeyTooLarge is returned for a key or series name longer than
	// Config.MaxKeyBytes.
	ErrKeyTooLarge = errors.New("replstore: key too large")
	// ErrValueTooLarge is returned for a value longer than
	// Config.MaxValueBytes.
	ErrValueTooLarge = errors.New("replstore: value too large")
	// ErrSampleTimeOutOfRange is returned by AppendSample for a sample
	// time that its encoding, Unix nanoseconds in an int64, cannot hold:
	// before 1677-09-21 00:12:43.145224192 UTC or after
	// 2262-04-11 23:47:16.854775807 UTC. Nothing is written.
	ErrSampleTimeOutOfRange = errors.New("replstore: sample time out of range")
	// ErrEmptyCommand is returned by Write for an empty command.
	ErrEmptyCommand = errors.New("replstore: empty command")
	// ErrBadCommand is returned when a command cannot be decoded.
	ErrBadCommand = errors.New("replstore: malformed command")
	// ErrVersionMismatch is the result of a CompareAndSwap whose expected
	// version is not the record's current one. Nothing was written.
	ErrVersionMismatch = errors.New("replstore: version mismatch")
	// ErrNotAcknowledged is returned when a write's context ends after the
	// leader appended it but before its commit rule held. The write was not
	// acknowledged and never will be to this caller; it stays in the
	// leader's log and may still commit if the sync set comes back (check
	// with a read), or be rolled back by a failover. See
	// NotAcknowledgedError.
	ErrNotAcknowledged = errors.New("replstore: write not acknowledged")
	// ErrNotLeader is returned when a node that does not lead is asked to
	// do what only the leader does.
	ErrNotLeader = errors.New("replstore: not the leader")
	// ErrStaleEpoch says a newer epoch has begun: a leader that learns it
	// (its followers refuse its appends, or the coordinator fences it)
	// fails its pending writes and Leader reads with ErrNotLeader and
	// ErrStaleEpoch. Nodes refuse every message from an older epoch.
	ErrStaleEpoch = errors.New("replstore: stale epoch")
	// ErrAlreadyLeader is returned by Switchover to the node that already
	// leads: nothing was done (no fencing round, no new epoch); and by
	// SetSync and RemoveFollower naming the leader, which is no follower
	// (move leadership first).
	ErrAlreadyLeader = errors.New("replstore: already the leader")
	// ErrTopologyChangePending is returned by SetSync, AddFollower and
	// RemoveFollower while the leader's previous topology change waits
	// for the coordinator to record it, or has not settled: nothing was
	// done; retry later.
	ErrTopologyChangePending = errors.New("replstore: a topology change is pending")
	// ErrNodeDown is returned for a node that has been crashed and not
	// restarted.
	ErrNodeDown = errors.New("replstore: node down")
	// ErrCompacted is returned when entries were already dropped from the
	// log by compaction.
	ErrCompacted = errors.New("replstore: log entries compacted")
	// ErrNoEntry is returned for an LSN past the end of the log.
	ErrNoEntry = errors.New("replstore: no such log entry")
	// ErrInvalidConfig is wrapped by every error Config.Validate returns.
	ErrInvalidConfig = errors.New("replstore: invalid config")
)

// NotAcknowledgedError is the error of a write whose context ended while it
// waited for its commit rule. Pos is where the leader appended it: the
// write is there, unacknowledged, and may still commit later.
type NotAcknowledgedError struct {
	Pos      Position
	AckLevel AckLevel
	Cause    error // the context's error
	Detail   string
}

func (e *NotAcknowledgedError) Error() string {
	return fmt.Sprintf("replstore: write at %v not acknowledged at level %v: %v (%s); it is in the leader's log and may still commit",
		e.Pos, e.AckLevel, e.Cause, e.Detail)
}

// Is reports ErrNotAcknowledged.
func (e *NotAcknowledgedError) Is(target error) bool { return target == ErrNotAcknowledged }

// Unwrap returns the context's error, so errors.Is(err,
// context.DeadlineExceeded) holds too.
func (e *NotAcknowledgedError) Unwrap() error { return e.Cause }

// errPrefix starts every error message of this package, once.
const errPrefix = "replstore: "

// opError is the error of a call that failed while doing op:
// "replstore: op: cause", where cause is err's message without its own
// "replstore: ", so that the prefix appears once however errors nest.
// errors.Is and errors.As see err.
type opError struct {
	op  string
	err error
}

// withOp wraps err, if not nil, as the error of op (e.g. "stats").
func withOp(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}

func (e *opError) Error() string {
	return errPrefix + e.op + ": " + strings.TrimPrefix(e.err.Error(), errPrefix)
}

func (e *opError) Unwrap() error { return e.err }

// unprefixed is err inside another error's message: it reads as err
// without its "replstore: ", which the outer message carries. errors.Is
// and errors.As see err.
type unprefixed struct{ err error }

// inner returns err, if not nil, to be wrapped with %w in a message that
// starts with "replstore: " itself (fmt.Errorf("%w: ...: %w", ErrX,
// inner(err))).
func inner(err error) error {
	if err == nil {
		return nil
	}
	return unprefixed{err}
}

func (u unprefixed) Error() string { return strings.TrimPrefix(u.err.Error(), errPrefix) }

func (u unprefixed) Unwrap() error { return u.err }
