#!/usr/bin/env bash
# compare.sh: Confab beside etcd, NATS JetStream, Redis and a Node ws server, on
# this machine, in one command; prints one table with Confab/peer ratios and
# draws a chart.
#
#   bench/compare.sh [--baselines DIR]        (or: make bench, in the build folder)
#
# 1. Builds Confab unless BUILDDIR names a folder holding confabd and
#    confab-bench: make the two in ./build (first scripts/dev.sh build if
#    ./build has no Makefile: the packages the build needs, configure, make).
# 2. ROUNDS interleaved rounds; in each, one system after the other, never
#    two at once:
#    - confab: a fresh 3-node cluster (scripts/cluster.sh in a temp folder,
#      ports PORT_BASE+1..+23); for each concurrency of CONCS, closed-loop
#      sends of 200-byte messages to the leader over HTTP, then over
#      WebSocket (--ws, by default --sockets 16: up to 16 sends in flight on
#      each socket, as NATS's client keeps all of its own on one), and, at
#      concurrencies above 16, over HTTP pipelined on 16 connections
#      (--sockets 16), SECS
#      seconds after a 1 s warm-up, with the three nodes' pids (--pid: their
#      CPU per acked message); one message to N sockets spread over the nodes
#      (--fanout N --procs PROCS --rate FANOUT_RATE for SECS seconds: the
#      median over the messages of the last delivery; 2 messages/s, so that
#      one message's fan-out is over before the next, as the Node ws client
#      waits for each broadcast); then a second fresh cluster
#      with confabd --search=off for one HTTP point at CPU_CONC (CPU per ack
#      without the search index); then a third fresh cluster for
#      confab-bench --idle N on node 1 (RSS per idle WebSocket).
#    - etcd3, nats3, redis1, wsfanout: the baseline scripts of the folder
#      --baselines DIR (or BASELINES; default ../shared/bench beside this
#      repository, when it exists), each run once per round (RUNS=1) with the
#      same SECS, CONCS, 200-byte messages and N sockets (Node ws only); each
#      installs its server with apt-get when missing. A missing script or
#      folder is skipped with a note. (redis1 always runs 1, 16 and 256
#      clients with fixed request counts; wsfanout runs ROUNDS_WS broadcasts.)
# 3. Prints the table (medians over the rounds; each peer's figure with
#    Confab/peer) and writes, in RESULTS_DIR (default
#    bench/results/<UTC date-time>/, not committed): all.jsonl (every run's
#    JSON line, tagged with system and round), table.md, chart.png (gnuplot,
#    installed with apt-get when missing: sends/s and p99 by concurrency for
#    every system), log.txt and each run's output; appends the table to
#    bench/RESULTS.md with the date, the machine and the exact command
#    (RECORD=0: not).
#
# A confab-bench that rejects an option (--ws, --pid, --procs) is not an error:
# the script says so and goes on without that figure (without --pid, the CPU
# per ack comes from /proc around the run instead).
#
# env: ROUNDS (2), SECS (8), CONCS ("1 16 256"), N (10000), PROCS (2: client
#      processes for the fan-out), FANOUT_RATE (2), CPU_CONC (256 if in CONCS, else the largest),
#      ONLY (all of "confab etcd3 nats3 redis1 wsfanout"), BASELINES,
#      BUILDDIR, RESULTS_DIR, RECORD (1), PORT_BASE (8400), ROUNDS_WS (10),
#      WS_ARGS ("--sockets 16"; empty: one send in flight per socket),
#      FANOUT_ARGS (extra confab-bench options for the WebSocket sends and
#      for the fan-out run),
#      CONFABD_ARGS (extra confabd options).
# Quick check (about 3 minutes):
#   ROUNDS=1 SECS=2 CONCS="1 16" N=200 ONLY="confab redis1" bench/compare.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
TABLE=$REPO/bench/table.py

# The exact command, as typed plus the settings taken from the environment.
q() { # one word for the shell: as is, in double quotes, or %q
	case $1 in
	*[!A-Za-z0-9_./:=,+-]*) case $1 in *[\"\$\`\\!]*) printf '%q' "$1" ;; *) printf '"%s"' "$1" ;; esac ;;
	'') printf '""' ;;
	*) printf '%s' "$1" ;;
	esac
}
CMD=""
for v in ROUNDS SECS CONCS N PROCS FANOUT_RATE CPU_CONC ONLY BASELINES BUILDDIR RESULTS_DIR PORT_BASE ROUNDS_WS WS_ARGS FANOUT_ARGS CONFABD_ARGS; do
	[ "$v" = BUILDDIR ] && [ -n "${COMPARE_VIA_MAKE:-}" ] && continue
	if [ -n "${!v:-}" ]; then CMD="$CMD$v=$(q "${!v}") "; fi
done
# make bench sets COMPARE_VIA_MAKE (and BUILDDIR)
if [ -n "${COMPARE_VIA_MAKE:-}" ]; then CMD="${CMD}make -C $(q "$BUILDDIR") bench"; else CMD="${CMD}bench/compare.sh"; fi
for a in "$@"; do CMD="$CMD $(q "$a")"; done

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
while [ $# -gt 0 ]; do
	case $1 in
	--baselines) [ $# -ge 2 ] || { usage >&2; exit 2; }; BASELINES=$2; shift 2 ;;
	--baselines=*) BASELINES=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "$0: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done

ROUNDS=${ROUNDS:-2}
SECS=${SECS:-8}
CONCS=${CONCS:-"1 16 256"}
N=${N:-10000}
PROCS=${PROCS:-2}
ONLY=${ONLY:-"confab etcd3 nats3 redis1 wsfanout"}
ROUNDS_WS=${ROUNDS_WS:-10}
FANOUT_RATE=${FANOUT_RATE:-2}
RECORD=${RECORD:-1}
SIZE=200
export PORT_BASE=${PORT_BASE:-8400}
PB=$PORT_BASE
for v in "ROUNDS=$ROUNDS" "SECS=$SECS" "N=$N" "PROCS=$PROCS" "ROUNDS_WS=$ROUNDS_WS" "FANOUT_RATE=$FANOUT_RATE" "CPU_CONC=${CPU_CONC:-1}" "PORT_BASE=$PB"; do
	case ${v#*=} in '' | *[!0-9]*) echo "$0: ${v%%=*} must be a whole number (${v#*=})" >&2; exit 2 ;; esac
done
for c in $CONCS; do
	case $c in *[!0-9]* | 0) echo "$0: CONCS holds whole numbers above 0 ($c)" >&2; exit 2 ;; esac
done
[ -n "${CONCS// /}" ] || { echo "$0: CONCS is empty" >&2; exit 2; }
if [ -z "${CPU_CONC:-}" ]; then
	CPU_CONC=$(tr ' ' '\n' <<<"$CONCS" | sort -n | tail -n 1)
	case " $CONCS " in *" 256 "*) CPU_CONC=256 ;; esac
fi
if [ -z "${BASELINES:-}" ] && [ -d "$REPO/../shared/bench" ]; then
	BASELINES=$(cd "$REPO/../shared/bench" && pwd)
fi
BASELINES=${BASELINES:-}
STAMP=$(date -u +%Y%m%d-%H%M%S)
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results/$STAMP}
mkdir -p "$RESULTS_DIR"
RESULTS_DIR=$(cd "$RESULTS_DIR" && pwd)
ALL=$RESULTS_DIR/all.jsonl
LOG=$RESULTS_DIR/log.txt
: > "$ALL"
: > "$LOG"
NOTES=()

say() { echo "[$(date -u +%T)] $*" | tee -a "$LOG" >&2; }
note() { NOTES+=("$*"); say "note: $*"; }
wants() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# need CMD PKG: apt-get install PKG when CMD is missing (as root); 1 if still missing
APT_UPDATED=0
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing $2 (apt-get)"
		if [ $APT_UPDATED = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; APT_UPDATED=1; fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 || true
	fi
	command -v "$1" >/dev/null 2>&1
}
need python3 python3 || { echo "$0: needs python3" >&2; exit 1; }
need curl curl || { echo "$0: needs curl" >&2; exit 1; }

# --- the build ---
if [ -n "${BUILDDIR:-}" ]; then
	BUILDDIR=$(cd "$BUILDDIR" && pwd)
else
	BUILDDIR=$REPO/build
	if [ ! -f "$BUILDDIR/Makefile" ]; then
		# a fresh clone: what the build needs (apt-get), configure, make
		say "no $BUILDDIR/Makefile: scripts/dev.sh build"
		"$REPO/scripts/dev.sh" build >&2
	fi
	say "building confabd and confab-bench in $BUILDDIR"
	make -C "$BUILDDIR" -s -j"$(nproc)" confabd confab-bench >/dev/null
fi
export BUILDDIR
BENCH=$BUILDDIR/confab-bench
for p in confabd confab-bench; do
	[ -x "$BUILDDIR/$p" ] || { echo "$0: $BUILDDIR/$p not found" >&2; exit 1; }
done
# 10,000 sockets on one node, and as many on the client side
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -le $((N + 200)) ]; then
	note "ulimit -n is $(ulimit -n): too low for N=$N sockets"
fi

WORK=$(mktemp -d /tmp/confab-compare-XXXXXX)
CLUSTER=""	# the cluster folder while one runs
CHILD=""	# the peer script's timeout process while one runs
cleanup() {
	if [ -n "$CHILD" ]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
	if [ -n "$CLUSTER" ]; then "$REPO/scripts/cluster.sh" stop "$CLUSTER" >/dev/null 2>&1 || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# cpu_s PID...: user+system CPU seconds of these processes so far
cpu_s() {
	local p t=0 tck
	tck=$(getconf CLK_TCK)
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] && t=$((t + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat")))
	done
	awk -v t=$t -v k="$tck" 'BEGIN { printf "%.3f", t / k }'
}
# jget KEY < json: one top-level value
jget() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read() or "{}"); v=d.get(sys.argv[1]); print("" if v is None else v)' "$1"; }

# bench OUT ARGS...: run confab-bench; its JSON line in OUT.json, stderr in
# OUT.err. 0 ok; 3 when it rejected an option (REJECTED names it); 1 else.
REJECTED=""
bench() {
	local out=$1 rc=0
	shift
	# in the background, so that a signal to this script is handled at once
	timeout $((SECS + 600)) "$BENCH" "$@" > "$out.json" 2> "$out.err" &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=""
	if [ $rc != 0 ]; then
		REJECTED=$(sed -n "s/.*\(unrecognized\|invalid\|unknown\) option[^-]*\(--[a-z-]*\).*/\2/p" "$out.err" | head -n 1)
		if [ -n "$REJECTED" ] || grep -q '^usage: confab-bench' "$out.err"; then
			[ -n "$REJECTED" ] || REJECTED="(an option)"
			return 3
		fi
		say "confab-bench $* exited $rc: $(tail -n 2 "$out.err" | tr '\n' ' ')"
		# figures printed before a failure (sockets that did not open) are kept
		grep -q '^{' "$out.json" || return 1
		say "(its figures are kept: see $out.err)"
	fi
	grep -q '^{' "$out.json" || { say "confab-bench $*: no JSON line"; return 1; }
	return 0
}
# record SYSTEM ROUND FILE [KEY=VALUE...]: FILE's JSON line into all.jsonl
record() {
	local sys=$1 rnd=$2 f=$3
	shift 3
	python3 "$TABLE" tag "$sys" "$rnd" "$@" < "$f" >> "$ALL"
}

# --- Confab ---
HAVE_WS=1 HAVE_PID=1 HAVE_FANOUT=1 HAVE_PIPE=1
cluster_start() { # DIR EXTRA_CONFABD_ARGS: a fresh cluster; sets PIDS, LEADER_URL
	local d=$1 i leader=""
	CLUSTER=$d
	CONFABD_ARGS="--rate-limit=1000000 --rate-burst=1000000 --max-connections=$((N + 200)) $2 ${CONFABD_ARGS:-}" \
		"$REPO/scripts/cluster.sh" start "$d" >> "$LOG" 2>&1
	PIDS=()
	for i in 1 2 3; do PIDS+=("$(cat "$d/n$i.pid")"); done
	for _ in $(seq 1 100); do
		leader=$(curl -sf --max-time 2 "http://127.0.0.1:$((PB + 1))/v1/cluster" | jget leaderId 2>/dev/null || true)
		[ -n "$leader" ] && [ "$leader" != 0 ] && break
		sleep 0.1
	done
	if [ -z "$leader" ] || [ "$leader" = 0 ]; then say "no leader in $d"; return 1; fi
	LEADER_URL=http://127.0.0.1:$((PB + leader))
}
cluster_stop() {
	"$REPO/scripts/cluster.sh" stop "$CLUSTER" >> "$LOG" 2>&1 || true
	rm -rf "$CLUSTER"
	CLUSTER=""
}

# send SYSTEM ROUND CONC [--ws]: one closed-loop point to the leader
send() {
	local sys=$1 r=$2 c=$3 out rc=0 pidargs=() p c0 c1 extra=()
	shift 3
	out=$RESULTS_DIR/$sys.r$r.c$c
	if [ $HAVE_PID = 1 ]; then for p in "${PIDS[@]}"; do pidargs+=(--pid "$p"); done; fi
	c0=$(cpu_s "${PIDS[@]}")
	bench "$out" --url "$LEADER_URL" --concurrency "$c" --seconds "$SECS" --warmup 1 \
		--size $SIZE --conversations 16 "$@" "${pidargs[@]}" || rc=$?
	if [ $rc = 3 ] && [ "$REJECTED" = --pid ]; then
		HAVE_PID=0
		say "note: this confab-bench has no --pid: Confab's CPU per ack is read from /proc around each run instead"
		send "$sys" "$r" "$c" "$@"
		return
	fi
	c1=$(cpu_s "${PIDS[@]}")
	if [ $rc = 3 ]; then
		note "this confab-bench rejected $REJECTED ($sys): those figures are left out"
		return 3
	fi
	[ $rc = 0 ] || return 0
	if [ $HAVE_PID = 1 ]; then
		extra=(cpu_src=pid)
	else # acks over the whole run: the window's rate over window + warm-up
		extra=(cpu_src=proc "server_cpu_us_per_ack=$(jget ops_s < "$out.json" |
			awk -v a="$c0" -v b="$c1" -v s="$SECS" '{ v = 0; if ($1 > 0) v = 1e6 * (b - a) / ($1 * (s + 1)); printf "%.1f", v }')")
	fi
	record "$sys" "$r" "$out.json" "${extra[@]}"
	say "round $r $sys c=$c: $(jget ops_s < "$out.json") msg/s, p50 $(jget p50_ms < "$out.json") ms, p99 $(jget p99_ms < "$out.json") ms, $(jget errors < "$out.json") errors; load $(loadavg)"
}

confab_round() {
	local r=$1 c out rc p pidargs
	say "round $r: confab (3 nodes, $BUILDDIR/confabd)"
	cluster_start "$WORK/confab-r$r" "" || { cluster_stop; return 0; }
	for c in $CONCS; do
		send confab-http "$r" "$c" || true
		if [ $HAVE_WS = 1 ]; then
			# shellcheck disable=SC2086 # WS_ARGS: options split at spaces
			send confab-ws "$r" "$c" --ws ${WS_ARGS---sockets 16} || HAVE_WS=0
		fi
		if [ $HAVE_PIPE = 1 ] && [ "$c" -gt 16 ]; then
			# HTTP as NATS's client publishes: pipelined on few connections
			send confab-httppipe "$r" "$c" --sockets 16 || HAVE_PIPE=0
		fi
	done
	if [ $HAVE_FANOUT = 1 ] && [ "$N" -gt 0 ]; then
		out=$RESULTS_DIR/confab-fanout.r$r
		rc=0
		pidargs=()
		if [ $HAVE_PID = 1 ]; then for p in "${PIDS[@]}"; do pidargs+=(--pid "$p"); done; fi
		# shellcheck disable=SC2086 # FANOUT_ARGS: options split at spaces
		bench "$out" --fanout "$N" --procs "$PROCS" --rate "$FANOUT_RATE" --seconds "$SECS" --size $SIZE \
			--url "http://127.0.0.1:$((PB + 1))" --url "http://127.0.0.1:$((PB + 2))" \
			--url "http://127.0.0.1:$((PB + 3))" "${pidargs[@]}" ${FANOUT_ARGS:-} || rc=$?
		if [ $rc = 0 ]; then
			record confab-fanout "$r" "$out.json"
			say "round $r confab fan-out to $N sockets: last delivery $(jget last_ms < "$out.json") ms (leader $(jget leader_last_ms < "$out.json"), followers $(jget follower_last_ms < "$out.json")), client CPU $(jget client_cpu_s < "$out.json") s"
		elif [ $rc = 3 ]; then
			HAVE_FANOUT=0
			note "this confab-bench rejected $REJECTED (fan-out to N sockets over --procs processes): no Confab fan-out figure"
		fi
	fi
	cluster_stop
	say "round $r: confab with --search=off (c=$CPU_CONC, CPU per ack)"
	cluster_start "$WORK/confab-nosearch-r$r" "--search=off" || { cluster_stop; return 0; }
	send confab-http-nosearch "$r" "$CPU_CONC" || true
	cluster_stop
	# The idle sockets on a cluster of their own: after the sends their
	# closing would weigh on c=1's tail, and after the fan-out's sockets
	# the allocator's reuse would flatter the figure.
	if [ "$N" -gt 0 ]; then
		say "round $r: confab idle sockets (a fresh cluster)"
		cluster_start "$WORK/confab-idle-r$r" "" || { cluster_stop; return 0; }
		out=$RESULTS_DIR/confab-idle.r$r
		if bench "$out" --idle "$N" --url "http://127.0.0.1:$((PB + 1))"; then
			record confab-idle "$r" "$out.json"
			say "round $r confab idle: $N sockets, $(jget rss_per_socket < "$out.json") B RSS per socket"
		fi
		cluster_stop
	fi
}

# --- the peers ---
declare -A LABDIR=([etcd3]=etcd [nats3]=nats [redis1]=redis [wsfanout]=ws)
declare -A SUMMARY=()
peer_round() {
	local name=$1 r=$2 s lab rc=0
	s=$BASELINES/$name.sh
	if [ -z "$BASELINES" ] || [ ! -f "$s" ]; then
		[ -n "${SUMMARY[$name]:-}" ] || note "$name skipped: ${BASELINES:-no baselines folder (--baselines DIR)}${BASELINES:+/$name.sh not found}"
		SUMMARY[$name]="skipped"
		return 0
	fi
	lab=$WORK/lab
	say "round $r: $name ($s)"
	env LAB_ROOT="$lab" RUNS=1 SECS="$SECS" CONCS="$CONCS" VAL=$SIZE BYTES=$SIZE FSYNC_CHECK=0 \
		N="$N" ROUNDS="$ROUNDS_WS" MODES=ws timeout 1800 bash "$s" > "$RESULTS_DIR/$name.r$r.log" 2>&1 &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=""
	if [ $rc != 0 ]; then
		note "$name failed in round $r (exit $rc): see $RESULTS_DIR/$name.r$r.log"
	else
		SUMMARY[$name]=$(tail -n 1 "$RESULTS_DIR/$name.r$r.log")
		say "round $r $name: ${SUMMARY[$name]}; load $(loadavg)"
	fi
	if [ -f "$lab/${LABDIR[$name]}/results.jsonl" ]; then
		record "$name" "$r" "$lab/${LABDIR[$name]}/results.jsonl"
	fi
	rm -rf "$lab"
}

say "compare: ROUNDS=$ROUNDS SECS=$SECS CONCS=\"$CONCS\" N=$N ONLY=\"$ONLY\" baselines=${BASELINES:-none}; results in $RESULTS_DIR"
for r in $(seq 1 "$ROUNDS"); do
	if wants confab; then confab_round "$r"; fi
	for p in etcd3 nats3 redis1 wsfanout; do
		if wants "$p"; then peer_round "$p" "$r"; fi
	done
done

# --- the table and the chart ---
TABLE_MD=$(python3 "$TABLE" report "$RESULTS_DIR" "$CONCS" "$CPU_CONC" "$N")
CHART=""
if ls "$RESULTS_DIR"/chart-*.dat >/dev/null 2>&1; then
	if need gnuplot gnuplot-nox; then
		term="png size 1200,500"
		if gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo; then term="pngcairo size 1200,500"; fi
		{
			echo "set terminal $term"
			echo "set output '$RESULTS_DIR/chart.png'"
			echo "set multiplot layout 1,2 title 'Confab and peers, 200-byte messages, closed loop ($(date -u +%F), $(nproc) cores)'"
			echo "set logscale x 2; set xlabel 'concurrency (requests in flight)'; set grid; set key top left; set offsets graph 0.04, graph 0.04, 0, 0"
			echo "set ylabel 'acked sends/s'; set yrange [0:*]"
			plot="plot"
			for f in "$RESULTS_DIR"/chart-*.dat; do
				t=$(basename "$f" .dat); t=${t#chart-}
				plot="$plot '$f' using 1:2 with linespoints lw 2 pt 7 ps 1 title '$t',"
			done
			echo "${plot%,}"
			echo "set ylabel 'ack p99, ms'; set logscale y; set yrange [*:*]; set key top left"
			plot=${plot//using 1:2/using 1:3}
			echo "${plot%,}"
			echo "unset multiplot"
		} > "$RESULTS_DIR/chart.gp"
		if gnuplot "$RESULTS_DIR/chart.gp" 2>> "$LOG"; then
			CHART=$RESULTS_DIR/chart.png
		else
			note "gnuplot failed: see $LOG"
		fi
	else
		note "no gnuplot (apt-get install gnuplot-nox): no chart"
	fi
fi

{
	echo
	echo "$TABLE_MD"
	for n in "${NOTES[@]}"; do echo "- $n"; done
} > "$RESULTS_DIR/table-notes.md"
echo
echo "== Confab beside its peers ($(date -u '+%F %H:%M') UTC, $(nproc) cores; medians of $ROUNDS round(s)) =="
cat "$RESULTS_DIR/table-notes.md"
[ -z "$CHART" ] || echo "chart: $CHART"
echo "results: $RESULTS_DIR"

if [ "$RECORD" = 1 ]; then
	quick=""
	if [ "$SECS" -lt 8 ] || [ "$ROUNDS" -lt 2 ] || [ "$N" -lt 10000 ] ||
		[ "$ONLY" != "confab etcd3 nats3 redis1 wsfanout" ] || [ "$CONCS" != "1 16 256" ]; then
		quick=" (a quick check, not figures to compare: shorter or fewer runs than the defaults)"
	fi
	rev=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
	{
		echo
		echo "## $(date -u '+%F %H:%M') UTC$quick"
		echo
		echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), Linux $(uname -r), data on $(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || stat -f -c %T "$WORK") ($WORK); load average at the end $(loadavg)"
		echo "- Confab: $rev ($BUILDDIR)"
		echo "- command: \`$CMD\`"
		for p in etcd3 nats3 redis1 wsfanout; do
			if wants "$p" && [ -n "${SUMMARY[$p]:-}" ]; then echo "- $p (last round): ${SUMMARY[$p]}"; fi
		done
		cat "$RESULTS_DIR/table-notes.md"
	} >> "$REPO/bench/RESULTS.md"
	echo "appended to $REPO/bench/RESULTS.md"
fi
