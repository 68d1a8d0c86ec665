#!/usr/bin/env bash
# bench-search.sh: figures of the search index (issue 13) for the closing note.
#
# Writes a one-node store of N messages in CONVS conversations of MEMBERS
# members among USERS users, with varied text (tests/bench/gen_cluster -T:
# Zipf-distributed made-up words, some accented, some Han runs), starts
# confabd on it (its search worker then builds the index from the store's
# files, as after a deletion), and prints: the catch-up's time and records
# per second, the index's bytes per message (file, and per table), and the
# latency of GET /v1/search (one term, two terms; QUERIES each, words of the
# same vocabulary, users at random, limit 20) measured by confab-bench
# --search on the same machine (HTTP round trip included).
# For the effect on send throughput run scripts/bench.sh twice:
#   CONFABD_ARGS=--search=on  CONCS=256 scripts/bench.sh
#   CONFABD_ARGS=--search=off CONCS=256 scripts/bench.sh
# env: N (1000000), CONVS (10000), USERS (10000), MEMBERS (3), QUERIES (300),
#      PORT_BASE (27400: the node on PORT_BASE+1, +11, +21),
#      BUILDDIR (where confabd and tests/bench/gen_cluster are; default build/).
# DIR (first argument) defaults to ./run-search; it is replaced.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-./run-search}
N=${N:-1000000}
CONVS=${CONVS:-10000}
USERS=${USERS:-10000}
MEMBERS=${MEMBERS:-3}
QUERIES=${QUERIES:-300}
PB=${PORT_BASE:-27400}
BUILDDIR=${BUILDDIR:-$REPO/build}
CONFABD=$BUILDDIR/confabd
GEN=$BUILDDIR/tests/bench/gen_cluster
for b in "$CONFABD" "$GEN"; do
	[ -x "$b" ] || { echo "$0: $b not built (make -C $BUILDDIR check TESTS=)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "$0: needs python3 (index sizes)" >&2; exit 1; }
rm -rf "$DIR"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
URL=http://127.0.0.1:$((PB + 1))
cat > "$DIR/cluster.conf" <<CONF
partitions 16
secret secret.key
admin-secret admin.key
node 1 raft=127.0.0.1:$((PB + 21)) peer=127.0.0.1:$((PB + 11)) client=$URL
CONF
for k in secret.key admin.key; do
	(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$DIR/$k")
done
echo "gen: $N messages, $CONVS conversations of $MEMBERS among $USERS users (load $(cut -d' ' -f1-3 /proc/loadavg))"
"$GEN" -c "$DIR/cluster.conf" -d "$DIR/n1" -n "$N" -C "$CONVS" -u "$USERS" \
	-m "$MEMBERS" -T > "$DIR/gen.out" 2>&1
"$CONFABD" --cluster "$DIR/cluster.conf" --id 1 --data "$DIR/n1" --auth dev \
	--ballast 0 --min-free 1 --rate-limit 1000000 --rate-burst 1000000 \
	> "$DIR/n1.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT INT TERM
metric() { curl -sf --max-time 10 "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
for _ in $(seq 1 1800); do
	grep -q "search index: caught up" "$DIR/n1.log" && break
	kill -0 $PID 2>/dev/null || { echo "$0: confabd exited" >&2; tail "$DIR/n1.log" >&2; exit 1; }
	sleep 1
done
grep "search index: caught up" "$DIR/n1.log" | sed 's/.*search index: /index: /'
for _ in $(seq 1 600); do
	[ "$(metric confab_search_pending_erasures)" = 0 ] && break
	sleep 1
done
python3 - "$DIR" "$N" <<'PY'
import os, re, sqlite3, sys
d, n = sys.argv[1], int(sys.argv[2])
log = open(os.path.join(d, "n1.log")).read()
m = re.search(r"caught up from the store: (\d+) records .* in ([0-9.]+) s", log)
if m and float(m.group(2)) > 0:
    print("index: %.0f records/s" % (int(m.group(1)) / float(m.group(2))))
db = os.path.join(d, "n1/search/index.db")
size = os.path.getsize(db)
print("index: %d bytes, %.1f bytes/message" % (size, size / n))
c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
for t in ["t_data", "t_content", "loc", "mentions"]:
    try:
        b = c.execute("select sum(pgsize) from dbstat where name=?", (t,)).fetchone()[0] or 0
        print("index: table %s %.1f bytes/message" % (t, b / n))
    except sqlite3.Error as e:
        print("index: table %s: %s" % (t, e))
PY
for t in 1 2; do
	"$BUILDDIR/confab-bench" --url "$URL" --search "$QUERIES" --terms "$t" \
		--users "$USERS" --concurrency 1 2>&1 >/dev/null | sed 's/^confab-bench: //'
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
