// Command replstore-bench measures replstore with the closed-loop write
// workload of the anchor comparison harness (shared/bench/anchor) and
// speaks its external-system contract: it starts a fresh in-process
// cluster (a leader, one sync follower acking Durable, one async
// follower), runs -warmup unmeasured writes and then -n measured writes
// from -c closed-loop clients, and prints one JSON line.
//
//	go build -o /tmp/replstore-bench ./cmd/replstore-bench
//	cd ../shared/bench/anchor && go run . -system=hashicorp,baseline-1s1a \
//	    -external replstore=/tmp/replstore-bench \
//	    -ratio replstore/hashicorp -ratio replstore/baseline-1s1a
//
// A write is the contract's 16+V byte command: request id, key, value. It
// becomes a Put of the value under the key's decimal string, and returns
// when committed (the sync follower stored it) and applied on the leader.
// With -processes, the cluster is three OS processes on loopback TCP
// (package tcpnet): this one hosts the leader Node and the clients, and
// re-executes itself twice for the sync and the async follower (see
// processes.go); storage stays in memory unless -durable puts each
// node's log and hard state in a directory of its own (package wal,
// under a fresh temporary directory removed at the end), so that the
// sync follower's Durable acknowledgement and the leader's own flush are
// fdatasyncs.
//
// The measurement (window, percentiles, allocations, CPU) follows the
// harness's workload package exactly; it is re-implemented here so that
// replstore's module does not depend on the harness's.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/replstore/replstore"
)

const (
	headerSize = 16
	keySpace   = 100_000
)

// result is the contract's result line.
type result struct {
	WritesPerSec float64 `json:"writes_per_sec"`
	P50Ns        int64   `json:"p50_ns"`
	P99Ns        int64   `json:"p99_ns"`
	P999Ns       int64   `json:"p999_ns"`
	MaxNs        int64   `json:"max_ns"`
	AllocsPerOp  float64 `json:"allocs_per_op"`
	BytesPerOp   float64 `json:"bytes_per_op"`
	CPUPerOpNs   int64   `json:"cpu_per_op_ns"`
	Errors       int64   `json:"errors"`
}

func main() {
	c := flag.Int("c", 1, "closed-loop clients (one write in flight each)")
	n := flag.Int("n", 20000, "measured writes")
	valSize := flag.Int("value", 64, "value size in bytes")
	warm := flag.Int("warmup", 2000, "unmeasured warm-up writes before the measured ones")
	ack := flag.String("ack", "Durable", "ack level: Local, Received, Durable or Applied")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured writes to this file")
	flag.StringVar(&traceFile, "trace", "", "write an execution trace (runtime/trace: go tool trace) of the measured writes to this file")
	processes := flag.Bool("processes", false, "three processes on loopback TCP: this one hosts the leader Node (tcpnet) and the clients, two child processes host the followers")
	role := flag.String("follower", "", "internal (set by -processes): run follower ID in this process")
	listen := flag.String("listen", "", "internal: the follower's replication address")
	peers := flag.String("peers", "", "internal: id=addr,... of the other nodes")
	durable := flag.Bool("durable", false, "with -processes: every node keeps its log and hard state on disk (package wal, fdatasync), in a temporary directory removed at the end")
	dir := flag.String("dir", "", "internal (set by -processes -durable): the follower's data directory")
	flag.StringVar(&stateMachine, "state-machine", "store", "what every replica applies writes to: store (replstore's Store, the contract), map (a map from a hash of the key, about baseline-1s1a-apply's work) or none (the replication path alone); map and none are measurements, not the contract")
	flag.BoolVar(&anyOfTwo, "any-of-two", false, "both followers sync, ANY 1 (PostgreSQL's ANY 1 (n2, n3)): a write commits on the faster of the two, as on a 3-member etcd; not the contract's 1-sync-1-async shape")
	flag.Parse()
	if *c < 1 || *n < *c || *valSize < 0 || *warm < 0 || flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "replstore-bench: need -c >= 1, -n >= c, -value >= 0, -warmup >= 0 and no arguments (got -c %d -n %d -value %d -warmup %d %q)\n",
			*c, *n, *valSize, *warm, flag.Args())
		os.Exit(2)
	}
	cfg := replstore.DefaultConfig()
	switch *ack {
	case "Local":
		cfg.AckLevel = replstore.Local
	case "Received":
		cfg.AckLevel = replstore.Received
	case "Durable":
		cfg.AckLevel = replstore.Durable
	case "Applied":
		cfg.AckLevel = replstore.Applied
	default:
		fmt.Fprintf(os.Stderr, "replstore-bench: -ack %q: want Local, Received, Durable or Applied\n", *ack)
		os.Exit(2)
	}
	newSM, err := newStateMachine(stateMachine)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replstore-bench:", err)
		os.Exit(2)
	}
	if newSM != nil {
		cfg.NewStateMachine = newSM
	}
	if anyOfTwo {
		cfg.SyncFollowers = append(cfg.SyncFollowers, cfg.AsyncFollowers...)
		cfg.AsyncFollowers = nil
		cfg.Quorum, cfg.SyncCount = replstore.Any, 1
	}
	var res result
	if *role != "" {
		os.Exit(runFollower(*role, *listen, *peers, *dir, cfg))
	}
	if *durable && !*processes {
		fmt.Fprintln(os.Stderr, "replstore-bench: -durable needs -processes")
		os.Exit(2)
	}
	if *processes {
		var err error
		res, err = measureProcesses(cfg, *c, *n, *warm, *valSize, *cpuProfile, *durable)
		if err != nil {
			fmt.Fprintln(os.Stderr, "replstore-bench:", err)
			os.Exit(1)
		}
	} else {
		cl, err := replstore.NewCluster(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "replstore-bench:", err)
			os.Exit(1)
		}
		res = measure(cl.Put, *c, *n, *warm, *valSize, *cpuProfile, noOthers)
		if err := cl.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "replstore-bench: close:", err)
			os.Exit(1)
		}
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replstore-bench:", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}

// putFunc is one write: Cluster.Put or Node.Put.
type putFunc func(ctx context.Context, key string, value []byte) (replstore.Position, error)

// noOthers is the CPU of the other processes of an in-process run: none.
func noOthers() time.Duration { return 0 }

// keys maps the contract's numeric keys to the store's string keys, built
// once before measuring so the conversion is not charged to each write.
var keys = func() []string {
	k := make([]string, keySpace)
	for i := range k {
		k[i] = strconv.Itoa(i)
	}
	return k
}()

var idSeq atomic.Uint64

// record starts a recording of the measured writes into the file path
// (none if path is empty) and returns what ends it; it exits the program
// if the file cannot be created or the recording started.
func record(what, path string, start func(io.Writer) error, stop func()) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = start(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "replstore-bench: %s: %v\n", what, err)
		os.Exit(1)
	}
	return func() {
		stop()
		f.Close()
	}
}

// traceFile is -trace: where measure writes an execution trace.
var traceFile string

// anyOfTwo is -any-of-two: both followers in the sync set, ANY 1.
var anyOfTwo bool

// drive runs n writes over c closed-loop goroutines; client i does n/c
// writes, the first n%c one more. It stores write k's latency in lat[k]
// when lat is not nil and returns how many writes failed.
func drive(put putFunc, c, n, valSize int, value []byte, lat []int64) int64 {
	var wg sync.WaitGroup
	var errs atomic.Int64
	gate := make(chan struct{})
	off := 0
	ctx := context.Background()
	for i := 0; i < c; i++ {
		cnt := n / c
		if i < n%c {
			cnt++
		}
		var mylat []int64
		if lat != nil {
			mylat = lat[off : off+cnt]
		}
		off += cnt
		wg.Add(1)
		go func(ci, cnt int, mylat []int64) {
			defer wg.Done()
			<-gate
			for j := 0; j < cnt; j++ {
				cmd := make([]byte, headerSize+valSize)
				binary.LittleEndian.PutUint64(cmd[0:8], idSeq.Add(1))
				binary.LittleEndian.PutUint64(cmd[8:16], uint64(ci*1_000_003+j)%keySpace)
				copy(cmd[headerSize:], value)
				t0 := time.Now()
				key := keys[binary.LittleEndian.Uint64(cmd[8:16])]
				if _, err := put(ctx, key, cmd[headerSize:]); err != nil {
					if errs.Add(1) < 5 {
						fmt.Fprintln(os.Stderr, "write error:", err)
					}
				}
				if mylat != nil {
					mylat[j] = int64(time.Since(t0))
				}
			}
		}(i, cnt, mylat)
	}
	close(gate)
	wg.Wait()
	return errs.Load()
}

// measure is the harness's workload.Measure: warm-up, GC, measured window.
// With profile set, it writes a CPU profile of the measured window there.
func measure(put putFunc, c, n, warm, valSize int, profile string, others func() time.Duration) result {
	value := make([]byte, valSize)
	for i := range value {
		value[i] = byte(rand.IntN(256))
	}
	if warm > 0 {
		drive(put, c, warm, valSize, value, nil)
	}
	lat := make([]int64, n)
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	defer record("cpu profile", profile, pprof.StartCPUProfile, pprof.StopCPUProfile)()
	defer record("trace", traceFile, trace.Start, trace.Stop)()
	cpu0 := cpuTime() + others()
	t0 := time.Now()
	errs := drive(put, c, n, valSize, value, lat)
	el := time.Since(t0)
	cpu1 := cpuTime() + others()
	runtime.ReadMemStats(&ms1)
	slices.Sort(lat)
	pct := func(p float64) int64 { return lat[int(p*float64(n-1))] }
	return result{
		WritesPerSec: float64(n) / el.Seconds(),
		P50Ns:        pct(0.50),
		P99Ns:        pct(0.99),
		P999Ns:       pct(0.999),
		MaxNs:        lat[n-1],
		AllocsPerOp:  float64(ms1.Mallocs-ms0.Mallocs) / float64(n),
		BytesPerOp:   float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n),
		CPUPerOpNs:   int64(cpu1-cpu0) / int64(n),
		Errors:       errs,
	}
}

// cpuTime is this process's CPU time, all threads, user + system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
