package main

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"

	"github.com/replstore/replstore"
)

// stateMachine is -state-machine: what every replica applies writes to.
// The contract asks for replstore's Store ("store", the default); the
// other two measure how much of a write's cost is the state machine's:
// "map" applies each Put into a map from a hash of its key to its
// command, about the work of the harness's baseline-1s1a-apply, and
// "none" applies nothing (the replication path alone). Neither keeps a
// state a read could use, nor snapshots one: they are measurements, not
// state machines to run.
var stateMachine = "store"

// newStateMachine is Config.NewStateMachine for -state-machine, or nil
// for the default.
func newStateMachine(name string) (func() replstore.StateMachine, error) {
	switch name {
	case "store":
		return nil, nil
	case "map":
		seed := maphash.MakeSeed()
		return func() replstore.StateMachine { return &hashMapSM{seed: seed, m: map[uint64][]byte{}} }, nil
	case "none":
		return func() replstore.StateMachine { return noopSM{} }, nil
	}
	return nil, fmt.Errorf("-state-machine %q: want store, map or none", name)
}

// hashMapSM keeps each Put's command under a 64-bit hash of its key.
// Keys whose hashes collide share a slot: a measurement, not a store.
type hashMapSM struct {
	seed maphash.Seed
	m    map[uint64][]byte
}

func (s *hashMapSM) Apply(e replstore.Entry) error {
	// A Put's command is op (1 byte), uvarint key length, key, value;
	// the bench's keys are under 128 bytes, so the length is one byte.
	if e.Kind == replstore.EntryCommand && len(e.Data) >= 2 && int(e.Data[1]) <= len(e.Data)-2 {
		s.m[maphash.Bytes(s.seed, e.Data[2:2+int(e.Data[1])])] = e.Data
	}
	return nil
}

var errNoSnapshot = errors.New("replstore-bench: the -state-machine map and none do not snapshot")

func (s *hashMapSM) Snapshot(io.Writer) error { return errNoSnapshot }
func (s *hashMapSM) Restore(io.Reader) error  { return errNoSnapshot }

// noopSM applies nothing.
type noopSM struct{}

func (noopSM) Apply(replstore.Entry) error { return nil }
func (noopSM) Snapshot(io.Writer) error    { return errNoSnapshot }
func (noopSM) Restore(io.Reader) error     { return errNoSnapshot }
