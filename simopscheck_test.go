package replstore

import (
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

// The checks the new operations added must be able to fail: each test
// gives them a history they must reject, next to one they must accept.

// TestSimPorcModelSeriesAndRetries: porcupine's model of a series and of
// a retried CAS.
func TestSimPorcModelSeriesAndRetries(t *testing.T) {
	sample := func(val int, slot int, lsn LSN, call, ret int64, st simStatus) porcupine.Operation {
		return porcupine.Operation{Input: simPorcIn{kind: callSample, val: val, t: slot, lsn: lsn}, Call: call, Return: ret, Output: simPorcOut{status: st}}
	}
	rangeRead := func(from, to int, slots [simSampleTimes]simPorcSample, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: 1, Input: simPorcIn{kind: callReadMany, from: from, to: to}, Call: call, Return: ret, Output: simPorcOut{slots: slots}}
	}
	var one [simSampleTimes]simPorcSample
	one[1] = simPorcSample{val: 5, lsn: 2}
	cas := func(val int, expect, lsn LSN, call, ret int64, st simStatus) porcupine.Operation {
		return porcupine.Operation{Input: simPorcIn{kind: callCAS, val: val, expect: expect, lsn: lsn}, Call: call, Return: ret, Output: simPorcOut{status: st}}
	}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"a range read after the sample sees it", []porcupine.Operation{sample(5, 1, 2, 1, 2, statusOK), rangeRead(0, 4, one, 3, 4)}, porcupine.Ok},
		{"a range read after the sample misses it", []porcupine.Operation{sample(5, 1, 2, 1, 2, statusOK), rangeRead(0, 4, [simSampleTimes]simPorcSample{}, 3, 4)}, porcupine.Illegal},
		{"a range outside the slot sees nothing", []porcupine.Operation{sample(5, 1, 2, 1, 2, statusOK), rangeRead(2, 4, [simSampleTimes]simPorcSample{}, 3, 4)}, porcupine.Ok},
		{"latest", []porcupine.Operation{sample(5, 1, 2, 1, 2, statusOK), sample(6, 0, 3, 3, 4, statusOK),
			{ClientId: 1, Input: simPorcIn{kind: callReadMany, latest: true}, Call: 5, Return: 6, Output: simPorcOut{slots: one}}}, porcupine.Ok},
		{"a retried sample replaces itself", []porcupine.Operation{sample(5, 1, 2, 1, 1<<60, statusUnknown), sample(5, 1, 3, 2, 3, statusOK),
			rangeRead(0, 4, [simSampleTimes]simPorcSample{1: {val: 5, lsn: 3}}, 4, 5)}, porcupine.Ok},
		{"a retried CAS fails once the first try applied", []porcupine.Operation{cas(7, 0, 2, 1, 1<<60, statusUnknown), cas(7, 0, 3, 2, 3, statusMismatch)}, porcupine.Ok},
		{"a retried CAS cannot succeed twice", []porcupine.Operation{cas(7, 0, 2, 1, 2, statusOK), cas(7, 0, 3, 3, 4, statusOK)}, porcupine.Illegal},
	} {
		if got := porcupine.CheckOperations(simPorcModel, tc.ops); got != (tc.want == porcupine.Ok) {
			t.Errorf("%s: linearizable = %t, want %t", tc.name, got, tc.want == porcupine.Ok)
		}
	}
}

// TestSimWrittenWhereToldRetries: a value may be in the final log twice
// only if its client sent it twice, each time where it was told.
func TestSimWrittenWhereToldRetries(t *testing.T) {
	put := func(lsn LSN) Entry {
		return Entry{Pos: Position{Epoch: 1, LSN: lsn}, Kind: EntryCommand, Data: AppendPut(nil, "k0", []byte("1"))}
	}
	final := []Entry{{Pos: Position{Epoch: 1, LSN: 1}, Kind: EntryEpoch}, put(2), put(3)}
	for _, tc := range []struct {
		name  string
		calls []simCall
		want  string
	}{
		{"two tries, both applied", []simCall{
			{kind: callPut, value: 1, status: statusUnknown, pos: Position{Epoch: 1, LSN: 2}, retried: true},
			{kind: callPut, value: 1, status: statusOK, pos: Position{Epoch: 1, LSN: 3}, retryOf: 1}}, ""},
		{"one write, applied twice", []simCall{
			{kind: callPut, value: 1, status: statusOK, pos: Position{Epoch: 1, LSN: 2}}}, simGhostWrite},
	} {
		w := &simWorld{calls: tc.calls}
		w.chk.init()
		r, err := replayFinal(final)
		if err != nil {
			t.Fatal(err)
		}
		w.checkWrittenWhereTold(r)
		if got := errText(w.fail); tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSimManyReadChecked: a GetMany whose keys do not all come from its
// view is caught.
func TestSimManyReadChecked(t *testing.T) {
	final := []Entry{{Pos: Position{Epoch: 1, LSN: 1}, Kind: EntryEpoch},
		{Pos: Position{Epoch: 1, LSN: 2}, Kind: EntryCommand, Data: AppendPut(nil, "k0", []byte("1"))},
		{Pos: Position{Epoch: 1, LSN: 3}, Kind: EntryCommand, Data: AppendDelete(nil, "k0")}}
	r, err := replayFinal(final)
	if err != nil {
		t.Fatal(err)
	}
	read := func(found bool) simCall {
		m := &simManyRead{shape: readGetMany}
		for k := range simKeys {
			m.objs[k].touched = true
		}
		if found {
			m.objs[0].found, m.objs[0].val, m.objs[0].pos = true, 1, Position{Epoch: 1, LSN: 2}
		}
		return simCall{kind: callReadMany, status: statusOK, view: Position{Epoch: 1, LSN: 3}, many: m}
	}
	for _, tc := range []struct {
		found bool
		fails bool
	}{{false, false}, {true, true}} {
		w := &simWorld{calls: []simCall{read(tc.found)}}
		w.chk.init()
		w.checkReadPrefixes(r)
		if (w.fail != nil) != tc.fails {
			t.Errorf("a GetMany at view 1:3 that found k0=%t: failure %v, want failure %t", tc.found, w.fail, tc.fails)
		}
	}
}
