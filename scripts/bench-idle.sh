#!/usr/bin/env bash
# bench-idle.sh: issue 11's "RSS per idle WebSocket with 10,000 sockets" and
# "loop lag p50/p99/max under load", on this machine.
#
#   1. Idle sockets, ROUNDS (2) times: a fresh three-node cluster
#      (scripts/cluster.sh, --max-connections SOCKETS+100), then
#      `confab-bench --idle SOCKETS` against node 1 twice: the first run is
#      the cost of an idle WebSocket on a fresh node (its RSS from /metrics,
#      process_resident_memory_bytes, before and after the sockets opened,
#      per socket; and confab_connection_buffer_bytes per socket); the
#      second, once the first run's sockets are closed, shows what opening
#      them again adds (about 0: the freed memory is reused). The cluster
#      is then stopped.
#   2. Loop lag: a fresh cluster, `confab-bench --concurrency CONC
#      --seconds SECS` (the plain send mode, 200-byte messages) to the
#      leader; the leader's confab_loop_lag_seconds histogram after minus
#      before the run (creation of the conversations and the 1 s warm-up
#      included): iterations, p50 and p99 estimated from the buckets
#      (linear inside a bucket, as confab-bench --fanout does), the
#      iterations over 2 ms (issue 11's target), the largest bucket that
#      received an iteration, and confab_loop_lag_max_seconds (the longest
#      since the node started). The histogram counts monotonic time: on a
#      loaded machine an iteration preempted for another process's turn
#      counts as lag.
# The load average (/proc/loadavg) is printed with each figure: the figures
# are the machine's, and other processes on it count in them.
#
# env: SOCKETS (10000), ROUNDS (2), CONC (16), SECS (20), PORT_BASE (8900:
#      nodes on PORT_BASE+1..+3; see scripts/cluster.sh), BUILDDIR (where
#      confabd and confab-bench are; default: the current folder),
#      CONFABD_ARGS (extra confabd options).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SOCKETS=${SOCKETS:-10000}
ROUNDS=${ROUNDS:-2}
CONC=${CONC:-16}
SECS=${SECS:-20}
export PORT_BASE=${PORT_BASE:-8900}
PB=$PORT_BASE
BUILDDIR=$(cd "${BUILDDIR:-.}" && pwd)
export BUILDDIR
BENCH=$BUILDDIR/confab-bench
for p in confabd confab-bench; do
	if [ ! -x "$BUILDDIR/$p" ]; then
		echo "$0: $BUILDDIR/$p not found: run from the build folder or set BUILDDIR" >&2
		exit 1
	fi
done
RUN=$(mktemp -d /tmp/confab-idle-XXXXXX)
CLUSTERS=()
cleanup() {
	local d
	for d in "${CLUSTERS[@]}"; do
		"$REPO/scripts/cluster.sh" stop "$d" >/dev/null 2>&1 || true
	done
	rm -rf "$RUN"
}
trap cleanup EXIT INT TERM
export CONFABD_ARGS="--max-connections=$((SOCKETS + 100)) --rate-limit=1000000 --rate-burst=1000000 ${CONFABD_ARGS:-}"
OUT=$RUN/figures.txt
: > "$OUT"

say() { echo "bench-idle: $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# start_cluster DIR / stop_cluster DIR (by the pid files cluster.sh writes)
start_cluster() {
	CLUSTERS+=("$1")
	"$REPO/scripts/cluster.sh" start "$1" >&2
}
stop_cluster() { "$REPO/scripts/cluster.sh" stop "$1" >&2; }
# j FIELD: a number from the JSON line on stdin
j() { sed -n "s/.*\"$1\":\([-0-9.]*\).*/\1/p"; }

# 1. idle sockets
for r in $(seq 1 "$ROUNDS"); do
	D=$RUN/idle$r
	start_cluster "$D"
	for run in 1 2; do
		la=$(loadavg)
		"$BENCH" --idle "$SOCKETS" --url "http://127.0.0.1:$((PB + 1))" > "$D/idle$run.json" ||
			say "round $r run $run: confab-bench --idle exited $? (failed sockets?)"
		line=$(cat "$D/idle$run.json")
		[ -n "$line" ] || { say "round $r run $run: no figures"; continue; }
		what="fresh node"
		[ $run = 2 ] && what="sockets reopened"
		printf 'idle round %s run %s (%s): %s of %s open, %s failed; RSS %s -> %s B: %s B per idle WebSocket; connection buffers %s B per socket; load %s\n' \
			"$r" "$run" "$what" "$(j open <<<"$line")" "$SOCKETS" "$(j failed <<<"$line")" \
			"$(j rss_before <<<"$line")" "$(j rss_after <<<"$line")" \
			"$(j rss_per_socket <<<"$line")" "$(j buffer_per_socket <<<"$line")" "$la" | tee -a "$OUT"
	done
	stop_cluster "$D"
done

# 2. loop lag under load
D=$RUN/lag
start_cluster "$D"
leader=$(curl -sf "http://127.0.0.1:$((PB + 1))/v1/cluster" | sed -n 's/.*"leaderId":\([0-9]*\).*/\1/p')
[ -n "$leader" ] || { say "no leader"; exit 1; }
LURL=http://127.0.0.1:$((PB + leader))
curl -sf "$LURL/metrics" > "$D/m0.txt"
la0=$(loadavg)
"$BENCH" --url "$LURL" --concurrency "$CONC" --seconds "$SECS" > "$D/send.json"
la1=$(loadavg)
curl -sf "$LURL/metrics" > "$D/m1.txt"
send=$(cat "$D/send.json")
# The histogram's bucket deltas -> iterations, p50, p99 (ms), largest bucket.
lag=$(awk '
	function le_of(s) { sub(/.*le="/, "", s); sub(/".*/, "", s); return s }
	/^confab_loop_lag_seconds_bucket\{le="/ {
		v = le_of($1)
		if (FILENAME == ARGV[1]) { b0[v] = $2; next }
		n++; le[n] = v; d[n] = $2 - b0[v]
	}
	END {
		total = d[n]
		if (total <= 0) { print "0 -1 -1 0 none"; exit }
		over2 = -1
		for (i = 1; i <= n; i++)
			if (le[i] == 0.002) over2 = total - d[i]
		for (q = 1; q <= 2; q++) {
			rank = (q == 1 ? 0.5 : 0.99) * total; p[q] = -1
			for (i = 1; i <= n; i++) {
				if (d[i] < rank || d[i] == 0) continue
				prev = i > 1 ? d[i - 1] : 0; lo = i > 1 ? le[i - 1] : 0
				if (le[i] == "+Inf") p[q] = lo * 1000
				else if (d[i] == prev) p[q] = le[i] * 1000
				else p[q] = (lo + (le[i] - lo) * (rank - prev) / (d[i] - prev)) * 1000
				break
			}
		}
		top = "none"
		for (i = 1; i <= n; i++)
			if (d[i] > (i > 1 ? d[i - 1] : 0))
				top = le[i] == "+Inf" ? ("over " le[i - 1] * 1000 " ms") : ("<= " le[i] * 1000 " ms")
		printf "%d %.3f %.3f %d %s\n", total, p[1], p[2], over2, top
	}' "$D/m0.txt" "$D/m1.txt")
read -r iters p50 p99 over2 top <<<"$lag"
maxs=$(awk '$1 == "confab_loop_lag_max_seconds" {printf "%.3f", $2 * 1000}' "$D/m1.txt")
printf 'send c=%s %ss to the leader (node %s): %s msg/s, ack p50 %s ms, p99 %s ms, %s errors; load %s -> %s\n' \
	"$CONC" "$SECS" "$leader" "$(j ops_s <<<"$send")" "$(j p50_ms <<<"$send")" \
	"$(j p99_ms <<<"$send")" "$(j errors <<<"$send")" "$la0" "$la1" | tee -a "$OUT"
printf 'loop lag of the leader during it: %s iterations, p50 %s ms, p99 %s ms (bucket estimates), %s over 2 ms, largest bucket hit %s; confab_loop_lag_max_seconds %s ms (since start)\n' \
	"$iters" "$p50" "$p99" "$over2" "$top" "$maxs" | tee -a "$OUT"
stop_cluster "$D"

echo
echo "== bench-idle ($SOCKETS idle WebSockets; c=$CONC for ${SECS}s; $(nproc) cores) =="
cat "$OUT"
