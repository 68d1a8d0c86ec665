#!/usr/bin/env bash
# cluster.sh: run a local three-node Confab cluster for development.
#
#   scripts/cluster.sh start [DIR]    (nodes already running are left alone) write DIR/cluster.conf
#                                     unless it exists (client ports 8001-8003, peer
#                                     8011-8013, raft 8021-8023, 16 partitions)
#                                     and DIR/secret.key, DIR/admin.key (random, kept
#                                     if present; admin.key signs confabctl's admin
#                                     tokens),
#                                     start three confabd --auth=dev in the background
#                                     (logs DIR/nN.log, pids DIR/nN.pid), wait for
#                                     /readyz and print the URLs
#   scripts/cluster.sh stop [DIR]     SIGTERM by pid file, SIGKILL after 10 s; says
#                                     which nodes it stopped
#   scripts/cluster.sh restart [DIR]  stop, then start (data kept)
#   scripts/cluster.sh status [DIR]   pid, role and leader of each node; exits 1 if a
#                                     running node does not answer, 3 if one is stopped
#
# DIR defaults to ./run. The binary is $CONFABD, else $BUILDDIR/confabd, else
# ./confabd, else the repository's build/confabd (scripts/dev.sh), else confabd on the PATH. LOG_LEVEL (info) is passed to --log-level.
# CONFABD_ARGS (empty) holds extra confabd options, split at spaces.
# SEGMENT_SIZE and SEAL_AGE, if set, become the cluster file's segment-size and
# seal-age (confabd(8); fixed when a node's store is created).
# PORT_BASE (8000) places a new cluster's ports: clients PORT_BASE+N, peers
# PORT_BASE+10+N, raft PORT_BASE+20+N, all within PORT_BASE+1..PORT_BASE+23, so
# two clusters whose PORT_BASEs differ by 100 or more never collide (a second
# cluster beside the first: PORT_BASE=9000). An existing DIR/cluster.conf is
# kept as it is: Raft holds its addresses.
set -euo pipefail

cmd=${1:-}
DIR=${2:-./run}
LOG_LEVEL=${LOG_LEVEL:-info}
N=3
PORT_BASE=${PORT_BASE:-8000}

usage() {
	echo "usage: $0 start|stop|restart|status [DIR]" >&2
	exit 2
}

find_confabd() {
	if [ -n "${CONFABD:-}" ]; then echo "$CONFABD"
	elif [ -n "${BUILDDIR:-}" ] && [ -x "$BUILDDIR/confabd" ]; then echo "$BUILDDIR/confabd"
	elif [ -x ./confabd ]; then echo "$PWD/confabd"
	elif [ -x "$(dirname "$0")/../build/confabd" ]; then echo "$(cd "$(dirname "$0")/../build" && pwd)/confabd"
	elif command -v confabd >/dev/null 2>&1; then command -v confabd
	else
		echo "$0: confabd not found: set CONFABD or BUILDDIR, or run from the build folder" >&2
		exit 1
	fi
}

# node $1's client URL: from the cluster file if there is one
url() {
	local u=""
	[ -f "$DIR/cluster.conf" ] &&
		u=$(sed -n "s/^node $1 .*client=\([^ ]*\).*/\1/p" "$DIR/cluster.conf")
	echo "${u:-http://127.0.0.1:$((PORT_BASE + $1))}"
}

pid_of() { # the pid of node $1 if it runs, else nothing
	local f=$DIR/n$1.pid p
	[ -f "$f" ] || return 0
	p=$(cat "$f")
	if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then echo "$p"; fi
}

# A cluster's conf is written once: Raft keeps its addresses in its log, so a
# later PORT_BASE or scheme must not move the ports of existing data.
write_conf() {
	if [ ! -s "$DIR/cluster.conf" ]; then
		{
			echo "# written by scripts/cluster.sh"
			echo "partitions 16"
			echo "secret secret.key"
			echo "admin-secret admin.key"
			[ -z "${SEGMENT_SIZE:-}" ] || echo "segment-size $SEGMENT_SIZE"
			[ -z "${SEAL_AGE:-}" ] || echo "seal-age $SEAL_AGE"
			for i in $(seq 1 $N); do
				echo "node $i raft=127.0.0.1:$((PORT_BASE + 20 + i)) peer=127.0.0.1:$((PORT_BASE + 10 + i)) client=http://127.0.0.1:$((PORT_BASE + i))"
			done
		} > "$DIR/cluster.conf"
	fi
	local k
	for k in secret.key admin.key; do
		if [ ! -s "$DIR/$k" ]; then
			(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$DIR/$k")
		fi
	done
}

start() {
	local bin i ready
	bin=$(find_confabd)
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	write_conf
	for i in $(seq 1 $N); do
		if [ -n "$(pid_of "$i")" ]; then
			echo "node $i already runs (pid $(pid_of "$i"))"
			continue
		fi
		mkdir -p "$DIR/n$i"
		nohup "$bin" --cluster "$DIR/cluster.conf" --id "$i" --data "$DIR/n$i" \
			--auth=dev --log-level "$LOG_LEVEL" ${CONFABD_ARGS:-} \
			>> "$DIR/n$i.log" 2>&1 < /dev/null &
		echo $! > "$DIR/n$i.pid"
	done
	for i in $(seq 1 $N); do
		ready=0
		for _ in $(seq 1 300); do
			if [ -z "$(pid_of "$i")" ]; then
				echo "$0: node $i exited; the end of $DIR/n$i.log:" >&2
				tail -n 20 "$DIR/n$i.log" >&2
				stop
				exit 1
			fi
			if curl -sf -o /dev/null --max-time 1 "$(url "$i")/readyz"; then ready=1; break; fi
			sleep 0.1
		done
		if [ $ready = 0 ]; then
			echo "$0: node $i not ready after 30 s; see $DIR/n$i.log" >&2
			exit 1
		fi
	done
	echo "cluster up in $DIR:"
	for i in $(seq 1 $N); do echo "  node $i  $(url "$i")  pid $(pid_of "$i")"; done
}

stop() {
	local i p alive stopped=()
	for i in $(seq 1 $N); do
		p=$(pid_of "$i")
		if [ -n "$p" ]; then
			kill -TERM "$p" 2>/dev/null || true
			stopped+=("$i:$p")
		else
			echo "node $i: not running"
		fi
	done
	for _ in $(seq 1 100); do
		alive=0
		for i in $(seq 1 $N); do [ -n "$(pid_of "$i")" ] && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for i in $(seq 1 $N); do
		p=$(pid_of "$i")
		if [ -n "$p" ]; then
			echo "$0: node $i (pid $p) ignored SIGTERM for 10 s: SIGKILL" >&2
			kill -KILL "$p" 2>/dev/null || true
		fi
		rm -f "$DIR/n$i.pid"
	done
	for p in "${stopped[@]}"; do
		echo "node ${p%%:*}: stopped (pid ${p#*:})"
	done
}

# field JSON NAME: a top-level number or string of /v1/cluster's answer
# (the fields before "peers"; no JSON tool needed).
field() {
	local top=${1%%\"peers\"*}
	printf '%s' "$top" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

status() {
	local i p j rc=0 silent=0
	for i in $(seq 1 $N); do
		p=$(pid_of "$i")
		if [ -z "$p" ]; then
			echo "node $i  $(url "$i")  stopped"
			rc=3
			continue
		fi
		if j=$(curl -sf --max-time 2 "$(url "$i")/v1/cluster" 2>/dev/null) && [ -n "$j" ]; then
			echo "node $i  $(url "$i")  pid $p  role=$(field "$j" role) leader=$(field "$j" leaderId) term=$(field "$j" term) commit=$(field "$j" commitIndex) applied=$(field "$j" appliedIndex)"
		else
			echo "node $i  $(url "$i")  pid $p  not answering"
			silent=1
		fi
	done
	[ $silent = 0 ] || return 1
	return $rc
}

case "$cmd" in
start) start ;;
stop) stop ;;
restart) stop; start ;;
status) status ;;
*) usage ;;
esac
