package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/replstore/replstore"
)

// options is what the flags (or their environment variables) say.
type options struct {
	id, listen, peers, clusterID, dir     string
	sync, async, leader, ack, syncLoss    string
	coordinator                           bool
	coordinatorListen                     string
	manualFailover                        bool
	tlsCert, tlsKey, tlsCA                string
	httpAddr, logLevel, logFormat         string
	requestTimeout, shutdownTimeout, tick time.Duration
}

// settings is options checked and converted.
type settings struct {
	opts  options
	self  replstore.NodeID
	peers map[replstore.NodeID]string // every peer named by -peers, coordinator included
	cfg   replstore.Config            // the cluster's configuration as this process knows it
	tls   *tls.Config                 // nil without -tls-*
	level slog.Level
}

// envName is the environment variable of a flag: -coordinator-listen is
// REPLSTORE_COORDINATOR_LISTEN.
func envName(flagName string) string {
	return "REPLSTORE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet declares the command's flags into o.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("replstore-node", flag.ContinueOnError)
	fs.StringVar(&o.id, "id", "", "this node's ID (required), e.g. n1")
	fs.StringVar(&o.listen, "listen", "", "replication TCP address to listen on (required), e.g. 127.0.0.1:7001")
	fs.StringVar(&o.peers, "peers", "", "comma list id=host:port of the other nodes' replication addresses, and coordinator=host:port for the coordinator")
	fs.StringVar(&o.clusterID, "cluster-id", "", "cluster name; every node and the coordinator must use the same one (required)")
	fs.StringVar(&o.dir, "dir", "", "data directory: the node's write-ahead log, hard state and snapshot (package wal), stamped with -id and -cluster-id on first use and refused to any other; empty = in memory, and a restarted node comes back empty")
	fs.StringVar(&o.sync, "sync", "", "comma list of sync followers in priority order")
	fs.StringVar(&o.async, "async", "", "comma list of async followers")
	fs.StringVar(&o.leader, "leader", "", "the configured first leader (required); restart a node with the topology in force, see README")
	fs.StringVar(&o.ack, "ack", "durable", "ack level of sync followers: local|received|durable|applied")
	fs.StringVar(&o.syncLoss, "sync-loss", "block", "when the sync followers are lost: block|replace|degrade=<duration>")
	fs.BoolVar(&o.coordinator, "coordinator", false, "also run the built-in coordinator in this process (on -coordinator-listen)")
	fs.StringVar(&o.coordinatorListen, "coordinator-listen", "", "the coordinator's replication TCP address (with -coordinator); others name it in -peers as coordinator=host:port")
	fs.BoolVar(&o.manualFailover, "manual-failover", true, "fail over only when an operator asks (POST /v1/admin/failover), as PostgreSQL without Patroni")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate for replication (mutual TLS when -tls-cert, -tls-key and -tls-ca are all given)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "PEM CA bundle that signs every node's certificate")
	fs.StringVar(&o.httpAddr, "http", "", "client API address (HTTP/JSON), e.g. 127.0.0.1:8001 (required)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug|info|warn|error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text|json (to stderr)")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 5*time.Second, "how long one HTTP request may wait (a write not acknowledged by then answers 504 with its position)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long SIGTERM waits for in-flight HTTP requests (those still waiting are answered shortly before it ends; a second signal exits at once)")
	fs.DurationVar(&o.tick, "tick", 10*time.Millisecond, "the protocol's tick (heartbeats, timeouts); every node and the coordinator should use the same")
	return fs
}

// parseArgs parses args, then fills every flag not given from its
// environment variable (a flag wins over its variable).
func parseArgs(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := newFlagSet(&o)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: replstore-node -id ID -listen ADDR -cluster-id NAME -leader ID -http ADDR [flags]\n\nEvery flag can also be set by an environment variable, REPLSTORE_<FLAG> (e.g. REPLSTORE_ID, REPLSTORE_COORDINATOR_LISTEN); a flag wins.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (every setting is a flag)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q (for -%s): %w", envName(f.Name), v, f.Name, serr)
			}
		}
	})
	return o, err
}

// ids splits a comma list of node IDs.
func ids(flagName, s string) ([]replstore.NodeID, error) {
	var out []replstore.NodeID
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if part == string(replstore.CoordinatorID) {
			return nil, fmt.Errorf("-%s: %q is reserved for the coordinator", flagName, part)
		}
		out = append(out, replstore.NodeID(part))
	}
	return out, nil
}

// canonAddr checks that addr is host:port with a numeric port in
// 1..65535 (net.SplitHostPort alone takes "h:abc" and ":99999") and
// returns it in one spelling, for comparing addresses: the host lower
// case, the port without leading zeros. Names are not resolved.
func canonAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("not host:port: %v", err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q: want a number in 1..65535", port)
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n)), nil
}

// check validates o and builds the settings.
func check(o options) (settings, error) {
	s := settings{opts: o, peers: map[replstore.NodeID]string{}}
	need := func(name, v string) error {
		if v == "" {
			return fmt.Errorf("-%s is required (or %s)", name, envName(name))
		}
		return nil
	}
	for _, r := range []struct{ name, v string }{{"id", o.id}, {"listen", o.listen}, {"cluster-id", o.clusterID}, {"leader", o.leader}, {"http", o.httpAddr}} {
		if err := need(r.name, r.v); err != nil {
			return s, err
		}
	}
	s.self = replstore.NodeID(o.id)
	if s.self == replstore.CoordinatorID {
		return s, fmt.Errorf("-id: %q is reserved for the coordinator; use -coordinator to run it", o.id)
	}
	if o.coordinator && o.coordinatorListen == "" {
		return s, fmt.Errorf("-coordinator-listen is required with -coordinator")
	} else if !o.coordinator && o.coordinatorListen != "" {
		return s, fmt.Errorf("-coordinator-listen is set but -coordinator is not")
	}
	// Addresses are checked here, not at run time: a bad one would let
	// the process start and then fail to listen, or dial the wrong
	// process forever. own maps each address this process listens on
	// (in its canonical form) to the flag that names it.
	own := map[string]string{}
	for _, r := range []struct{ name, addr string }{{"listen", o.listen}, {"http", o.httpAddr}, {"coordinator-listen", o.coordinatorListen}} {
		if r.addr == "" {
			continue
		}
		a, err := canonAddr(r.addr)
		if err != nil {
			return s, fmt.Errorf("-%s %q: %v", r.name, r.addr, err)
		}
		if other, dup := own[a]; dup {
			return s, fmt.Errorf("-%s %s: the same address as -%s", r.name, r.addr, other)
		}
		own[a] = r.name
	}
	byAddr := map[string]replstore.NodeID{} // canonical address -> the peer named there
	for _, part := range strings.Split(o.peers, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "=")
		if !ok || id == "" {
			return s, fmt.Errorf("-peers: %q is not id=host:port", part)
		}
		a, err := canonAddr(addr)
		if err != nil {
			return s, fmt.Errorf("-peers: %s=%q: %v", id, addr, err)
		}
		nid := replstore.NodeID(id)
		if _, dup := s.peers[nid]; dup {
			return s, fmt.Errorf("-peers: %s is named twice", id)
		}
		if other, dup := byAddr[a]; dup {
			return s, fmt.Errorf("-peers: %s and %s have the same address %s", other, id, addr)
		}
		byAddr[a] = nid
		// One -peers list may serve every node, so it may name this
		// node too, but only at -listen (or, for the coordinator this
		// process runs, at -coordinator-listen): another address would
		// have the others dial somewhere this node does not listen.
		switch flagName, mine := own[a]; {
		case nid == s.self && flagName != "listen":
			return s, fmt.Errorf("-peers: %s=%s names this node (-id %s) at an address other than -listen %s", id, addr, s.self, o.listen)
		case nid == replstore.CoordinatorID && o.coordinator && flagName != "coordinator-listen":
			return s, fmt.Errorf("-peers: coordinator=%s but this process runs the coordinator on -coordinator-listen %s: this node would not reach its own coordinator", addr, o.coordinatorListen)
		case mine && nid != s.self && !(nid == replstore.CoordinatorID && o.coordinator):
			return s, fmt.Errorf("-peers: %s=%s is this process's own -%s address", id, addr, flagName)
		}
		s.peers[nid] = addr
	}
	if o.coordinator {
		s.peers[replstore.CoordinatorID] = o.coordinatorListen
	}
	syncs, err := ids("sync", o.sync)
	if err != nil {
		return s, err
	}
	asyncs, err := ids("async", o.async)
	if err != nil {
		return s, err
	}
	cfg := replstore.Config{Leader: replstore.NodeID(o.leader), SyncFollowers: syncs, AsyncFollowers: asyncs,
		ManualFailover: o.manualFailover, TickInterval: o.tick}
	switch strings.ToLower(o.ack) {
	case "local":
		cfg.AckLevel = replstore.Local
	case "received":
		cfg.AckLevel = replstore.Received
	case "durable":
		cfg.AckLevel = replstore.Durable
	case "applied":
		cfg.AckLevel = replstore.Applied
	default:
		return s, fmt.Errorf("-ack %q: want local, received, durable or applied", o.ack)
	}
	switch sl := strings.ToLower(o.syncLoss); {
	case sl == "block":
		cfg.SyncLoss = replstore.Block
	case sl == "replace":
		cfg.SyncLoss = replstore.Replace
	case strings.HasPrefix(sl, "degrade="):
		d, err := time.ParseDuration(strings.TrimPrefix(sl, "degrade="))
		if err != nil || d <= 0 {
			return s, fmt.Errorf("-sync-loss %q: degrade=<duration> wants a positive duration such as degrade=5s", o.syncLoss)
		}
		cfg.SyncLoss = replstore.DegradeAfter(d)
	default:
		return s, fmt.Errorf("-sync-loss %q: want block, replace or degrade=<duration>", o.syncLoss)
	}
	if o.tick <= 0 {
		return s, fmt.Errorf("-tick %v: must be positive", o.tick)
	}
	if o.requestTimeout <= 0 || o.shutdownTimeout <= 0 {
		return s, fmt.Errorf("-request-timeout and -shutdown-timeout must be positive")
	}
	if err := cfg.Validate(); err != nil {
		return s, fmt.Errorf("-leader/-sync/-async: %w", err)
	}
	members := append(append([]replstore.NodeID{cfg.Leader}, syncs...), asyncs...)
	if !slices.Contains(members, s.self) {
		return s, fmt.Errorf("-id %s: not named by -leader, -sync or -async", s.self)
	}
	for _, id := range members {
		if _, ok := s.peers[id]; !ok && id != s.self {
			return s, fmt.Errorf("-peers: node %s (named by -leader, -sync or -async) has no address", id)
		}
	}
	if _, ok := s.peers[replstore.CoordinatorID]; !ok && !o.manualFailover {
		return s, fmt.Errorf("-manual-failover=false needs a coordinator: -coordinator here or coordinator=host:port in -peers")
	}
	s.cfg = cfg
	if err := s.level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return s, fmt.Errorf("-log-level %q: want debug, info, warn or error", o.logLevel)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return s, fmt.Errorf("-log-format %q: want text or json", o.logFormat)
	}
	n := 0
	for _, v := range []string{o.tlsCert, o.tlsKey, o.tlsCA} {
		if v != "" {
			n++
		}
	}
	switch n {
	case 0:
	case 3:
		s.tls, err = loadTLS(o.tlsCert, o.tlsKey, o.tlsCA)
		if err != nil {
			return s, err
		}
	default:
		return s, errors.New("-tls-cert, -tls-key and -tls-ca go together: give all three for mutual TLS, or none")
	}
	return s, nil
}

// loadTLS builds a mutual-TLS config: this node's certificate, and the CA
// that must have signed the other end's, in both directions.
func loadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-tls-ca %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}, nil
}
