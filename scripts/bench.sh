#!/usr/bin/env bash
# bench.sh: Confab against the etcd baseline on this machine.
#
# Starts a fresh three-node cluster in a temp folder (scripts/cluster.sh), runs
# confab-bench at concurrency 1, 16 and 256 (SECS seconds each after a 1 s warm-up,
# 200-byte messages, requests to the leader; SPREAD=1 spreads them over all three
# nodes), stops the cluster, then, if BASELINES names a folder holding etcd3.sh (a
# baseline script kept outside this repository), runs it and prints both.
# env: SECS (8), CONCS ("1 16 256"), SPREAD (0), BASELINES (unset: Confab only),
#      BUILDDIR (where confabd and confab-bench are; default: the current folder),
#      STRACE=1 to count durable writes per node
#      (slows the nodes: not for throughput figures),
#      PORT_BASE (8000: nodes on 8001-8003; passed to cluster.sh),
#      FANOUT=N to also run the group fan-out mode (confab-bench --fanout N,
#      members' sockets and sends over all three nodes, FANOUT_RATE messages/s,
#      default 100; 0 for a closed loop) for SECS seconds.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECS:-8}
CONCS=${CONCS:-"1 16 256"}
SPREAD=${SPREAD:-0}
PB=${PORT_BASE:-8000}
export PORT_BASE=$PB
BASELINES=${BASELINES:-}
if ! command -v python3 >/dev/null 2>&1; then
	echo "$0: needs python3 (apt-get install python3)" >&2
	exit 1
fi
BUILDDIR=$(cd "${BUILDDIR:-.}" && pwd)
export BUILDDIR
BENCH=$BUILDDIR/confab-bench
if [ ! -x "$BENCH" ]; then
	echo "$0: $BENCH not found: run from the build folder or set BUILDDIR" >&2
	exit 1
fi
RUN=$(mktemp -d /tmp/confab-bench-XXXXXX)
trap '"$REPO/scripts/cluster.sh" stop "$RUN" || true' EXIT INT TERM
# One bench user sends far over the per-user rate a person needs.
CONFABD_ARGS="--rate-limit=1000000 --rate-burst=1000000 ${CONFABD_ARGS:-}" \
	"$REPO/scripts/cluster.sh" start "$RUN"

URLS=()
if [ "$SPREAD" = 1 ]; then
	URLS=(--url http://127.0.0.1:$((PB + 1)) --url http://127.0.0.1:$((PB + 2)) --url http://127.0.0.1:$((PB + 3)))
else
	leader=$(curl -sf http://127.0.0.1:$((PB + 1))/v1/cluster |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["leaderId"])')
	URLS=(--url "http://127.0.0.1:$((PB + leader))")
fi

RES=$RUN/confab.jsonl
: > "$RES"
# metric NAME PORT: a counter's value from one node's /metrics
metric() { curl -sf "http://127.0.0.1:$2/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
PIDS=$(cat "$RUN"/n1.pid "$RUN"/n2.pid "$RUN"/n3.pid 2>/dev/null || true)
for c in $CONCS; do
	e0=$(metric confab_raft_entries_applied_total $((PB + 1)))
	m0=$(metric confab_messages_committed_total $((PB + 1)))
	SPIDS=()
	if [ "${STRACE:-0}" = 1 ]; then
		# Durable writes per node: raft appends through io_submit on an
		# O_DSYNC|O_DIRECT segment (each one a sync), plus our checkpoints'
		# fdatasync/fsync. strace slows the nodes: use STRACE=1 runs for
		# these counts only, not for throughput.
		for p in $PIDS; do
			strace -f -c -e trace=io_submit,fdatasync,fsync -o "$RUN/strace.$p.$c" -p "$p" 2>/dev/null &
			SPIDS+=($!)
		done
		sleep 0.5
	fi
	"$BENCH" "${URLS[@]}" --concurrency "$c" --seconds "$SECS" --warmup 1 \
		--size 200 --conversations 16 | tee -a "$RES"
	for p in "${SPIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	wait "${SPIDS[@]}" 2>/dev/null || true
	e1=$(metric confab_raft_entries_applied_total $((PB + 1)))
	m1=$(metric confab_messages_committed_total $((PB + 1)))
	echo "c=$c: $((m1 - m0)) messages in $((e1 - e0)) raft entries: $(awk -v m=$((m1 - m0)) -v e=$((e1 - e0)) 'BEGIN{printf "%.1f", e ? m / e : 0}') messages per entry" | tee -a "$RUN/detail.txt"
	if [ "${STRACE:-0}" = 1 ]; then
		for p in $PIDS; do
			n=$(awk '$NF ~ /^(io_submit|fdatasync|fsync)$/ {s += $4} END {print s + 0}' "$RUN/strace.$p.$c")
			echo "c=$c: pid $p: $n durable writes (io_submit+fdatasync+fsync), $(awk -v n="$n" -v m=$((m1 - m0)) 'BEGIN{printf "%.3f", m ? n / m : 0}') per message" | tee -a "$RUN/detail.txt"
		done
	fi
done
FAN=$RUN/fanout.jsonl
: > "$FAN"
if [ -n "${FANOUT:-}" ]; then
	RATE=()
	[ "${FANOUT_RATE:-100}" != 0 ] && RATE=(--rate "${FANOUT_RATE:-100}")
	"$BENCH" --fanout "$FANOUT" --url http://127.0.0.1:$((PB + 1)) --url http://127.0.0.1:$((PB + 2)) \
		--url http://127.0.0.1:$((PB + 3)) "${RATE[@]}" --seconds "$SECS" --warmup 1 \
		--size 200 | tee -a "$FAN"
fi
"$REPO/scripts/cluster.sh" stop "$RUN"

ETCD_OUT=""
if [ -n "$BASELINES" ]; then
	if [ -f "$BASELINES/etcd3.sh" ]; then
		ETCD_OUT=$(SECS=$SECS CONCS=$CONCS bash "$BASELINES/etcd3.sh" 2>&1 | tail -n 5) ||
			ETCD_OUT="etcd3.sh failed: $ETCD_OUT"
	else
		ETCD_OUT="$BASELINES/etcd3.sh not found"
	fi
fi

echo
echo "== confab (3 nodes, $([ "$SPREAD" = 1 ] && echo "spread over all nodes" || echo "to the leader"), 200 B, ${SECS}s) =="
python3 - "$RES" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if line.startswith('{'):
        d = json.loads(line)
        print("c=%-4s ops_s=%-9s p50_ms=%-8s p99_ms=%-8s errors=%s total=%s" % (
            d["conc"], d["ops_s"], d["p50_ms"], d["p99_ms"], d["errors"], d["total"]))
PY
cat "$RUN/detail.txt"
if [ -s "$FAN" ]; then
	echo "== confab group fan-out ($FANOUT members over 3 nodes, ${SECS}s) =="
	cat "$FAN"
fi
if [ -n "$ETCD_OUT" ]; then
	echo "== etcd baseline =="
	echo "$ETCD_OUT"
fi
rm -rf "$RUN"
