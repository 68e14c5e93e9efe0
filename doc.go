// Package replstore is an embeddable, single-leader replicated telemetry
// store.
//
// One leader gives every write one place in one log: its Position, the
// leader's Epoch and a log sequence number (LSN). It streams the log to its
// followers, batched and pipelined, tracks each follower's progress, and
// acknowledges a write only when the commit rule holds: by default one
// synchronous follower has stored the entry (ack level Durable). Ack levels
// run from Local (the leader alone: asynchronous replication) through
// Received and Durable to Applied (the write is already readable on the sync
// followers when the caller hears "committed"). The sync set is FIRST n of a
// priority list or ANY n of a set, and a policy (Block, Replace,
// DegradeAfter) says what happens when it cannot answer.
//
// Each node is a deterministic protocol core (no goroutines, no clock, no
// randomness inside it) driven by a thin runtime: one goroutine per node,
// reading a mailbox fed by a Transport. One driver (driver.go) ends every
// batch of inputs: it stores the hard state, and syncs a follower's log,
// before any message of the batch leaves; a leader over a disk log sends
// first and flushes on another goroutine, and counts itself toward commit
// only once that flush is done. The log (LogStore), the hard state
// (HardStateStore), the network (Transport) and the state machine
// (StateMachine) sit behind interfaces; the defaults are in memory (MemLog,
// MemHardState, MemNet with fault injection) and the telemetry store
// (Store): keyed records with compare-and-swap on version, and time series
// of samples. Package wal keeps the log and hard state on disk, package
// tcpnet carries messages between processes (frames of package wire).
//
// A Node is one replica that reaches the others only by messages: a
// service embeds one per process (NewNode), an operator runs
// cmd/replstore-node. A Cluster is several Nodes in one process over a
// MemNet, with a fault API, for tests, examples and learning: start with
// NewCluster and DefaultConfig; see the examples.
package replstore
