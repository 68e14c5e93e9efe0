package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/tcpnet"
	"github.com/replstore/replstore/wal"
)

// -processes: the contract's cluster shape as three OS processes on
// loopback TCP (package tcpnet). This process hosts the leader Node (n1)
// and the closed-loop clients, which write through Node.Put; two copies
// of this binary, re-executed with -follower n2 and -follower n3, host the
// sync follower (acking at cfg's level, Durable by default) and the async
// one. Storage is in memory in every process (no fsync), or with
// -durable in a directory per node (package wal: the log is fdatasynced
// before a Durable acknowledgement, and the leader counts itself toward
// commit only once its own flush is done), under one temporary directory
// that is removed at the end. cpu_per_op_ns adds the followers' CPU (from
// /proc) to this process's.

const benchCluster = "replstore-bench"

// measureProcesses starts the followers, waits until both follow, runs
// the workload and stops them.
func measureProcesses(cfg replstore.Config, c, n, warm, valSize int, profile string, durable bool) (result, error) {
	cfg.ManualFailover = true // no coordinator: nothing fails over mid-run
	var dataDir string
	if durable {
		d, err := os.MkdirTemp("", "replstore-bench-")
		if err != nil {
			return result{}, err
		}
		dataDir = d
		// Removed after the followers have exited (deferred first, so
		// it runs last).
		defer os.RemoveAll(dataDir)
		onDisk(&cfg, filepath.Join(dataDir, string(cfg.Leader)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	addrs := map[replstore.NodeID]string{cfg.Leader: ln.Addr().String()}
	for _, id := range append(append([]replstore.NodeID{}, cfg.SyncFollowers...), cfg.AsyncFollowers...) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ln.Close()
			return result{}, err
		}
		addrs[id] = l.Addr().String()
		l.Close() // the follower listens on it; a port taken meanwhile fails the run
	}
	tr, err := tcpnet.New(tcpnet.Config{ClusterID: benchCluster, Self: cfg.Leader, Listener: ln, Peers: addrs})
	if err != nil {
		return result{}, err
	}
	defer tr.Close()

	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	var children []*exec.Cmd
	defer func() {
		for _, ch := range children {
			_ = ch.Process.Signal(syscall.SIGTERM)
		}
		for _, ch := range children {
			_ = ch.Wait()
		}
	}()
	for id, addr := range addrs {
		if id == cfg.Leader {
			continue
		}
		args := []string{"-follower", string(id), "-listen", addr, "-peers", peerList(addrs, id), "-ack", cfg.AckLevel.String()}
		if anyOfTwo {
			args = append(args, "-any-of-two")
		}
		if stateMachine != "store" {
			args = append(args, "-state-machine", stateMachine)
		}
		if durable {
			args = append(args, "-dir", filepath.Join(dataDir, string(id)))
		}
		ch := exec.Command(self, args...)
		ch.Stderr = os.Stderr
		ch.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := ch.Start(); err != nil {
			return result{}, fmt.Errorf("start follower %s: %w", id, err)
		}
		children = append(children, ch)
	}

	nd, err := replstore.NewNode(cfg, cfg.Leader, tr)
	if err != nil {
		return result{}, err
	}
	defer nd.Close()
	if err := waitFollowing(nd, len(addrs)-1, 15*time.Second); err != nil {
		return result{}, err
	}
	others := func() time.Duration {
		var sum time.Duration
		for _, ch := range children {
			sum += procCPU(ch.Process.Pid)
		}
		return sum
	}
	fmt.Fprintf(os.Stderr, "replstore-bench -processes: leader %s in this process (pid %d), followers in pids", cfg.Leader, os.Getpid())
	for _, ch := range children {
		fmt.Fprintf(os.Stderr, " %d", ch.Process.Pid)
	}
	fmt.Fprintln(os.Stderr)
	return measure(nd.Put, c, n, warm, valSize, profile, others), nil
}

// waitFollowing polls the leader's Stats until every follower is live
// and has applied the leader's first entry.
func waitFollowing(nd *replstore.Node, followers int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := nd.Stats(ctx)
		cancel()
		ok := 0
		if err == nil {
			for _, f := range st.Followers {
				if f.Live && f.Applied >= 1 {
					ok++
				}
			}
		}
		if ok == followers {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("followers not following after %v (stats: %+v, err %v)", limit, st.Followers, err)
		}
		time.Sleep(10 * time.Millisecond) // a poll interval
	}
}

func peerList(addrs map[replstore.NodeID]string, except replstore.NodeID) string {
	var ps []string
	for id, a := range addrs {
		if id != except {
			ps = append(ps, string(id)+"="+a)
		}
	}
	return strings.Join(ps, ",")
}

// runFollower is a child of -processes: follower id until SIGTERM.
func runFollower(id, listen, peers, dir string, cfg replstore.Config) int {
	cfg.ManualFailover = true
	if dir != "" {
		onDisk(&cfg, dir)
	}
	pm := map[replstore.NodeID]string{}
	for _, p := range strings.Split(peers, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "replstore-bench follower %s: bad -peers %q\n", id, peers)
			return 2
		}
		pm[replstore.NodeID(k)] = v
	}
	tr, err := tcpnet.New(tcpnet.Config{ClusterID: benchCluster, Self: replstore.NodeID(id), Listen: listen, Peers: pm})
	if err != nil {
		fmt.Fprintf(os.Stderr, "replstore-bench follower %s: %v\n", id, err)
		return 1
	}
	defer tr.Close()
	nd, err := replstore.NewNode(cfg, replstore.NodeID(id), tr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "replstore-bench follower %s: %v\n", id, err)
		return 1
	}
	defer nd.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return 0
}

// onDisk makes the node cfg starts keep its log and hard state in dir
// (package wal), as replstore-node -dir does.
func onDisk(cfg *replstore.Config, dir string) {
	cfg.NewLogStore = func(replstore.NodeID) (replstore.LogStore, error) {
		return wal.Open(filepath.Join(dir, "log"), wal.Options{})
	}
	cfg.NewHardState = func(replstore.NodeID) (replstore.HardStateStore, error) {
		return wal.OpenHardState(filepath.Join(dir, "hard"))
	}
}

// procCPU is process pid's CPU time (user + system) from /proc; 0 if it
// cannot be read.
func procCPU(pid int) time.Duration {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	// Fields after the command name (which ends with the last ')'):
	// state is field 3; utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(line[i+1:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks
}
