package replstore

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The deterministic simulation: rapid draws schedules (simschedule_test.go),
// each runs the real node and coordinator cores in one goroutine over an
// adversarial network in virtual time (simworld_test.go, simnet_test.go),
// every invariant is checked after every step (simcheck_test.go,
// simloss_test.go) and over the whole history after a liveness phase
// (simlive_test.go, simhistory_test.go).
//
//	go test -run TestSimulation .                        # simDefaultSchedules (a tenth with -short)
//	REPLSTORE_SIM_SCHEDULES=100000 go test -run TestSimulation -timeout 0 .
//	go test -run TestSimulation -rapid.seed=N .          # replay a failure (or -rapid.failfile=...)
//	REPLSTORE_SIM_TRACE=all go test -run TestSimRegressionX .   # a regression's whole trace
//	REPLSTORE_SIM_HUNT=TestSimRegressionX go test -run TestSimHunt .  # shrink a known bug anew
//
// A failure prints rapid's replay flags, the minimised schedule as a Go
// literal (for simregress_test.go) and the end of the run's trace.

// simSchedules is how many schedules TestSimulation runs.
func simSchedules(t *testing.T) int {
	if s := os.Getenv("REPLSTORE_SIM_SCHEDULES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("REPLSTORE_SIM_SCHEDULES=%q: want a positive number of schedules", s)
		}
		return n
	}
	if testing.Short() {
		return simDefaultSchedules / 10
	}
	if raceEnabled {
		// The simulation runs in one goroutine: the race detector finds
		// nothing in it and makes it about 4 times slower. Under -race a
		// plain run draws a quarter of the set; CI runs the whole set
		// without -race as well (.ci/run).
		return simDefaultSchedules / 4
	}
	return simDefaultSchedules
}

// simDefaultSchedules is what a plain go test runs. Since the simulator
// draws coordinator crashes, clock drift, retries and reads of several
// objects, a schedule costs about 1.28 times what it did (2,000 schedules
// under -race, back to back on the shared 2-core machine: 39.9 s before,
// 51.0 s after), so a plain run draws 8,000 instead of 10,000 and takes
// about as long as before.
const simDefaultSchedules = 8000

// withRapidChecks makes rapid run n cases in this test, unless the
// caller chose with -rapid.checks or RAPID_CHECKS.
func withRapidChecks(t *testing.T, n int) {
	explicit := os.Getenv("RAPID_CHECKS") != ""
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	f := flag.Lookup("rapid.checks")
	if explicit || f == nil {
		return
	}
	if testing.Short() {
		n *= 5 // rapid runs a fifth of its checks under -short
	}
	old := f.Value.String()
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// withFixedSeed makes the run draw the same schedules every time (seed
// REPLSTORE_SIM_SEED, default 1), so CI checks a known set: a failure
// there is a regression, not the luck of a new draw. Set
// REPLSTORE_SIM_SEED=random (or pass -rapid.seed) to explore new ones.
func withFixedSeed(t *testing.T) {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.seed" })
	seed := os.Getenv("REPLSTORE_SIM_SEED")
	f := flag.Lookup("rapid.seed")
	if explicit || seed == "random" || f == nil {
		return
	}
	if seed == "" {
		seed = "1"
	}
	old := f.Value.String()
	if err := f.Value.Set(seed); err != nil {
		t.Fatalf("REPLSTORE_SIM_SEED=%q: %v", seed, err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// simFailure explains a failed run: what broke, how to replay it, and
// the end of its trace.
func simFailure(s simSchedule, res simResult) string {
	return fmt.Sprintf("%v\n\nReplay: rapid's -rapid.seed / -rapid.failfile above, or paste this schedule into simregress_test.go:\n%s\n\nLast %d trace records:\n%s",
		res.err, s, simTraceKeep, res.trace)
}

// TestSimulation is the simulation's main run: many drawn schedules, each
// checked step by step and as a whole.
func TestSimulation(t *testing.T) {
	n := simSchedules(t)
	withRapidChecks(t, n)
	withFixedSeed(t)
	var total simStats
	runs := 0
	known := map[string]int{}
	start := time.Now()
	rapid.Check(t, func(t *rapid.T) {
		s := simScheduleGen.Draw(t, "schedule")
		res := runSimSchedule(s)
		if kb := knownBug(res.err); kb != nil {
			known[kb.test]++
			return
		}
		if res.err != nil {
			t.Fatal(simFailure(s, res))
		}
		runs++
		total.add(res.stats)
	})
	t.Logf("%d schedules in %v: %v", runs, time.Since(start).Round(time.Millisecond), total)
	for _, kb := range simKnownBugs {
		if known[kb.test] > 0 {
			t.Logf("KNOWN ENGINE BUG hit %d times (see %s): %s", known[kb.test], kb.test, kb.what)
		}
	}
}

// TestSimDeterminism: one seed gives one schedule, and one schedule gives
// one trace, run after run.
func TestSimDeterminism(t *testing.T) {
	for seed := 0; seed < 20; seed++ {
		a, b := simScheduleGen.Example(seed), simScheduleGen.Example(seed)
		if a.String() != b.String() {
			t.Fatalf("seed %d drew two different schedules:\n%s\n%s", seed, a, b)
		}
		ra, rb := runSimSchedule(a), runSimSchedule(b)
		if ra.hash != rb.hash || firstLine(errText(ra.err)) != firstLine(errText(rb.err)) {
			t.Fatalf("seed %d: two runs of one schedule gave traces %x and %x:\n%s", seed, ra.hash, rb.hash, a)
		}
		if ra.err != nil && knownBug(ra.err) == nil {
			t.Fatal(simFailure(a, ra))
		}
	}
	if runSimSchedule(simScheduleGen.Example(1)).hash == runSimSchedule(simScheduleGen.Example(2)).hash {
		t.Fatal("two different schedules gave the same trace hash: the hash sees too little")
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// TestSimHunt shrinks a schedule for one known engine bug, to replace
// its regression test's schedule: REPLSTORE_SIM_HUNT=TestSimRegressionX
// go test -run TestSimHunt . (other known bugs do not count).
func TestSimHunt(t *testing.T) {
	target := os.Getenv("REPLSTORE_SIM_HUNT")
	if target == "" {
		t.Skip("set REPLSTORE_SIM_HUNT to a known bug's regression test name")
	}
	withRapidChecks(t, simSchedules(t))
	rapid.Check(t, func(t *rapid.T) {
		s := simScheduleGen.Draw(t, "schedule")
		res := runSimScheduleOpts(s, false)
		if kb := knownBug(res.err); kb != nil && kb.test == target {
			t.Fatal(simFailure(s, res))
		}
	})
}
