package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// counters counts requests by label values.
type counters struct {
	mu     sync.Mutex
	writes map[string]uint64    // by result
	reads  map[[2]string]uint64 // by mode, result
}

func newCounters() *counters {
	return &counters{writes: map[string]uint64{}, reads: map[[2]string]uint64{}}
}

func (c *counters) write(result string) {
	c.mu.Lock()
	c.writes[result]++
	c.mu.Unlock()
}

func (c *counters) read(mode, result string) {
	if mode == "" {
		mode = "unknown"
	}
	c.mu.Lock()
	c.reads[[2]string{mode, result}]++
	c.mu.Unlock()
}

// labelValue escapes a Prometheus label value.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// serveMetrics writes the Prometheus text exposition format (0.0.4).
func (a *api) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	gauge := func(name, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
	}
	b2f := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	ns, err := a.nd.NodeStats(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	leading := ns.Role == "leader"
	degraded := false
	if leading {
		if st, err := a.nd.Stats(ctx); err == nil {
			degraded = st.Degraded
		}
	}
	gauge("replstore_commit_lsn", "Commit LSN this node knows.")
	fmt.Fprintf(&b, "replstore_commit_lsn %d\n", ns.Commit)
	gauge("replstore_applied_lsn", "LSN applied to this node's state machine.")
	fmt.Fprintf(&b, "replstore_applied_lsn %d\n", ns.Applied)
	gauge("replstore_epoch", "Epoch this node is in.")
	fmt.Fprintf(&b, "replstore_epoch %d\n", ns.Epoch)
	gauge("replstore_is_leader", "1 if this node leads its epoch.")
	fmt.Fprintf(&b, "replstore_is_leader %d\n", b2f(leading))
	gauge("replstore_degraded", "1 if this node leads and commits leader-only after losing its sync followers.")
	fmt.Fprintf(&b, "replstore_degraded %d\n", b2f(degraded))
	if l := a.nd.Leader(); !leading && l != "" && a.heard != nil {
		if ago, ok := a.heard.since(l); ok {
			gauge("replstore_leader_last_heard_seconds", "Seconds since this follower last received a message from the leader it knows.")
			fmt.Fprintf(&b, "replstore_leader_last_heard_seconds{leader=\"%s\"} %g\n", labelValue(string(l)), ago.Seconds())
		}
	}
	if reps, err := a.nd.Replicas(); err == nil {
		gauge("replstore_follower_lag_entries", "Entries of the leader's log a follower has not applied, as this node knows it.")
		for _, rs := range reps {
			if !rs.Leader {
				fmt.Fprintf(&b, "replstore_follower_lag_entries{follower=\"%s\"} %d\n", labelValue(string(rs.ID)), rs.LagEntries)
			}
		}
		gauge("replstore_follower_lag_seconds", "Upper bound on how stale a follower's state is, as this node knows it.")
		for _, rs := range reps {
			if !rs.Leader {
				fmt.Fprintf(&b, "replstore_follower_lag_seconds{follower=\"%s\"} %g\n", labelValue(string(rs.ID)), rs.LagTime.Seconds())
			}
		}
	}
	a.metrics.mu.Lock()
	results := make([]string, 0, len(a.metrics.writes))
	for k := range a.metrics.writes {
		results = append(results, k)
	}
	slices.Sort(results)
	fmt.Fprintf(&b, "# HELP replstore_writes_total Writes taken by this node's HTTP API, by result.\n# TYPE replstore_writes_total counter\n")
	for _, k := range results {
		fmt.Fprintf(&b, "replstore_writes_total{result=\"%s\"} %d\n", labelValue(k), a.metrics.writes[k])
	}
	keys := make([][2]string, 0, len(a.metrics.reads))
	for k := range a.metrics.reads {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y [2]string) int { return strings.Compare(x[0]+"\x00"+x[1], y[0]+"\x00"+y[1]) })
	fmt.Fprintf(&b, "# HELP replstore_reads_total Reads taken by this node's HTTP API, by mode and result.\n# TYPE replstore_reads_total counter\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "replstore_reads_total{mode=\"%s\",result=\"%s\"} %d\n", labelValue(k[0]), labelValue(k[1]), a.metrics.reads[k])
	}
	a.metrics.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
