#!/usr/bin/env bash
# dev.sh: the two entry points of README.md, on Debian 12 as root.
#   scripts/dev.sh up     install what is missing, build, start a local 3-node cluster
#   scripts/dev.sh test   install what is missing, build, run every test (make check)
#   scripts/dev.sh build  install what is missing and build only
# Builds in place (./configure && make); the cluster lives under ./run (scripts/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PKGS=(build-essential autoconf automake autoconf-archive pkg-config libuv1-dev
      libraft-dev liblz4-dev libxxhash-dev libjansson-dev libcmocka-dev node-llhttp
      libssl-dev libjwt-dev mandoc curl ca-certificates)

deps() {
	local missing=() p
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "dev.sh: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

build() {
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		autoreconf -fi >/dev/null
	fi
	if [ ! -f Makefile ] || [ configure -nt config.status ]; then
		./configure -q ${CONFIGURE_FLAGS:-}
	fi
	make -j"$(nproc)" >/dev/null
}

case "${1:-}" in
up)
	deps
	build
	exec "$ROOT/scripts/cluster.sh" start "${2:-$ROOT/run}"
	;;
test)
	deps
	build
	rc=0
	make -j"$(nproc)" check || rc=$?
	"$ROOT/scripts/test-summary.sh" "$ROOT" || true
	exit $rc
	;;
build)
	deps
	build
	;;
*)
	echo "usage: scripts/dev.sh up|test|build" >&2
	exit 2
	;;
esac
