package replstore

import (
	"fmt"
	"strconv"
	"time"
)

// The client operations beyond Put, CompareAndSwap and Get: Delete,
// AppendSample, and reads of several things at one view (GetMany, Range,
// Latest, and a Read transaction of all of them), in every read mode.
// The history checks (simhistory_test.go) treat each key and each series
// as one object: every read of an object is compared with the final
// log's state at the read's view, and porcupine checks each object's
// Leader reads and writes. A read of several objects is checked as one
// read of each, at one view (consistent prefix) and in one interval
// (linearizable object by object; that the objects were read at once is
// what the view check adds).

const (
	simSeries      = 2 // series s0, s1
	simSampleTimes = 4 // sample times 0..3: appending at a time held replaces
	simReadShapes  = 4 // readGetMany, readRange, readLatest, readTx
)

// Shapes of a simReadMany (op.Key / simSeries; op.Key % simSeries is the
// series).
const (
	readGetMany = iota // GetMany of every key
	readRange          // Range of one series over times [1, 3)
	readLatest         // Latest of one series
	readTx             // Read(func(*ReadTx)): every key, every series' whole range
)

var readShapeNames = [...]string{"GetMany", "Range", "Latest", "Read"}

func simSeriesName(s int) string { return "s" + strconv.Itoa(s) }

// simSampleTime is the time of sample slot t.
func simSampleTime(t int) time.Time { return time.Unix(1_700_000_000+int64(t), 0).UTC() }

// simSampleState is one time slot of a series: the value there (0: no
// sample) and the entry that wrote it.
type simSampleState struct {
	val int
	pos Position
}

// simObjRead is what a read saw of one object: a key's record, or the
// samples of a series in [from, to) (or only its latest).
type simObjRead struct {
	touched  bool
	from, to int  // series: the range read
	latest   bool // series: Latest, not Range
	found    bool // key
	val      int
	pos      Position
	samples  [simSampleTimes]simSampleState // series: the slots read; the rest zero
}

// simManyRead is what a simReadMany saw: one entry per object, keys
// first, then series.
type simManyRead struct {
	shape int
	objs  [simKeys + simSeries]simObjRead
}

func (c *simCall) isWrite() bool {
	return c.kind == callPut || c.kind == callCAS || c.kind == callDelete || c.kind == callSample
}

func (c *simCall) isRead() bool { return c.kind == callRead || c.kind == callReadMany }

// object is the object a write or a single-key read touches.
func (c *simCall) object() int {
	if c.kind == callSample {
		return simKeys + c.key
	}
	return c.key
}

// commandData encodes a write call's command.
func (c *simCall) commandData() []byte {
	key := simKey(c.key)
	val := []byte(strconv.Itoa(c.value))
	switch c.kind {
	case callCAS:
		return AppendCompareAndSwap(nil, key, c.expect, val)
	case callDelete:
		return AppendDelete(nil, key)
	case callSample:
		return AppendSample(nil, simSeriesName(c.key), simSampleTime(c.sampleT), float64(c.value))
	}
	return AppendPut(nil, key, val)
}

// readMany reads what call c's shape asks from tx.
func (w *simWorld) readMany(tx *ReadTx, c *simCall, n *simNode) {
	m := &simManyRead{shape: c.key / simSeries}
	c.many = m
	readKey := func(k int) {
		o := &m.objs[k]
		o.touched = true
		rec, ok := tx.Get(simKey(k))
		if o.found = ok; ok {
			o.pos = rec.Pos
			v, err := strconv.Atoi(string(rec.Value))
			if err != nil {
				w.violate("read of %s on %s: value %q is not one the simulation wrote", simKey(k), n.id, rec.Value)
			}
			o.val = v
		}
	}
	readSeries := func(s, from, to int, latest bool) {
		o := &m.objs[simKeys+s]
		o.touched, o.from, o.to, o.latest = true, from, to, latest
		var got []Sample
		if latest {
			if sm, ok := tx.Latest(simSeriesName(s)); ok {
				got = []Sample{sm}
			}
		} else {
			got = tx.Range(simSeriesName(s), simSampleTime(from), simSampleTime(to))
		}
		for _, sm := range got {
			t := int(sm.Time.Unix() - simSampleTime(0).Unix())
			if t < 0 || t >= simSampleTimes || sm.Time != simSampleTime(t) || sm.Value != float64(int(sm.Value)) || sm.Value < 1 {
				w.violate("read of %s on %s: sample (%v, %v) is not one the simulation wrote", simSeriesName(s), n.id, sm.Time, sm.Value)
				return
			}
			if !latest && (t < from || t >= to) {
				w.violate("Range [%d, %d) of %s on %s returned a sample at %d", from, to, simSeriesName(s), n.id, t)
				return
			}
			o.samples[t] = simSampleState{val: int(sm.Value), pos: sm.Pos}
		}
	}
	series := c.key % simSeries
	switch m.shape {
	case readGetMany:
		for k := range simKeys {
			readKey(k)
		}
	case readRange:
		readSeries(series, 1, 3, false)
	case readLatest:
		readSeries(series, 0, simSampleTimes, true)
	default:
		for k := range simKeys {
			readKey(k)
		}
		for s := range simSeries {
			readSeries(s, 0, simSampleTimes, false)
		}
	}
}

// seriesView is what a read of o's shape shows of a series whose slots
// are all.
func (o *simObjRead) seriesView(all [simSampleTimes]simSampleState) [simSampleTimes]simSampleState {
	var out [simSampleTimes]simSampleState
	if o.latest {
		for t := simSampleTimes - 1; t >= 0; t-- {
			if all[t].val != 0 {
				out[t] = all[t]
				break
			}
		}
		return out
	}
	for t := o.from; t < o.to; t++ {
		out[t] = all[t]
	}
	return out
}

// describe prints what a read of one object saw.
func (o *simObjRead) describe(obj int) string {
	if obj < simKeys {
		if !o.found {
			return simKey(obj) + " absent"
		}
		return fmt.Sprintf("%s = %d at %v", simKey(obj), o.val, o.pos)
	}
	what := fmt.Sprintf("Range [%d,%d)", o.from, o.to)
	if o.latest {
		what = "Latest"
	}
	return fmt.Sprintf("%s %s: %v", simSeriesName(obj-simKeys), what, o.samples)
}

// checkManyRead compares one simReadMany with the final log's state at
// its view (called by checkReadPrefixes).
func (w *simWorld) checkManyRead(r *simReplay, i int) {
	c := &w.calls[i]
	for obj := range c.many.objs {
		o := &c.many.objs[obj]
		if !o.touched || w.fail != nil {
			continue
		}
		want := r.objAt(obj, c.view.LSN, o)
		if *o != want {
			w.violate("read %d (%s %s) on %s at view %v got %s; the final log up to there gives %s",
				i, readShapeNames[c.many.shape], readModeNames[c.mode], c.node, c.view, o.describe(obj), want.describe(obj))
		}
	}
}

// objAt is what a read shaped like o sees of obj once the final log is
// applied up to lsn.
func (r *simReplay) objAt(obj int, lsn LSN, o *simObjRead) simObjRead {
	want := simObjRead{touched: true, from: o.from, to: o.to, latest: o.latest}
	if obj < simKeys {
		if s := r.at(obj, lsn); s.found {
			want.found, want.val, want.pos = true, s.val, s.pos
		}
		return want
	}
	want.samples = o.seriesView(r.seriesAt(obj-simKeys, lsn))
	return want
}

// seriesAt is series s's slots once the final log is applied up to lsn.
func (r *simReplay) seriesAt(s int, lsn LSN) [simSampleTimes]simSampleState {
	var out [simSampleTimes]simSampleState
	for _, ss := range r.series[s] {
		if ss.lsn > lsn {
			break
		}
		out = ss.slots
	}
	return out
}
