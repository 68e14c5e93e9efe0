// Command replstore-node runs one replstore replica in its own process:
// replication with the other nodes over TCP (optionally mutual TLS), an
// HTTP/JSON client API, /stats, /healthz, /readyz, /metrics and operator
// calls; optionally the built-in coordinator as well (-coordinator).
//
//	replstore-node -id n1 -listen 127.0.0.1:7001 -http 127.0.0.1:8001 \
//	    -cluster-id demo -leader n1 -sync n2 -async n3 \
//	    -peers n2=127.0.0.1:7002,n3=127.0.0.1:7003,coordinator=127.0.0.1:7000
//
// With -dir the node keeps its log, hard state and snapshot there
// (package wal): a node killed at any instant restarts from it and
// rejoins; Durable acknowledgements are fsynced. The directory is
// stamped with -id and -cluster-id (its IDENTITY file) on first use, and
// a node refuses to start on a directory stamped for another. A leader so restarted
// never leads its old epoch again: with -manual-failover (the default)
// run POST /v1/admin/failover on any node; every node without a live
// leader logs a WARN saying so. Without -dir storage is
// in memory and a restarted node comes back empty, with a new storage
// incarnation: the leader repairs it from its log (or a snapshot). An
// empty node named by -leader opens epoch 1 as leader: start such a
// node with the topology in force (GET /stats on a live node shows it).
// A log record that fails its checksum (damage, not a torn tail) is cut
// off with everything after it, and the leader repairs the node.
//
// See README.md ("Running nodes as processes") and examples/three-nodes.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/replstore/replstore"
	"github.com/replstore/replstore/tcpnet"
	"github.com/replstore/replstore/wal"
)

func main() {
	o, err := parseArgs(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "replstore-node: %v\n", err)
		os.Exit(2)
	}
	s, err := check(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "replstore-node: %v\n", err)
		os.Exit(2)
	}
	log := newLogger(s)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go onSignals(sigs, stop, os.Exit, log.With("node", o.id))
	if err := run(ctx, s, log); err != nil {
		fmt.Fprintf(os.Stderr, "replstore-node: %v\n", err)
		os.Exit(1)
	}
}

func newLogger(s settings) *slog.Logger {
	hopts := &slog.HandlerOptions{Level: s.level}
	if s.opts.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, hopts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, hopts))
}

// run starts the coordinator (with -coordinator), the node and the HTTP
// API, and stops them all in reverse when ctx ends.
func run(ctx context.Context, s settings, log *slog.Logger) error {
	log = log.With("node", string(s.self))
	cfg := s.cfg
	cfg.Logger = log
	if dir := s.opts.dir; dir != "" {
		// Before anything opens the directory: another node's log and
		// hard state must not be taken for this one's.
		st, err := checkDirIdentity(dir, dirIdentity{NodeID: string(s.self), ClusterID: s.opts.clusterID})
		if err != nil {
			return err
		}
		switch st {
		case stampNew:
			log.Info("new data directory: stamped with this node and cluster", "dir", dir, "file", identityFile, "cluster_id", s.opts.clusterID)
		case stampAdopted:
			log.Info("data directory written by an earlier build (no identity file): adopted and stamped with this node and cluster", "dir", dir, "file", identityFile, "cluster_id", s.opts.clusterID)
		}
		cfg.NewLogStore = func(id replstore.NodeID) (replstore.LogStore, error) {
			// A replica's log may lose a damaged suffix: the leader
			// repairs it (the node records the loss first).
			l, err := wal.Open(filepath.Join(dir, "log"), wal.Options{TruncateDamaged: true})
			if err == nil {
				if r := l.Recovered(); r.Damaged {
					log.Error("the log was damaged: cut off before the damaged record; the leader will repair this node", "file", r.File, "offset", r.Offset, "lost_from_lsn", r.LostFrom, "reason", r.Reason)
				} else if r.DroppedBytes > 0 {
					log.Warn("the log's torn tail was cut off at open", "file", r.File, "offset", r.Offset, "bytes", r.DroppedBytes, "reason", r.Reason)
				}
			}
			return l, err
		}
		cfg.NewHardState = func(id replstore.NodeID) (replstore.HardStateStore, error) {
			return wal.OpenHardState(filepath.Join(dir, "hard"))
		}
		log.Info("storage on disk", "dir", dir)
	} else {
		log.Warn("storage is in memory (no -dir): a restarted node comes back empty (see README, Running nodes as processes)")
	}

	var closers []func() error // closed last first
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
		closers = nil
	}
	defer closeAll()

	var coord *replstore.CoordinatorNode
	if s.opts.coordinator {
		ctr, err := tcpnet.New(tcpnet.Config{ClusterID: s.opts.clusterID, Self: replstore.CoordinatorID,
			Listen: s.opts.coordinatorListen, Peers: s.peers, TLS: s.tls, Logger: log.With("transport", "coordinator")})
		if err != nil {
			return fmt.Errorf("coordinator transport on -coordinator-listen %s: %w", s.opts.coordinatorListen, err)
		}
		coord, err = replstore.NewCoordinatorNode(cfg, ctr)
		if err != nil {
			ctr.Close()
			return fmt.Errorf("coordinator: %w", err)
		}
		closers = append(closers, ctr.Close, coord.Close)
		log.Info("coordinator running", "listen", ctr.Addr().String(), "manual_failover", cfg.ManualFailover)
	}

	tr, err := tcpnet.New(tcpnet.Config{ClusterID: s.opts.clusterID, Self: s.self, Listen: s.opts.listen,
		Peers: s.peers, TLS: s.tls, Logger: log.With("transport", "node")})
	if err != nil {
		return fmt.Errorf("transport on -listen %s: %w", s.opts.listen, err)
	}
	closers = append(closers, tr.Close)
	heard := newHeardTransport(tr)
	nd, err := replstore.NewNode(cfg, s.self, heard)
	if err != nil {
		return fmt.Errorf("node %s: %w", s.self, err)
	}
	closers = append(closers, nd.Close)

	ln, err := net.Listen("tcp", s.opts.httpAddr)
	if err != nil {
		return fmt.Errorf("-http %s: %w", s.opts.httpAddr, err)
	}
	api := newAPI(nd, cfg, s.opts.requestTimeout, log)
	api.heard = heard
	// Warn while no leader is live (as /readyz sees it): with manual
	// failover nothing else tells the operator to act.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchLeader(watchCtx, nd, heard, api.leaderSilence, 10*cfg.TickInterval,
			&leaderWatch{after: api.leaderSilence, every: max(5*time.Second, api.leaderSilence)}, cfg.ManualFailover, log)
	}()
	closers = append(closers, func() error { stopWatch(); <-watched; return nil })
	_, hasCoord := s.peers[replstore.CoordinatorID]
	api.noCoordinator = !hasCoord
	// Requests run under reqCtx: shutdown cancels it to end the ones still
	// waiting (for a commit, a session's token) with an answer.
	reqCtx, cutRequests := context.WithCancel(context.Background())
	defer cutRequests()
	api.shutdown = reqCtx.Done()
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return reqCtx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("node running", "listen", tr.Addr().String(), "http", ln.Addr().String(), "cluster_id", s.opts.clusterID,
		"leader", string(cfg.Leader), "sync", cfg.SyncFollowers, "async", cfg.AsyncFollowers, "ack", cfg.AckLevel.String(),
		"sync_loss", cfg.SyncLoss.String(), "tls", s.tls != nil)

	select {
	case <-ctx.Done():
		log.Info("stopping: no new HTTP requests; waiting for in-flight ones", "timeout", s.opts.shutdownTimeout)
	case err := <-served:
		return fmt.Errorf("HTTP server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.shutdownTimeout)
	defer cancel()
	// In-flight requests may finish until shortly before the timeout;
	// those still waiting then are cut and answer (503, or 504 with its
	// position for a write the leader took), before their connections
	// close.
	cut := time.AfterFunc(s.opts.shutdownTimeout-cutReserve(s.opts.shutdownTimeout), func() {
		log.Warn("in-flight HTTP requests still waiting near -shutdown-timeout: ending them with an answer")
		cutRequests()
	})
	defer cut.Stop()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight HTTP requests did not finish in time; closing them", "err", err)
		srv.Close()
	}
	closeAll()
	log.Info("stopped")
	return nil
}
