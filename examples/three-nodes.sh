#!/usr/bin/env bash
# A three-process replstore cluster on loopback, driven with curl:
#   n1 leader, n2 sync follower (ack durable), n3 async follower,
#   and the built-in coordinator (manual failover, as PostgreSQL without
#   Patroni) in n3's process.
#
# Why the coordinator is not in n1's process: it keeps the epoch and the
# topology in memory, so a kill -9 of its process takes them along; the
# failover below needs it alive after the leader dies.
#
# Each node keeps its log and hard state in its own -dir (package wal):
# the old leader, killed with -9 and restarted over its directory, comes
# back with its log and epoch, rolls back what it never had acknowledged
# and follows the new leader. It is restarted with the topology in force
# after the failover, as an operator would.
#
# Run from the repository root:   examples/three-nodes.sh
# Needs: go, curl. Ports 7100-7103 and 8101-8103 on 127.0.0.1.
set -euo pipefail

BINDIR=$(mktemp -d)
BIN=$BINDIR/replstore-node
LOGS=$(mktemp -d)
DATA=$(mktemp -d)   # one directory per node under here
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$DATA" "$BINDIR"
  echo "logs are in $LOGS"
}
trap cleanup EXIT INT TERM

go build -o "$BIN" ./cmd/replstore-node

PEERS=n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103,coordinator=127.0.0.1:7100
export REPLSTORE_CLUSTER_ID=demo REPLSTORE_PEERS=$PEERS   # every flag has a REPLSTORE_ variable

# start ID [flags...]: starts node ID; its HTTP API is on 127.0.0.1:810N.
start() {
  local id=$1; shift
  "$BIN" -id "$id" -listen "127.0.0.1:710${id#n}" -http "127.0.0.1:810${id#n}" -dir "$DATA/$id" "$@" 2>>"$LOGS/$id.log" &
  PIDS+=($!)
  eval "PID_$id=$!"
}
# waitready N: polls node nN's /readyz for up to 10 s.
waitready() {
  for _ in $(seq 100); do
    curl -sf "127.0.0.1:810$1/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "n$1 not ready; see $LOGS/n$1.log" >&2; return 1
}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

TOPO=(-leader n1 -sync n2 -async n3 -ack durable)
start n1 "${TOPO[@]}"
start n2 "${TOPO[@]}"
start n3 "${TOPO[@]}" -coordinator -coordinator-listen 127.0.0.1:7100
for n in 1 2 3; do waitready $n; done

say "write through every node (followers forward to the leader)"
curl -s -X PUT --data 'hello from n1' 127.0.0.1:8101/v1/kv/greeting; echo
curl -s -X PUT --data 'via n2' 127.0.0.1:8102/v1/kv/k2; echo
curl -s -X PUT --data 'via n3' 127.0.0.1:8103/v1/kv/k3; echo
curl -s -X POST -d '{"time":"2026-01-01T00:00:00Z","value":21.5}' 127.0.0.1:8103/v1/series/temp; echo

say "read with each mode (see served.node and the Replstore-Served-By header)"
for mode in leader any session maxlag-entries:10 maxlag-time:1s local; do
  echo "-- mode=$mode via n2"
  curl -s -D - "127.0.0.1:8102/v1/kv/greeting?mode=$mode" | grep -iE '^replstore-|"(text|node)"'
done
curl -s '127.0.0.1:8101/v1/series/temp/latest?mode=any'; echo

say "a token carried from one node to another (read-your-writes across nodes)"
TOKEN=$(curl -s -D - -o /dev/null -X PUT --data v2 127.0.0.1:8103/v1/kv/greeting | tr -d '\r' | awk -F': ' 'tolower($1)=="replstore-token"{print $2}')
echo "write via n3 returned Replstore-Token: $TOKEN"
curl -s -H "Replstore-Token: $TOKEN" '127.0.0.1:8102/v1/kv/greeting?mode=session'; echo
echo "-- a malformed token is refused:"
curl -s -H 'Replstore-Token: banana' '127.0.0.1:8102/v1/kv/greeting?mode=session'; echo

say "cluster state (GET /stats) and metrics"
curl -s 127.0.0.1:8101/stats | head -20
curl -s 127.0.0.1:8101/metrics | grep -v '^#'

say "kill -9 the leader n1"
kill -9 "$PID_n1"; wait "$PID_n1" 2>/dev/null || true
echo "-- a write via n2 now cannot be acknowledged (no leader): 504/503 after -request-timeout"
curl -s -m 8 -X PUT --data lost? 127.0.0.1:8102/v1/kv/during-outage || true; echo

say "operator failover via n2's admin API (manual failover)"
curl -s -X POST 127.0.0.1:8102/v1/admin/failover; echo
curl -s -X PUT --data 'after failover' 127.0.0.1:8103/v1/kv/greeting; echo
curl -s 127.0.0.1:8103/v1/kv/greeting; echo

say "restart the old leader n1: it comes back from its -dir (log and epoch), rolls back what it never had acknowledged and follows"
NEWTOPO=$(curl -s 127.0.0.1:8102/stats | tr -d ' \n' | sed -E 's/.*"Topology":\{"Leader":"([^"]*)","Sync":\[([^]]*)\],"Async":\[([^]]*)\].*/\1 \2 \3/' | tr -d '"')
read -r L S A <<<"$NEWTOPO"
echo "topology in force: leader=$L sync=$S async=$A"
start n1 -leader "$L" -sync "$S" -async "$A" -ack durable
waitready 1
curl -s '127.0.0.1:8101/v1/kv/greeting?mode=local' -H "Replstore-Token: $(curl -s -D - -o /dev/null 127.0.0.1:8102/v1/kv/greeting | tr -d '\r' | awk -F': ' 'tolower($1)=="replstore-token"{print $2}')"; echo
curl -s 127.0.0.1:8102/stats | head -40

say "done; stopping (SIGTERM: graceful)"
