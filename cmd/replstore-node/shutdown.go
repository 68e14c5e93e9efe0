package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"
)

// onSignals stops the process on signals: the first cancels stop (run
// then shuts down gracefully); a second one, during that shutdown, ends
// the process at once with status 1, for an operator who will not wait
// for -shutdown-timeout. It returns when sigs is closed.
func onSignals(sigs <-chan os.Signal, stop context.CancelFunc, exit func(int), log *slog.Logger) {
	sig, ok := <-sigs
	if !ok {
		return
	}
	log.Info("signal received: shutting down gracefully (a second signal exits at once)", "signal", sig.String())
	stop()
	sig, ok = <-sigs
	if !ok {
		return
	}
	log.Error("second signal during shutdown: exiting at once, without answering in-flight requests or closing the node", "signal", sig.String())
	exit(1)
}

// cutReserve is how long before -shutdown-timeout ends the in-flight
// HTTP requests still waiting are cut (their context canceled), so that
// they answer before the server closes their connections: up to 1 s,
// half the timeout when that is shorter.
func cutReserve(shutdownTimeout time.Duration) time.Duration {
	return min(time.Second, shutdownTimeout/2)
}

// statusClientGone is the API's status for a request whose context was
// canceled (nginx's 499, "client closed request").
const statusClientGone = 499

// shutdownAnswers wraps the API: once cut is closed (shutdown canceled
// the requests' base context), a request that ends because its context
// was canceled answers 503 "shutting_down" instead of 499, which would
// say the client went away. Other answers (a write's 504 with the
// position the leader appended it at) pass unchanged.
func shutdownAnswers(h http.Handler, cut <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&cutWriter{ResponseWriter: w, cut: cut}, r)
	})
}

// cutWriter is shutdownAnswers' ResponseWriter.
type cutWriter struct {
	http.ResponseWriter
	cut      <-chan struct{}
	replaced bool // the answer was replaced: drop the handler's body
}

func (w *cutWriter) WriteHeader(status int) {
	if status == statusClientGone {
		select {
		case <-w.cut:
			w.replaced = true
			writeJSON(w.ResponseWriter, http.StatusServiceUnavailable, map[string]any{
				"error": "the node is shutting down: the request was cut before it finished (retry on another node)",
				"code":  "shutting_down"})
			return
		default:
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
