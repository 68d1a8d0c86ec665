#!/usr/bin/env bash
# bench-start.sh: a three-node cluster on a generated store of N messages, and
# what a node costs there (issue 11, "Figures for the closing note": RSS,
# bytes of memory per message by structure, time to ready after exec).
#
#   scripts/bench-start.sh [DIR]
#
# 1. Unless DIR/n1 exists: writes DIR/cluster.conf (as scripts/cluster.sh
#    does: 16 partitions, client ports PORT_BASE+1..3, peer +11..13, raft
#    +21..23) and its keys, runs tests/bench/gen_cluster for node 1's data
#    folder (the store through the apply path, a state image, a raft
#    snapshot at its applied index; output in DIR/gen.out), then copies it
#    to n2 and n3 (every node holds the same store).
# 2. Starts the three nodes (confabd as scripts/cluster.sh starts them: pid
#    files DIR/nN.pid, logs DIR/nN.log; `scripts/cluster.sh stop DIR`
#    stops them), waits for /readyz on each, and checks: one leader; the
#    history of g0 (GET /v1/conversations/g0/messages) is the same on every
#    node; a send through each node to a few generated conversations gets
#    the conversation's lastSeq + 1.
# 3. Measures, with /proc/loadavg beside each figure:
#    - RSS (VmRSS, VmHWM) of each node after start, and memory by structure
#      from /metrics (confab_index_bytes, confab_dedup_bytes) per message;
#    - REPS times: node 3 (a follower) stopped by SIGTERM, exec'd again,
#      seconds until /readyz answers 200, with its log lines about the state
#      image; then REPS times the same with node 3's image file removed
#      first (every record read);
#    - RSS of each node and the same /metrics after TRAFFIC_S seconds of
#      light traffic (a send and a history read to a random generated
#      conversation through node 1, 2, 3 in turn, about RATE of each a
#      second).
#    Everything printed also goes to DIR/report.txt.
# 4. Stops the cluster (KEEP=1: leaves it running). The data stays in DIR.
#
# env: N (10000000), CONVS (100000), USERS (10000), MEMBERS (3), SPAN_H
#      (23: entry times over the last SPAN_H hours, every key inside the
#      idempotency window), PORT_BASE (18500: ports 18501-18523, outside
#      8000-8100 and 9700-9800), REPS (2), TRAFFIC_S (60), RATE (5),
#      READY_S (900: the longest wait for /readyz), BUILDDIR (where confabd
#      and tests/bench/gen_cluster are; default the repository's build/),
#      CONFABD_ARGS (extra confabd options, split at spaces).
# DIR defaults to ./run-start. Run it on an otherwise quiet machine: the
# figures are the machine's (the load average says how quiet it was).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-./run-start}
N=${N:-10000000}
CONVS=${CONVS:-100000}
USERS=${USERS:-10000}
MEMBERS=${MEMBERS:-3}
SPAN_H=${SPAN_H:-23}
PORT_BASE=${PORT_BASE:-18500}
REPS=${REPS:-2}
TRAFFIC_S=${TRAFFIC_S:-60}
RATE=${RATE:-5}
READY_S=${READY_S:-900}
BUILDDIR=${BUILDDIR:-$REPO/build}
CONFABD=${CONFABD:-$BUILDDIR/confabd}
GEN=$BUILDDIR/tests/bench/gen_cluster
for b in "$CONFABD" "$GEN"; do
	[ -x "$b" ] || { echo "$0: $b not built (make -C $BUILDDIR check TESTS=)" >&2; exit 1; }
done
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
REPORT=$DIR/report.txt
: > "$REPORT"

say() { echo "$*" | tee -a "$REPORT"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
url() { echo "http://127.0.0.1:$((PORT_BASE + $1))"; }
pid_of() { local p; p=$(cat "$DIR/n$1.pid" 2>/dev/null || true); [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p" || true; }
get() { curl -sf --max-time 10 -H "X-Confab-User: $2" "$(url "$1")$3"; }
# field JSON NAME: the first number or string value of "NAME" in JSON
field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -1; }
# metric NODE NAME: the sum of NAME's samples in the node's /metrics
metric() { curl -sf --max-time 10 "$(url "$1")/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f\n", s }'; }
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# ---- 1. the data folders ----
gen() {
	local i k
	{
		echo "# written by scripts/bench-start.sh"
		echo "partitions 16"
		echo "secret secret.key"
		echo "admin-secret admin.key"
		for i in 1 2 3; do
			echo "node $i raft=127.0.0.1:$((PORT_BASE + 20 + i)) peer=127.0.0.1:$((PORT_BASE + 10 + i)) client=http://127.0.0.1:$((PORT_BASE + i))"
		done
	} > "$DIR/cluster.conf"
	for k in secret.key admin.key; do
		(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$DIR/$k")
	done
	say "gen: $GEN -c $DIR/cluster.conf -d $DIR/n1 -n $N -C $CONVS -u $USERS -m $MEMBERS -s $SPAN_H (load $(load))"
	"$GEN" -c "$DIR/cluster.conf" -d "$DIR/n1" -n "$N" -C "$CONVS" -u "$USERS" \
		-m "$MEMBERS" -s "$SPAN_H" 2>&1 | tee "$DIR/gen.out" | grep -v '^gen_cluster: [0-9]' | tee -a "$REPORT"
	[ "${PIPESTATUS[0]}" = 0 ] || { echo "$0: gen_cluster failed" >&2; exit 1; }
	for i in 2 3; do cp -a --reflink=auto "$DIR/n1" "$DIR/n$i"; done
	say "gen: copied n1 to n2 and n3 ($(du -sh "$DIR/n1" | cut -f1) each)"
}

# ---- starting and stopping nodes ----
start_node() { # start node $1 in the background; the pid in DIR/n$1.pid
	nohup "$CONFABD" --cluster "$DIR/cluster.conf" --id "$1" --data "$DIR/n$1" \
		--auth=dev --log-level info ${CONFABD_ARGS:-} \
		>> "$DIR/n$1.log" 2>&1 < /dev/null &
	echo $! > "$DIR/n$1.pid"
}

wait_ready() { # seconds (3 decimals) from $2 (date +%s.%N) until node $1's /readyz is 200
	local end=$((SECONDS + READY_S))
	while [ $SECONDS -lt $end ]; do
		[ -n "$(pid_of "$1")" ] || { echo "$0: node $1 exited; see $DIR/n$1.log" >&2; tail -n 20 "$DIR/n$1.log" >&2; exit 1; }
		if curl -sf -o /dev/null --max-time 1 "$(url "$1")/readyz"; then
			echo "$(date +%s.%N) $2" | awk '{ printf "%.3f\n", $1 - $2 }'
			return 0
		fi
		sleep 0.05
	done
	echo "$0: node $1 not ready after $READY_S s; see $DIR/n$1.log" >&2
	exit 1
}

stop_node() { # SIGTERM node $1 by its pid, wait for it (SIGKILL after 60 s)
	local p
	p=$(pid_of "$1")
	[ -n "$p" ] || return 0
	kill -TERM "$p"
	for _ in $(seq 1 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$p" 2>/dev/null; then
		echo "$0: node $1 (pid $p) ignored SIGTERM for 60 s: SIGKILL" >&2
		kill -KILL "$p"
	fi
	rm -f "$DIR/n$1.pid"
}

stop_all() { local i; for i in 1 2 3; do stop_node "$i"; done; }

leader() { # the leader's id as node $1 sees it
	field "$(get "$1" u0 /v1/cluster)" leaderId
}

# ---- 2. start and check ----
start_all() {
	local i t0
	for i in 1 2 3; do
		[ -z "$(pid_of "$i")" ] || { echo "$0: node $i already runs (pid $(pid_of "$i")); scripts/cluster.sh stop $DIR" >&2; exit 1; }
	done
	t0=$(date +%s.%N)
	for i in 1 2 3; do start_node "$i"; done
	for i in 1 2 3; do
		say "start: node $i ready $(wait_ready "$i" "$t0") s after the three execs (load $(load))"
	done
}

check() {
	local i c l h0 h ok=0 owner last seq r
	for _ in $(seq 1 100); do
		l=$(leader 1)
		[ -n "$l" ] && [ "$l" != 0 ] && [ "$(leader 2)" = "$l" ] && [ "$(leader 3)" = "$l" ] && { ok=1; break; }
		sleep 0.1
	done
	[ $ok = 1 ] || { echo "$0: no leader all three agree on" >&2; exit 1; }
	say "check: leader is node $l on every node"
	h0=$(get 1 u0 "/v1/conversations/g0/messages?limit=200")
	for i in 2 3; do
		h=$(get "$i" u0 "/v1/conversations/g0/messages?limit=200")
		[ "$h" = "$h0" ] || { echo "$0: g0's history differs on node $i" >&2; exit 1; }
	done
	say "check: g0's history (lastSeq $(field "$h0" lastSeq), $(printf '%s' "$h0" | grep -o '"seq":' | wc -l) messages in the page) is the same on every node"
	for c in 0 1 $((CONVS / 2)) $((CONVS - 1)); do
		owner=u$(( c * MEMBERS % USERS ))
		for i in 1 2 3; do
			last=$(field "$(get "$i" "$owner" "/v1/conversations/g$c")" lastSeq)
			r=$(curl -sf --max-time 10 -H "X-Confab-User: $owner" -H 'Content-Type: application/json' \
				-d "{\"conversationId\":\"g$c\",\"clientMsgId\":\"check-$i-$RANDOM$RANDOM\",\"content\":\"check through node $i\"}" \
				"$(url "$i")/v1/messages")
			seq=$(field "$r" seq)
			[ "$seq" = $((last + 1)) ] || { echo "$0: send to g$c through node $i: seq $seq, lastSeq was $last: $r" >&2; exit 1; }
		done
	done
	say "check: sends through each node to g0, g1, g$((CONVS / 2)), g$((CONVS - 1)) got lastSeq + 1"
}

# ---- 3. figures ----
mem() { # RSS and /metrics memory of every node, tagged $1
	local i p msgs idx ddp keys rss hwm
	for i in 1 2 3; do
		p=$(pid_of "$i")
		rss=$(rss_kb "$p" VmRSS)
		hwm=$(rss_kb "$p" VmHWM)
		msgs=$(metric "$i" confab_segment_records)
		idx=$(metric "$i" confab_index_bytes)
		ddp=$(metric "$i" confab_dedup_bytes)
		keys=$(metric "$i" confab_dedup_keys)
		say "$(awk -v t="$1" -v n="$i" -v r="$rss" -v h="$hwm" -v m="$msgs" -v x="$idx" -v d="$ddp" -v k="$keys" -v l="$(load)" 'BEGIN {
			printf "%s: node %s RSS %.0f MiB (peak %.0f MiB), %.1f B/record; records %d; index %.1f MiB = %.2f B/record; dedup %.1f MiB = %.2f B/record (%d keys); rest of RSS %.1f B/record (load %s)\n",
				t, n, r / 1024, h / 1024, r * 1024 / m, m, x / 1048576, x / m, d / 1048576, d / m, k, (r * 1024 - x - d) / m, l }')"
	done
}

image_lines() { # node $1's log lines about the store's open since line $2
	tail -n "+$(( $2 + 1 ))" "$DIR/n$1.log" | grep -E "state image|rebuilt from|store: |raft started" | sed 's/^/    /' | tee -a "$REPORT"
}

restart() { # $1: "image" or "records"; node 3 stopped, exec'd, timed to ready
	local n=3 l t0 t rss
	[ "$(leader 1)" != $n ] || n=2 # a follower, so the cluster keeps its leader
	stop_node "$n"
	if [ "$1" = records ]; then
		rm -f "$DIR/n$n"/store/image-*
	fi
	l=$(wc -l < "$DIR/n$n.log")
	t0=$(date +%s.%N)
	start_node "$n"
	t=$(wait_ready "$n" "$t0")
	rss=$(rss_kb "$(pid_of "$n")" VmRSS)
	say "restart ($1): node $n ready $t s after exec, RSS $((rss / 1024)) MiB (load $(load))"
	image_lines "$n" "$l"
}

traffic() { # light traffic for TRAFFIC_S seconds: RATE sends and reads a second
	local end=$((SECONDS + TRAFFIC_S)) i=0 c owner sent=0 failed=0
	while [ $SECONDS -lt $end ]; do
		c=$(( (RANDOM * 32768 + RANDOM) % CONVS ))
		owner=u$(( c * MEMBERS % USERS ))
		i=$(( i % 3 + 1 ))
		if curl -sf -o /dev/null --max-time 10 -H "X-Confab-User: $owner" -H 'Content-Type: application/json' \
			-d "{\"conversationId\":\"g$c\",\"clientMsgId\":\"t-$SECONDS-$RANDOM$RANDOM\",\"content\":\"light traffic\"}" \
			"$(url "$i")/v1/messages" &&
			get "$i" "$owner" "/v1/conversations/g$c/messages?limit=50" > /dev/null; then
			sent=$((sent + 1))
		else
			failed=$((failed + 1))
		fi
		sleep "$(awk -v r="$RATE" 'BEGIN { printf "%.3f", 1 / r }')"
	done
	say "traffic: $sent sends and history reads in $TRAFFIC_S s, $failed failed (load $(load))"
}

trap 'echo "$0: failed; the nodes still run: scripts/cluster.sh stop $DIR" >&2' ERR
[ -d "$DIR/n1" ] || gen
start_all
check
mem "after start"
for r in $(seq 1 "$REPS"); do restart image; done
for r in $(seq 1 "$REPS"); do restart records; done
mem "after the restarts"
traffic
mem "after ${TRAFFIC_S} s of light traffic"
trap - ERR
if [ "${KEEP:-}" = 1 ]; then
	say "the cluster still runs: scripts/cluster.sh stop $DIR"
else
	stop_all
fi
say "report in $REPORT"
