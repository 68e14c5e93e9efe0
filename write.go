package replstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Write appends a raw command (for a custom StateMachine; the built-in
// store's commands are made by AppendPut and friends) and returns when it
// is committed under the commit rule and applied on the leader. The
// returned Position is the write's place in the log; the error is the
// state machine's result for the command, or why it was not acknowledged.
// The cluster owns cmd afterwards: do not modify it.
//
// If ctx ends first, nothing is lost silently: a write not yet appended is
// dropped (ctx's error), a write already appended fails with
// NotAcknowledgedError, which says where it is.
func (cl *Cluster) Write(ctx context.Context, cmd []byte) (Position, error) {
	if err := checkCommand(&cl.cfg, cmd); err != nil {
		return Position{}, err
	}
	return cl.write(ctx, cmd)
}

// checkCommand refuses an empty or oversized raw command.
func checkCommand(cfg *Config, cmd []byte) error {
	if len(cmd) == 0 {
		return ErrEmptyCommand
	}
	if max := maxCommandBytes(cfg); len(cmd) > max {
		return fmt.Errorf("%w: command is %d bytes, limit %d", ErrValueTooLarge, len(cmd), max)
	}
	return nil
}

// Put sets key to value. The record's version becomes the write's LSN.
func (cl *Cluster) Put(ctx context.Context, key string, value []byte) (Position, error) {
	if err := cl.checkKeyValue(key, value); err != nil {
		return Position{}, err
	}
	return cl.write(ctx, AppendPut(make([]byte, 0, PutSize(key, value)), key, value))
}

// Delete removes key; deleting an absent key is not an error.
func (cl *Cluster) Delete(ctx context.Context, key string) (Position, error) {
	if err := cl.checkKeyValue(key, nil); err != nil {
		return Position{}, err
	}
	return cl.write(ctx, AppendDelete(nil, key))
}

// CompareAndSwap sets key to value only if the record's version (the LSN
// that last wrote it) is version; version 0 means "only if absent". On a
// mismatch it returns ErrVersionMismatch and changes nothing (the
// command still took an LSN, which it returns). This is "reserve cabin
// C14 only if it is still free".
func (cl *Cluster) CompareAndSwap(ctx context.Context, key string, version LSN, value []byte) (Position, error) {
	if err := cl.checkKeyValue(key, value); err != nil {
		return Position{}, err
	}
	return cl.write(ctx, AppendCompareAndSwap(nil, key, version, value))
}

// AppendSample adds a sample (t, v) to a time series. A series holds one
// sample per time: a sample at a time the series already holds replaces
// that sample (last write wins, in log order), it is not added beside it.
// t is stored as Unix nanoseconds: a time outside what an int64 holds
// (before 1677-09-21, after 2262-04-11) fails with ErrSampleTimeOutOfRange
// and writes nothing.
func (cl *Cluster) AppendSample(ctx context.Context, series string, t time.Time, v float64) (Position, error) {
	if err := cl.checkKeyValue(series, nil); err != nil {
		return Position{}, err
	}
	if err := checkSampleTime(t); err != nil {
		return Position{}, err
	}
	return cl.write(ctx, AppendSample(nil, series, t, v))
}

// checkSampleTime refuses a time that Unix nanoseconds cannot hold.
func checkSampleTime(t time.Time) error {
	if t.Before(minSampleTime) || t.After(maxSampleTime) {
		return fmt.Errorf("%w: %s; Unix nanoseconds hold %s to %s", ErrSampleTimeOutOfRange,
			t.UTC().Format(time.RFC3339Nano), minSampleTime.UTC().Format(time.RFC3339Nano), maxSampleTime.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func (cl *Cluster) checkKeyValue(key string, value []byte) error {
	return checkKeyValue(&cl.cfg, key, value)
}

// checkKeyValue refuses an empty or oversized key and an oversized value.
func checkKeyValue(cfg *Config, key string, value []byte) error {
	switch {
	case key == "":
		return ErrEmptyKey
	case len(key) > cfg.MaxKeyBytes:
		return fmt.Errorf("%w: %d bytes, limit %d (Config.MaxKeyBytes)", ErrKeyTooLarge, len(key), cfg.MaxKeyBytes)
	case len(value) > cfg.MaxValueBytes:
		return fmt.Errorf("%w: %d bytes, limit %d (Config.MaxValueBytes)", ErrValueTooLarge, len(value), cfg.MaxValueBytes)
	}
	return nil
}

// write sends cmd to the leader and waits for its answer, honouring ctx.
// A write the leader refused before appending it (it stopped leading, or
// is handing over) is sent again to the next leader: it was never in any
// log, so this cannot apply it twice.
func (cl *Cluster) write(ctx context.Context, cmd []byte) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, fmt.Errorf("replstore: write not sent: %w", err)
	}
	var refusedBy *node
	for {
		n := cl.leader.Load()
		if n == nil || n == refusedBy {
			var err error
			if n, err = cl.awaitLeader(ctx, refusedBy); err != nil {
				return Position{}, err
			}
		}
		pos, err, appended := cl.writeTo(ctx, n, cmd)
		if appended || !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNodeDown) {
			return pos, err
		}
		refusedBy = n
	}
}

// writeTo sends cmd to node n. The node answers every request it accepts
// exactly once (see mailbox), so waiting on done alone cannot hang past
// ctx. appended reports whether the write reached n's log.
func (cl *Cluster) writeTo(ctx context.Context, n *node, cmd []byte) (pos Position, err error, appended bool) {
	r := getRequest(cmd)
	n.mbox.writers.Add(1)
	defer n.mbox.writers.Add(-1)
	if !n.mbox.propose(r) {
		putRequest(r)
		<-n.done
		return Position{}, fmt.Errorf("%w; write not sent", n.stopErr), false
	}
	var res result
	if done := ctx.Done(); done == nil {
		res = <-r.done
	} else {
		select {
		case res = <-r.done:
		case <-done:
			r.cause = ctx.Err()
			n.mbox.call(func() { n.cancel(r) }) // if the node stopped, it answered already
			res = <-r.done
		}
	}
	putRequest(r)
	return res.pos, res.err, res.pos.LSN != 0
}
