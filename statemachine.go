package replstore

import "io"

// StateMachine is what the log drives. Apply is called with committed
// entries in LSN order, exactly once each on a replica (after a Restore,
// from the snapshot's position on). It must be deterministic: the same
// entries in the same order give the same state and the same results on
// every replica. It must not read a clock (use Entry.Time).
//
// Reads may come from other goroutines while Apply runs: implementations
// synchronise their own reads.
type StateMachine interface {
	// Apply applies one command entry. The returned error is the command's
	// result (for example ErrVersionMismatch) and is handed to the client
	// that wrote it; it must not leave the state half changed.
	Apply(e Entry) error
	// Snapshot writes the whole state to w.
	Snapshot(w io.Writer) error
	// Restore replaces the whole state with a snapshot read from r. It
	// must reject a corrupted or truncated snapshot without changing the
	// state.
	Restore(r io.Reader) error
}
