package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/replstore/replstore"
)

// The HTTP/JSON client API. Every response carries the headers
//
//	Replstore-Token:     the request's token merged with what it wrote or read ("epoch:lsn")
//	Replstore-Served-By: the node that served the read (the leader, for a write)
//	Replstore-Applied:   the position the read saw, or where the write is ("epoch:lsn")
//	Replstore-Node:      the node that took the HTTP request
//
// A record's value is returned base64-encoded in "value" (JSON []byte),
// and also as a string in "text" when it is valid UTF-8.
const (
	headerToken    = "Replstore-Token"
	headerServedBy = "Replstore-Served-By"
	headerApplied  = "Replstore-Applied"
	headerNode     = "Replstore-Node"
)

// api serves one node's HTTP API.
type api struct {
	nd      *replstore.Node
	cfg     replstore.Config
	timeout time.Duration
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *counters
	heard   *heardTransport // nil in tests that build an api alone
	// leaderSilence is how long a follower may go without a message from
	// its leader and still call itself ready: SuspectTicks (default 100)
	// ticks, when a follower would suspect the leader.
	leaderSilence time.Duration
	// noCoordinator: -peers names no coordinator and this process runs
	// none; failover and switchover cannot be asked for.
	noCoordinator bool
	// shutdown is closed when the process's shutdown cuts the requests
	// still waiting (it cancels their base context): a request that ends
	// canceled then answers 503 shutting_down, not 499 (the client went
	// away). Nil in tests that build an api alone.
	shutdown <-chan struct{}
}

func newAPI(nd *replstore.Node, cfg replstore.Config, timeout time.Duration, log *slog.Logger) *api {
	a := &api{nd: nd, cfg: cfg, timeout: timeout, log: log, mux: http.NewServeMux(), metrics: newCounters(),
		leaderSilence: 100 * cfg.TickInterval}
	a.mux.HandleFunc("PUT /v1/kv/{key...}", a.put)
	a.mux.HandleFunc("GET /v1/kv/{key...}", a.get)
	a.mux.HandleFunc("DELETE /v1/kv/{key...}", a.delete)
	a.mux.HandleFunc("POST /v1/cas/{key...}", a.cas)
	a.mux.HandleFunc("POST /v1/series/{name}", a.appendSample)
	a.mux.HandleFunc("GET /v1/series/{name}", a.rangeSamples)
	a.mux.HandleFunc("GET /v1/series/{name}/latest", a.latest)
	a.mux.HandleFunc("POST /v1/admin/switchover", a.switchover)
	a.mux.HandleFunc("POST /v1/admin/failover", a.failover)
	a.mux.HandleFunc("POST /v1/admin/sync", a.setSync)
	a.mux.HandleFunc("GET /stats", a.stats)
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.HandleFunc("GET /metrics", a.serveMetrics)
	return a
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(headerNode, string(a.nd.ID()))
	if _, pattern := a.mux.Handler(r); pattern == "" {
		// The mux answers itself (no such endpoint, a method the endpoint
		// does not take, a redirect to the clean path): its errors in
		// text/plain become JSON like every other. (Handler does not set
		// the path values: ServeHTTP matches again and does.)
		w = &routingErrors{ResponseWriter: w, a: a, r: r}
	}
	a.mux.ServeHTTP(w, r)
}

// routingErrors turns an error the mux answers itself into the API's
// JSON error, keeping the headers it set (Allow on a 405). A request
// the HTTP server cannot parse (a malformed escape in its path) never
// reaches the mux: net/http answers it 400 in text/plain itself.
type routingErrors struct {
	http.ResponseWriter
	a        *api
	r        *http.Request
	replaced bool // the mux's body is dropped: JSON was written instead
}

func (w *routingErrors) WriteHeader(status int) {
	if status < 400 || w.replaced {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.replaced = true
	w.Header().Del("X-Content-Type-Options")
	e := &apiError{status: status, code: "http_error", msg: fmt.Sprintf("%s %s: %s", w.r.Method, w.r.URL.Path, http.StatusText(status))}
	switch status {
	case http.StatusNotFound:
		e.code, e.msg = "no_endpoint", fmt.Sprintf("no endpoint %s %s (see the API's endpoints in README)", w.r.Method, w.r.URL.Path)
	case http.StatusMethodNotAllowed:
		e.code, e.msg = "method_not_allowed", fmt.Sprintf("%s %s: method not allowed (allowed: %s)", w.r.Method, w.r.URL.Path, w.Header().Get("Allow"))
	}
	w.a.fail(w.ResponseWriter, w.r, e)
}

func (w *routingErrors) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// apiError is an error with its HTTP status and a short code.
type apiError struct {
	status int
	code   string
	msg    string
	extra  map[string]any
}

func (e *apiError) Error() string { return e.msg }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// classify maps an error of the library to a status and a code.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	e := &apiError{status: http.StatusInternalServerError, code: "internal", msg: err.Error()}
	var nl *replstore.NotLeaderError
	var na *replstore.NotAcknowledgedError
	switch {
	case errors.As(err, &na):
		e.status, e.code = http.StatusGatewayTimeout, "not_acknowledged"
		if na.Pos != (replstore.Position{}) {
			e.extra = map[string]any{"position": na.Pos.String(), "epoch": na.Pos.Epoch, "version": na.Pos.LSN}
		} else {
			// A forwarded write whose answer did not come back: where it
			// is, if anywhere, is unknown (the library's message says
			// "at 0:0 ... in the leader's log").
			e.msg = fmt.Sprintf("write not acknowledged; its position and outcome are unknown (it was forwarded to the leader and no answer came back in time): %v", err)
		}
	case errors.Is(err, replstore.ErrNotAcknowledged):
		e.status, e.code = http.StatusGatewayTimeout, "not_acknowledged"
	case errors.As(err, &nl) && nl.Leader != "":
		e.status, e.code = http.StatusMisdirectedRequest, "not_leader"
		e.extra = map[string]any{"leader": nl.Leader}
	case errors.Is(err, replstore.ErrNotLeader), errors.Is(err, replstore.ErrStaleEpoch):
		e.status, e.code = http.StatusServiceUnavailable, "no_leader"
	case errors.Is(err, replstore.ErrBadToken):
		e.status, e.code = http.StatusBadRequest, "bad_token"
	case errors.Is(err, replstore.ErrEmptyKey):
		e.status, e.code = http.StatusBadRequest, "empty_key"
	case errors.Is(err, replstore.ErrKeyTooLarge):
		e.status, e.code = http.StatusRequestEntityTooLarge, "key_too_large"
	case errors.Is(err, replstore.ErrValueTooLarge):
		e.status, e.code = http.StatusRequestEntityTooLarge, "value_too_large"
	case errors.Is(err, replstore.ErrSampleTimeOutOfRange), errors.Is(err, replstore.ErrBadCommand):
		e.status, e.code = http.StatusBadRequest, "bad_input"
	case errors.Is(err, replstore.ErrVersionMismatch):
		e.status, e.code = http.StatusConflict, "version_mismatch"
	case errors.Is(err, replstore.ErrAlreadyLeader):
		e.status, e.code = http.StatusConflict, "already_leader"
	case errors.Is(err, replstore.ErrSyncSetTooSmall):
		e.status, e.code = http.StatusConflict, "sync_set_too_small"
	case errors.Is(err, replstore.ErrTopologyChangePending):
		e.status, e.code = http.StatusConflict, "change_pending"
	case errors.Is(err, replstore.ErrUnknownNode):
		e.status, e.code = http.StatusBadRequest, "unknown_node"
	case errors.Is(err, replstore.ErrInvalidConfig):
		e.status, e.code = http.StatusBadRequest, "invalid"
	case errors.Is(err, replstore.ErrTokenLost):
		e.status, e.code = http.StatusConflict, "token_lost"
	case errors.Is(err, replstore.ErrNoReplica), errors.Is(err, replstore.ErrNodeDown), errors.Is(err, replstore.ErrClosed):
		e.status, e.code = http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		e.status, e.code = http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, context.Canceled):
		e.status, e.code = statusClientGone, "canceled"
	}
	return e
}

// statusClientGone is the answer to a request whose context was canceled
// (nginx's 499, "client closed request").
const statusClientGone = 499

// shuttingDown reports whether the process's shutdown has cut the
// requests still waiting.
func (a *api) shuttingDown() bool {
	if a.shutdown == nil {
		return false
	}
	select {
	case <-a.shutdown:
		return true
	default:
		return false
	}
}

// fail writes err as JSON {error, code, ...}.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	if e.status == statusClientGone && a.shuttingDown() {
		e = &apiError{status: http.StatusServiceUnavailable, code: "shutting_down",
			msg: "the node is shutting down: the request was cut before it finished (retry on another node)"}
	}
	body := map[string]any{"error": e.msg, "code": e.code}
	for k, v := range e.extra {
		body[k] = v
	}
	if e.status >= 500 {
		a.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", e.status, "err", e.msg)
	} else {
		a.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", e.status, "err", e.msg)
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// request is one client call's context: its deadline, its session (the
// token from the header, merged with what the call does) and its mode.
type request struct {
	ctx      context.Context
	sess     *replstore.Session
	mode     string
	local    bool // mode=local: this node's own replica
	hadToken bool
}

// begin parses the token header and the mode, and starts a session.
func (a *api) begin(r *http.Request) (*request, context.CancelFunc, error) {
	mode, router, err := a.parseMode(r.URL.Query().Get("mode"))
	if err != nil {
		return nil, nil, err
	}
	req := &request{mode: mode, local: mode == "local"}
	req.sess = a.nd.NewSession(router)
	if h := r.Header.Get(headerToken); h != "" {
		tok, err := replstore.ParseToken(strings.TrimSpace(h))
		if err != nil {
			return nil, nil, &apiError{status: http.StatusBadRequest, code: "bad_token", msg: fmt.Sprintf("header %s: %v", headerToken, err)}
		}
		_ = req.sess.Adopt(tok)
		req.hadToken = true
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	req.ctx = ctx
	return req, cancel, nil
}

// parseMode reads mode=leader|any|session|local|maxlag-entries:N|maxlag-time:D.
func (a *api) parseMode(s string) (string, replstore.ReadRouter, error) {
	name, arg, _ := strings.Cut(s, ":")
	switch name {
	case "", "leader":
		return "leader", replstore.Leader{}, nil
	case "any":
		return "any", replstore.AnyFollower{}, nil
	case "session":
		return "session", replstore.SessionConsistent{}, nil
	case "local":
		return "local", localRouter{a.nd.ID()}, nil
	case "maxlag-entries":
		n, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			return "", nil, badRequest("bad_mode", "mode=%s: maxlag-entries:N wants a count, e.g. maxlag-entries:100", s)
		}
		return "maxlag-entries", replstore.MaxLagEntries(n), nil
	case "maxlag-time":
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return "", nil, badRequest("bad_mode", "mode=%s: maxlag-time:D wants a duration, e.g. maxlag-time:500ms", s)
		}
		return "maxlag-time", replstore.MaxLagTime(d), nil
	}
	return "", nil, badRequest("bad_mode", "mode=%q: want leader, any, session, local, maxlag-entries:N or maxlag-time:D", s)
}

// localRouter serves a read from the node that took the request, at
// least at the session's token (the handler waits for it first).
type localRouter struct{ self replstore.NodeID }

func (l localRouter) Route(_ context.Context, req *replstore.RouteRequest) (replstore.Target, error) {
	return replstore.Target{Node: l.self, AtLeast: replstore.Position(req.Token)}, nil
}

// prepareRead waits, for mode=local with a token, until this node has
// applied it.
func (a *api) prepareRead(req *request) error {
	if req.local && req.hadToken {
		return a.nd.WaitApplied(req.ctx, req.sess.Token().LSN)
	}
	return nil
}

// finish sets the token and served headers.
func (req *request) finish(w http.ResponseWriter, servedBy replstore.NodeID, at replstore.Position) {
	if tok := req.sess.Token(); !tok.IsZero() {
		w.Header().Set(headerToken, tok.String())
	}
	if servedBy != "" {
		w.Header().Set(headerServedBy, string(servedBy))
	}
	if at != (replstore.Position{}) {
		w.Header().Set(headerApplied, at.String())
	}
}

// servedJSON is what every read answers about the replica that served it.
type servedJSON struct {
	Node         replstore.NodeID `json:"node"`
	Applied      string           `json:"applied"`
	Leader       bool             `json:"leader"`
	Linearizable bool             `json:"linearizable"`
	LagEntries   uint64           `json:"lag_entries"`
	LagSeconds   float64          `json:"lag_seconds"`
}

func servedOf(sv replstore.Served) servedJSON {
	return servedJSON{Node: sv.Node, Applied: sv.Applied.String(), Leader: sv.Leader, Linearizable: sv.Linearizable,
		LagEntries: sv.LagEntries, LagSeconds: sv.LagTime.Seconds()}
}

// writeResult is the answer to a write.
type writeResult struct {
	Key      string           `json:"key,omitempty"`
	Series   string           `json:"series,omitempty"`
	Version  replstore.LSN    `json:"version"`
	Epoch    replstore.Epoch  `json:"epoch"`
	Position string           `json:"position"`
	Leader   replstore.NodeID `json:"leader"`
}

// maxSampleBody is the most a series sample's body may hold: a fixed
// limit of this API (a sample is a time and a number), not a setting.
const maxSampleBody = 64 << 10

// readBody reads a request body of at most limit bytes; limitOf says
// where the limit comes from, for the error.
func readBody(r *http.Request, limit int, limitOf string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, badRequest("bad_body", "reading the body: %v", err)
	}
	if len(b) > limit {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "value_too_large",
			msg: fmt.Sprintf("body larger than %d bytes (%s)", limit, limitOf)}
	}
	return b, nil
}

// serveWrite serves one write endpoint: it reads the request's mode and
// token, runs write, and answers with res completed by where the write
// is, or with write's error. write reads the endpoint's own arguments:
// a write waits for nothing before it, so a bad argument needs no
// earlier check. Each answer is counted once in writes_total.
func (a *api) serveWrite(w http.ResponseWriter, r *http.Request, res writeResult, write func(req *request) (replstore.Position, error)) {
	req, cancel, err := a.begin(r)
	if err != nil {
		a.metrics.write(classify(err).code)
		a.fail(w, r, err)
		return
	}
	defer cancel()
	pos, err := write(req)
	if err != nil {
		err = a.noLeaderErr(err)
		a.metrics.write(classify(err).code)
		// pos, when the leader took the write, says where it is.
		req.finish(w, "", pos)
		a.fail(w, r, err)
		return
	}
	a.metrics.write("ok")
	res.Version, res.Epoch, res.Position, res.Leader = pos.LSN, pos.Epoch, pos.String(), a.nd.Leader()
	req.finish(w, res.Leader, pos)
	writeJSON(w, http.StatusOK, res)
}

// noLeaderErr is err, or 503 no_leader for a write that waited the
// whole request timeout for a leader and never knew one: the library
// waits for a leader, as a failover may be under way, and answers with
// the context's error; a write that reached a leader and timed out
// there is a NotAcknowledgedError instead.
func (a *api) noLeaderErr(err error) error {
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, replstore.ErrNotAcknowledged) || a.nd.Leader() != "" {
		return err
	}
	return &apiError{status: http.StatusServiceUnavailable, code: "no_leader",
		msg: fmt.Sprintf("%v (no leader within the request timeout, %v; %s)", err, a.timeout, a.leaderDownHint())}
}

// leaderDownHint says what brings a leader back when none is known or
// the known one is silent. With manual failover waiting never does: a
// leader restarted on its directory never leads its old epoch again
// (HardState.Led), and nothing promotes anyone until an operator asks.
func (a *api) leaderDownHint() string {
	if a.cfg.ManualFailover {
		return "failover is manual: nothing promotes a new leader until an operator runs POST /v1/admin/failover"
	}
	return "the coordinator fails over on its own: wait, or fail over now with POST /v1/admin/failover"
}

func (a *api) put(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	a.serveWrite(w, r, writeResult{Key: key}, func(req *request) (replstore.Position, error) {
		value, err := readBody(r, a.maxValue(), "the node's MaxValueBytes")
		if err != nil {
			return replstore.Position{}, err
		}
		return req.sess.Put(req.ctx, key, value)
	})
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	a.serveWrite(w, r, writeResult{Key: key}, func(req *request) (replstore.Position, error) {
		return req.sess.Delete(req.ctx, key)
	})
}

func (a *api) cas(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	a.serveWrite(w, r, writeResult{Key: key}, func(req *request) (replstore.Position, error) {
		v := r.URL.Query().Get("version")
		version, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return replstore.Position{}, badRequest("bad_version", "version=%q: want the record's version (an LSN; 0 for an absent key)", v)
		}
		value, err := readBody(r, a.maxValue(), "the node's MaxValueBytes")
		if err != nil {
			return replstore.Position{}, err
		}
		return req.sess.CompareAndSwap(req.ctx, key, replstore.LSN(version), value)
	})
}

func (a *api) maxValue() int {
	if a.cfg.MaxValueBytes > 0 {
		return a.cfg.MaxValueBytes
	}
	return replstore.DefaultConfig().MaxValueBytes
}

// recordJSON is a record as GET answers it.
type recordJSON struct {
	Key     string          `json:"key"`
	Value   []byte          `json:"value"`          // base64
	Text    *string         `json:"text,omitempty"` // the value, when it is valid UTF-8
	Version replstore.LSN   `json:"version"`
	Epoch   replstore.Epoch `json:"epoch"`
	Time    time.Time       `json:"time"`
	Served  servedJSON      `json:"served"`
}

// recordOf is rec as GET answers it, read from the replica sv.
func recordOf(rec replstore.Record, sv replstore.Served) recordJSON {
	out := recordJSON{Key: rec.Key, Value: rec.Value, Version: rec.Pos.LSN, Epoch: rec.Pos.Epoch, Time: rec.Time, Served: servedOf(sv)}
	if utf8.Valid(rec.Value) {
		t := string(rec.Value)
		out.Text = &t
	}
	return out
}

// notFound is a read's answer when what it asked for is absent: a 404
// that, like every read's answer, names the replica that served it.
func notFound(sv replstore.Served, format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf(format, args...),
		extra: map[string]any{"served": servedOf(sv)}}
}

// serveRead serves one read endpoint. read runs the read and returns
// the 200 body and the replica that served it, or an error (notFound
// for what is absent), with which the body is not used. Before read,
// in the order the API answers them, come the request's mode and
// token, then badArg (the endpoint's own malformed argument, or nil),
// then, for a local read with a token, the wait until this node has
// applied it. badArg is passed in rather than checked inside read so
// that a bad argument is answered at once, not after a wait that may
// end in a timeout. Each answer is counted once in reads_total, and
// every answer after the token was read carries the token and served
// headers.
func (a *api) serveRead(w http.ResponseWriter, r *http.Request, badArg error, read func(req *request) (any, replstore.Served, error)) {
	req, cancel, err := a.begin(r)
	if err != nil {
		a.metrics.read("", classify(err).code)
		a.fail(w, r, err)
		return
	}
	defer cancel()
	var body any
	var sv replstore.Served
	err = badArg
	if err == nil {
		err = a.prepareRead(req)
	}
	if err == nil {
		body, sv, err = read(req)
	}
	req.finish(w, sv.Node, sv.Applied)
	if err != nil {
		a.metrics.read(req.mode, classify(err).code)
		a.fail(w, r, err)
		return
	}
	a.metrics.read(req.mode, "ok")
	writeJSON(w, http.StatusOK, body)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	a.serveRead(w, r, nil, func(req *request) (any, replstore.Served, error) {
		rec, found, sv, err := req.sess.Get(req.ctx, key)
		if err == nil && !found {
			err = notFound(sv, "key %q not found", key)
		}
		return recordOf(rec, sv), sv, err
	})
}

// sampleIn is the body of POST /v1/series/{name}.
type sampleIn struct {
	Time  json.RawMessage `json:"time"`
	Value *float64        `json:"value"`
}

// parseTime reads RFC 3339 (with optional fraction) or Unix nanoseconds.
func parseTime(s string) (time.Time, error) {
	if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(0, ns), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func (a *api) appendSample(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a.serveWrite(w, r, writeResult{Series: name}, func(req *request) (replstore.Position, error) {
		ts, value, err := readSample(r)
		if err != nil {
			return replstore.Position{}, err
		}
		return req.sess.AppendSample(req.ctx, name, ts, value)
	})
}

// readSample reads the body of POST /v1/series/{name}.
func readSample(r *http.Request) (time.Time, float64, error) {
	body, err := readBody(r, maxSampleBody, "the limit of this API on a series sample's body")
	if err != nil {
		return time.Time{}, 0, err
	}
	var in sampleIn
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return time.Time{}, 0, badRequest("bad_json", "body: %v; want {\"time\": RFC 3339 or Unix ns, \"value\": number}", err)
	}
	// One sample per request: more after it would be dropped unseen.
	if _, err := dec.Token(); err != io.EOF {
		return time.Time{}, 0, badRequest("bad_json", "body: more after the sample's JSON object; want exactly one {\"time\": ..., \"value\": ...}")
	}
	if in.Value == nil || len(in.Time) == 0 {
		return time.Time{}, 0, badRequest("bad_json", "body needs both \"time\" and \"value\"")
	}
	var ts time.Time
	var str string
	var num json.Number
	switch {
	case json.Unmarshal(in.Time, &str) == nil:
		ts, err = parseTime(str)
	case json.Unmarshal(in.Time, &num) == nil:
		ts, err = parseTime(num.String())
	default:
		err = fmt.Errorf("neither a string nor a number")
	}
	if err != nil {
		return time.Time{}, 0, badRequest("bad_time", "time %s: %v; want RFC 3339 (2026-01-02T15:04:05.123Z) or Unix nanoseconds", in.Time, err)
	}
	return ts, *in.Value, nil
}

// sampleJSON is a sample as reads answer it.
type sampleJSON struct {
	Time    time.Time       `json:"time"`
	Value   float64         `json:"value"`
	Version replstore.LSN   `json:"version"`
	Epoch   replstore.Epoch `json:"epoch"`
}

func sampleOf(s replstore.Sample) sampleJSON {
	return sampleJSON{Time: s.Time, Value: s.Value, Version: s.Pos.LSN, Epoch: s.Pos.Epoch}
}

func samplesOf(ss []replstore.Sample) []sampleJSON {
	out := make([]sampleJSON, 0, len(ss))
	for _, s := range ss {
		out = append(out, sampleOf(s))
	}
	return out
}

// timeRange reads ?from= and ?to= (RFC 3339 or Unix ns); a bound not
// given leaves the range open on its side.
func timeRange(r *http.Request) (from, to time.Time, err error) {
	from, to = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := r.URL.Query().Get(p.name); v != "" {
			at, perr := parseTime(v)
			if perr != nil {
				return from, to, badRequest("bad_time", "%s=%q: want RFC 3339 or Unix nanoseconds", p.name, v)
			}
			*p.t = at
		}
	}
	return from, to, nil
}

func (a *api) rangeSamples(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	from, to, badArg := timeRange(r)
	a.serveRead(w, r, badArg, func(req *request) (any, replstore.Served, error) {
		ss, sv, err := req.sess.Range(req.ctx, name, from, to)
		return map[string]any{"series": name, "samples": samplesOf(ss), "served": servedOf(sv)}, sv, err
	})
}

func (a *api) latest(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a.serveRead(w, r, nil, func(req *request) (any, replstore.Served, error) {
		s, found, sv, err := req.sess.Latest(req.ctx, name)
		if err == nil && !found {
			err = notFound(sv, "series %q has no sample", name)
		}
		return map[string]any{"series": name, "sample": sampleOf(s), "served": servedOf(sv)}, sv, err
	})
}

// knownNodes lists the configured nodes plus those the node knows of now.
func (a *api) knownNodes() []replstore.NodeID {
	known := append(append([]replstore.NodeID{a.cfg.Leader}, a.cfg.SyncFollowers...), a.cfg.AsyncFollowers...)
	if reps, err := a.nd.Replicas(); err == nil {
		for _, rs := range reps {
			if !slices.Contains(known, rs.ID) {
				known = append(known, rs.ID)
			}
		}
	}
	return known
}

// target reads ?name=ID naming a known node.
func (a *api) target(r *http.Request, param string) (replstore.NodeID, error) {
	id := replstore.NodeID(r.URL.Query().Get(param))
	if id == "" {
		return "", badRequest("bad_target", "%s= is required: name a node", param)
	}
	if known := a.knownNodes(); !slices.Contains(known, id) {
		return "", &apiError{status: http.StatusBadRequest, code: "unknown_node", msg: fmt.Sprintf("%s=%s: no such node (known: %v)", param, id, known)}
	}
	return id, nil
}

// coordinatorErr refuses an operator call that needs the coordinator
// (failover, switchover, a sync-list change) when none is configured.
func (a *api) coordinatorErr() error {
	if a.noCoordinator {
		return &apiError{status: http.StatusServiceUnavailable, code: "no_coordinator",
			msg: "no coordinator is configured: start one with -coordinator, and name it in every node's -peers as coordinator=host:port"}
	}
	return nil
}

func (a *api) adminCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), max(a.timeout, 10*time.Second))
}

func (a *api) switchover(w http.ResponseWriter, r *http.Request) {
	to, err := a.target(r, "to")
	if err == nil {
		err = a.coordinatorErr()
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx, cancel := a.adminCtx(r)
	defer cancel()
	a.log.Info("operator switchover", "to", string(to))
	d, err := a.nd.Switchover(ctx, to)
	a.decided(w, r, d, err)
}

func (a *api) failover(w http.ResponseWriter, r *http.Request) {
	if err := a.coordinatorErr(); err != nil {
		a.fail(w, r, err)
		return
	}
	var opts replstore.FailoverOptions
	if v := r.URL.Query().Get("allow_data_loss"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			a.fail(w, r, badRequest("bad_flag", "allow_data_loss=%q: want true or false", v))
			return
		}
		opts.AllowDataLoss = b
	}
	ctx, cancel := a.adminCtx(r)
	defer cancel()
	a.log.Info("operator failover", "allow_data_loss", opts.AllowDataLoss)
	d, err := a.nd.Failover(ctx, opts)
	a.decided(w, r, d, err)
}

func (a *api) decided(w http.ResponseWriter, r *http.Request, d replstore.Decision, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("coordinator decided", "promote", string(d.Promote), "sync", d.Topology.Sync, "async", d.Topology.Async, "reason", d.Reason)
	writeJSON(w, http.StatusOK, d)
}

func (a *api) setSync(w http.ResponseWriter, r *http.Request) {
	id, err := a.target(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v := r.URL.Query().Get("sync")
	sync, perr := strconv.ParseBool(v)
	if perr != nil {
		a.fail(w, r, badRequest("bad_flag", "sync=%q: want true or false", v))
		return
	}
	// The leader makes the change only once the coordinator has recorded
	// it: without one, it would wait forever and block every later change.
	if err := a.coordinatorErr(); err != nil {
		a.fail(w, r, err)
		return
	}
	ctx, cancel := a.adminCtx(r)
	defer cancel()
	if err := a.nd.SetSync(ctx, id, sync); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "sync": sync})
}

func (a *api) stats(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	st, err := a.nd.Stats(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "up", "node": a.nd.ID()})
}

// readyz is 200 when the node knows a leader and, as a follower, has
// caught up with it since it started. Not ready for want of a leader,
// it says what brings one back (leaderDownHint).
func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	leader := a.nd.Leader()
	if leader == "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "code": "no_leader",
			"error": fmt.Sprintf("knows no leader yet (%s)", a.leaderDownHint())})
		return
	}
	reps, err := a.nd.Replicas()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, rs := range reps {
		if rs.ID != a.nd.ID() {
			continue
		}
		if !rs.Leader && a.heard != nil {
			if ago, ok := a.heard.since(leader); !ok || ago > a.leaderSilence {
				writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "leader": leader,
					"error": fmt.Sprintf("no message from leader %s for over %v (it may be down; %s)", leader, a.leaderSilence, a.leaderDownHint()),
					"code":  "leader_silent"})
				return
			}
		}
		if !rs.Leader && !rs.CaughtUp {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "leader": leader, "lag_entries": rs.LagEntries,
				"error": "not caught up with the leader yet", "code": "catching_up"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ready": true, "leader": leader, "applied": rs.Applied.String(), "lag_entries": rs.LagEntries})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "error": "not in the replica states yet", "code": "starting"})
}
