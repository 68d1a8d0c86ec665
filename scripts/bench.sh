#!/usr/bin/env bash
# bench.sh: Confab against the etcd baseline on this machine.
#
# Starts a fresh three-node cluster in a temp folder (scripts/cluster.sh), runs
# confab-bench at concurrency 1, 16 and 256 (SECS seconds each after a 1 s warm-up,
# 200-byte messages, requests to the leader; SPREAD=1 spreads them over all three
# nodes), stops the cluster, then runs $SHARED/bench/etcd3.sh and prints both.
# env: SECS (8), CONCS ("1 16 256"), SPREAD (0), SHARED (../shared from the repo),
#      BUILDDIR (where confabd and confab-bench are; default: the current folder),
#      SKIP_ETCD=1 to run Confab only.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECS:-8}
CONCS=${CONCS:-"1 16 256"}
SPREAD=${SPREAD:-0}
SHARED=${SHARED:-$REPO/../shared}
BUILDDIR=$(cd "${BUILDDIR:-.}" && pwd)
export BUILDDIR
BENCH=$BUILDDIR/confab-bench
if [ ! -x "$BENCH" ]; then
	echo "$0: $BENCH not found: run from the build folder or set BUILDDIR" >&2
	exit 1
fi
RUN=$(mktemp -d /tmp/confab-bench-XXXXXX)
trap '"$REPO/scripts/cluster.sh" stop "$RUN" || true' EXIT INT TERM
"$REPO/scripts/cluster.sh" start "$RUN"

URLS=()
if [ "$SPREAD" = 1 ]; then
	URLS=(--url http://127.0.0.1:8001 --url http://127.0.0.1:8002 --url http://127.0.0.1:8003)
else
	leader=$(curl -sf http://127.0.0.1:8001/v1/cluster |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["leaderId"])')
	URLS=(--url "http://127.0.0.1:$((8000 + leader))")
fi

RES=$RUN/confab.jsonl
: > "$RES"
for c in $CONCS; do
	"$BENCH" "${URLS[@]}" --concurrency "$c" --seconds "$SECS" --warmup 1 \
		--size 200 --conversations 16 | tee -a "$RES"
done
"$REPO/scripts/cluster.sh" stop "$RUN"

ETCD_OUT=""
if [ "${SKIP_ETCD:-0}" != 1 ]; then
	if [ -x "$SHARED/bench/etcd3.sh" ] || [ -f "$SHARED/bench/etcd3.sh" ]; then
		ETCD_OUT=$(SECS=$SECS CONCS=$CONCS bash "$SHARED/bench/etcd3.sh" 2>&1 | tail -n 5) ||
			ETCD_OUT="etcd3.sh failed: $ETCD_OUT"
	else
		ETCD_OUT="$SHARED/bench/etcd3.sh not found (set SHARED)"
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
if [ -n "$ETCD_OUT" ]; then
	echo "== etcd baseline =="
	echo "$ETCD_OUT"
fi
rm -rf "$RUN"
