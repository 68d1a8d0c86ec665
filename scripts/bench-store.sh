#!/usr/bin/env bash
# bench-store.sh: what the store costs as it grows, hot and cold.
#
# Starts a fresh three-node cluster in a temp folder (scripts/cluster.sh, with
# the compaction rule off so that the script decides when to compact), then:
#   1. writes MSGS messages of 200 bytes into CONVS conversations of user
#      "bench" (confab-bench, c=256, round after round of WRITE_SECS seconds
#      until node 1 has committed MSGS messages; a round creates its own
#      conversations, so the default 300 s, about 6 million messages on 2
#      cores, is meant to be one round; later rounds write into 256 more);
#   2. history from the hot tier: confab-bench --history PAGES (pages of 50
#      at random places, keep-alive, one connection, node 1), after
#      SETTLE_SECS (20) and a warm-up pass over other pages;
#   3. send c=16 for SEND_SECS seconds, no compaction running;
#   4. confabctl compact of every partition (all sealed segments, 256 MiB a
#      job) and, while it runs, send c=16 for SEND_SECS seconds again;
#      compaction MB/s: node 1's hot bytes read over the time its worker
#      spent in the jobs (the sum of its log's "compaction ... in N ms"),
#      and over the command's wall time (commit to every node switched,
#      checkpointed and past the entries);
#   5. history from the cold tier: the same PAGES requests (same seed);
#   6. disk: the bytes of hot segments before and of cold files after, per
#      node (du of the data folders too);
#   7. node 3 stopped, its data folder deleted, started again: seconds until
#      it answers /readyz with every cold file of node 1 and node 1's
#      applied index, and that per GB of its rebuilt data folder.
# Each step prints its figures; the last lines are one JSON object of all of
# them. Run it on an otherwise idle machine: the figures are the machine's.
#
# env: MSGS (5000000), CONVS (100000), SEGMENT_SIZE (16M), PAGES (2000),
#      WRITE_SECS (300), SEND_SECS (10), PORT_BASE (9700), BUILDDIR (where
#      confabd, confabctl and confab-bench are; default: the current folder),
#      KEEP=1 to leave the cluster's folder (and stop nothing) at the end.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MSGS=${MSGS:-5000000}
CONVS=${CONVS:-100000}
PAGES=${PAGES:-2000}
WRITE_SECS=${WRITE_SECS:-300}
SEND_SECS=${SEND_SECS:-10}
export SEGMENT_SIZE=${SEGMENT_SIZE:-16M}
export PORT_BASE=${PORT_BASE:-9700}
PB=$PORT_BASE
if ! command -v python3 >/dev/null 2>&1; then
	echo "$0: needs python3 (apt-get install python3)" >&2
	exit 1
fi
BUILDDIR=$(cd "${BUILDDIR:-.}" && pwd)
export BUILDDIR
for p in confabd confabctl confab-bench; do
	if [ ! -x "$BUILDDIR/$p" ]; then
		echo "$0: $BUILDDIR/$p not found: run from the build folder or set BUILDDIR" >&2
		exit 1
	fi
done
BENCH=$BUILDDIR/confab-bench
CTL=$BUILDDIR/confabctl
RUN=$(mktemp -d /tmp/confab-store-XXXXXX)
CONF=$RUN/cluster.conf
N1=http://127.0.0.1:$((PB + 1))
cleanup() {
	[ "${KEEP:-0}" = 1 ] && { echo "kept: $RUN"; return 0; }
	"$REPO/scripts/cluster.sh" stop "$RUN" >/dev/null 2>&1 || true
	rm -rf "$RUN"
}
trap cleanup EXIT INT TERM
export CONFABD_ARGS="--rate-limit=1000000 --rate-burst=1000000 --compact-after=0 ${CONFABD_ARGS:-}"
"$REPO/scripts/cluster.sh" start "$RUN"

say() { echo "bench-store: $*" >&2; }
# j EXPR: evaluate a Python expression over the JSON on stdin (as j)
j() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
metric() { curl -sf "$1/metrics" | awk -v n="$2" '$1 == n {print $2}'; }
status() { "$CTL" status --cluster "$CONF" --node "$1" --json; }
# tier_bytes DIR EXT: bytes of the *.EXT files under DIR/store
tier_bytes() { find "$1/store" -name "*.$2" -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
leader_url() {
	local id
	id=$(curl -sf "$N1/v1/cluster" | j 'j["leaderId"]')
	echo "http://127.0.0.1:$((PB + id))"
}
RES=$RUN/figures.json
echo '{}' > "$RES"
# put KEY JSON: record a figure
put() { python3 -c "import json,sys; r=json.load(open('$RES')); r[sys.argv[1]]=json.loads(sys.argv[2]); json.dump(r,open('$RES','w'))" "$1" "$2"; }

# 1. write
t0=$(date +%s)
round=0
while :; do
	have=$(metric "$N1" confab_messages_committed_total)
	have=${have%.*}
	[ "${have:-0}" -ge "$MSGS" ] && break
	round=$((round + 1))
	say "write round $round: $have of $MSGS messages committed"
	# Each round creates CONVS conversations of its own: only the first
	# round's are many, later rounds write into 256 more.
	k=$CONVS
	[ $round -gt 1 ] && k=256
	"$BENCH" --url "$(leader_url)" -c 256 -k "$k" -s "$WRITE_SECS" -w 0 -z 200 >> "$RUN/write.jsonl"
done
put write "{\"messages\":$have,\"seconds\":$(( $(date +%s) - t0 ))}"
say "wrote $have messages in $(( $(date +%s) - t0 )) s"
hot_before=$(tier_bytes "$RUN/n1" seg)
put hot_bytes_before "$hot_before"

# 2. history, hot: once the write's aftermath has settled (dirty pages
# written back, followers' snapshots taken), after a warm-up pass over other
# pages (seed 8), so that the figure is the store's, not the write's tail
sync
sleep "${SETTLE_SECS:-20}"
"$BENCH" --url "$N1" --history "$PAGES" --seed 8 > /dev/null
"$BENCH" --url "$N1" --history "$PAGES" --seed 7 > "$RUN/hist-hot.json"
put history_hot "$(cat "$RUN/hist-hot.json")"

# 3. send c=16, no compaction
"$BENCH" --url "$(leader_url)" -c 16 -k 16 -s "$SEND_SECS" > "$RUN/send-idle.json"
put send_c16_idle "$(cat "$RUN/send-idle.json")"

# 4. compaction, and send c=16 while it runs
read0=$(status "$N1" | j 'j["nodes"][0]["status"]["compaction"]["bytesRead"]')
written0=$(status "$N1" | j 'j["nodes"][0]["status"]["compaction"]["bytesWritten"]')
jobs0=$(grep -c ' bytes in [0-9]* ms' "$RUN/n1.log" || true)
t0=$(date +%s.%N)
( "$CTL" compact --cluster "$CONF" --segments 1024 --wait 3600 > "$RUN/compact.out" 2>&1
  echo $? > "$RUN/compact.rc"; date +%s.%N > "$RUN/compact.t1" ) &
cpid=$!
sleep 1
"$BENCH" --url "$(leader_url)" -c 16 -k 16 -s "$SEND_SECS" > "$RUN/send-compact.json"
running=1
kill -0 $cpid 2>/dev/null || running=0
wait $cpid
t1=$(cat "$RUN/compact.t1")
cat "$RUN/compact.out" >&2
if [ "$(cat "$RUN/compact.rc")" != 0 ]; then
	say "confabctl compact failed"
	exit 1
fi
# the jobs' own time on node 1's worker
busy_ms=$(grep ' bytes in [0-9]* ms' "$RUN/n1.log" | tail -n +$((jobs0 + 1)) |
	sed -n 's/.* bytes in \([0-9]*\) ms.*/\1/p' | awk '{s+=$1} END {print s+0}')
put send_c16_compacting "$(cat "$RUN/send-compact.json")"
read1=$(status "$N1" | j 'j["nodes"][0]["status"]["compaction"]["bytesRead"]')
written1=$(status "$N1" | j 'j["nodes"][0]["status"]["compaction"]["bytesWritten"]')
secs=$(python3 -c "print(round($t1 - $t0, 2))")
mbs=$(python3 -c "print(round(($read1 - $read0) / 1048576 / ($t1 - $t0), 1))")
jmbs=$(python3 -c "print(round(($read1 - $read0) / 1048576 / max($busy_ms, 1) * 1000, 1))")
put compaction "{\"seconds\":$secs,\"job_ms\":$busy_ms,\"bytes_read\":$((read1 - read0)),\"bytes_written\":$((written1 - written0)),\"mb_s\":$mbs,\"job_mb_s\":$jmbs,\"running_through_send\":$running}"
say "compaction: $((read1 - read0)) bytes read, $((written1 - written0)) written; jobs $busy_ms ms ($jmbs MB/s), command $secs s ($mbs MB/s); still running at the send's end: $running"

# 5. history, cold (the same settling and warm-up as the hot figure)
sync
sleep "${SETTLE_SECS:-20}"
"$BENCH" --url "$N1" --history "$PAGES" --seed 8 > /dev/null
"$BENCH" --url "$N1" --history "$PAGES" --seed 7 > "$RUN/hist-cold.json"
put history_cold "$(cat "$RUN/hist-cold.json")"

# 6. disk
for i in 1 2 3; do
	put "disk_n$i" "{\"hot\":$(tier_bytes "$RUN/n$i" seg),\"cold\":$(tier_bytes "$RUN/n$i" cold),\"du\":$(du -sb "$RUN/n$i" | cut -f1)}"
done

# 7. a wiped node rejoins
pid3=$(cat "$RUN/n3.pid")
kill -TERM "$pid3"
for _ in $(seq 1 100); do kill -0 "$pid3" 2>/dev/null || break; sleep 0.1; done
rm -rf "$RUN/n3"
mkdir -p "$RUN/n3"
colds1=$(find "$RUN/n1/store" -name '*.cold' | wc -l)
t0=$(date +%s.%N)
nohup "$BUILDDIR/confabd" --cluster "$CONF" --id 3 --data "$RUN/n3" --auth=dev \
	$CONFABD_ARGS >> "$RUN/n3.log" 2>&1 < /dev/null &
echo $! > "$RUN/n3.pid"
N3=http://127.0.0.1:$((PB + 3))
ok=0
for _ in $(seq 1 36000); do
	if curl -sf -o /dev/null --max-time 1 "$N3/readyz"; then
		a1=$(curl -sf "$N1/v1/cluster" | j 'j["appliedIndex"]')
		a3=$(curl -sf "$N3/v1/cluster" | j 'j["appliedIndex"]')
		c3=$(find "$RUN/n3/store" -name '*.cold' | wc -l)
		if [ "$a3" -ge "$a1" ] && [ "$c3" -ge "$colds1" ]; then ok=1; break; fi
	fi
	sleep 0.1
done
t1=$(date +%s.%N)
bytes3=$(du -sb "$RUN/n3" | cut -f1)
secs=$(python3 -c "print(round($t1 - $t0, 2))")
perg=$(python3 -c "print(round(($t1 - $t0) / ($bytes3 / 1e9), 2))")
put rejoin "{\"ok\":$ok,\"seconds\":$secs,\"bytes\":$bytes3,\"seconds_per_gb\":$perg}"
say "wiped node 3 ready with every cold file in $secs s ($bytes3 bytes: $perg s/GB)"
"$CTL" verify --cluster "$CONF" >&2 || say "verify --cluster failed"

python3 - "$RES" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
hot, cold = r["hot_bytes_before"], r["disk_n1"]["cold"]
print(f"messages {r['write']['messages']} written in {r['write']['seconds']} s")
print(f"disk node 1: hot {hot} B before, cold {cold} B after (hot left {r['disk_n1']['hot']} B); hot/cold {hot / max(cold, 1):.2f}")
for t in ("hot", "cold"):
    h = r["history_" + t]
    print(f"history from {t}: p50 {h['p50_ms']} ms, p99 {h['p99_ms']} ms, max {h['max_ms']} ms ({h['requests']} pages of {h['limit']}, {h['errors']} errors)")
c = r["compaction"]
print(f"compaction: {c['bytes_read']} B -> {c['bytes_written']} B: jobs {c['job_ms']} ms on node 1's worker ({c['job_mb_s']} MB/s read), command {c['seconds']} s ({c['mb_s']} MB/s)")
for k in ("send_c16_idle", "send_c16_compacting"):
    s = r[k]
    print(f"{k}: {s['ops_s']} msg/s, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms")
j = r["rejoin"]
print(f"rejoin of a wiped node: {j['seconds']} s for {j['bytes']} B ({j['seconds_per_gb']} s/GB), ok={j['ok']}")
print(json.dumps(r))
EOF
