package main

import (
	"context"
	"log/slog"
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
