#!/usr/bin/env bash
# dev.sh: the two entry points of README.md, on Debian 12 as root.
#   scripts/dev.sh up     install what is missing, build, start a local 3-node cluster
#   scripts/dev.sh test   install what is missing, build, run every test (make check)
#   scripts/dev.sh build  install what is missing and build only
# Builds out of tree: ./build (the programs) and, for `test`, ./build-san as well
# (--enable-sanitize: ASan+UBSan, every test run again). The cluster lives under ./run.
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

# build DIR [configure flags...]: configure (once) and make in DIR.
build() {
	local dir=$1
	shift
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		autoreconf -fi >/dev/null
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/config.status" ]; then
		(cd "$dir" && "$ROOT/configure" -q "$@")
	fi
	make -C "$dir" -j"$(nproc)" >/dev/null
}

case "${1:-}" in
up)
	deps
	build "$ROOT/build"
	BUILDDIR="$ROOT/build" exec "$ROOT/scripts/cluster.sh" start "${2:-$ROOT/run}"
	;;
test)
	PKGS+=(chromium)
	command -v node >/dev/null 2>&1 || PKGS+=(nodejs npm)
	deps
	# the browser tests (tests/browser/run.sh): playwright-core, pinned; no browser download
	if [ ! -d "$ROOT/tests/browser/node_modules" ]; then
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$ROOT/tests/browser" --no-audit --no-fund >/dev/null
	fi
	build "$ROOT/build"
	build "$ROOT/build-san" --enable-sanitize
	rc=0
	make -C "$ROOT/build" -j"$(nproc)" check || rc=$?
	# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		make -C "$ROOT/build-san" -j"$(nproc)" check || rc=$?
	"$ROOT/scripts/test-summary.sh" "$ROOT/build" "$ROOT/build-san" || true
	exit $rc
	;;
build)
	deps
	build "$ROOT/build"
	;;
*)
	echo "usage: scripts/dev.sh up|test|build" >&2
	exit 2
	;;
esac
