#!/usr/bin/env bash
# dev.sh: the two entry points of README.md, on Debian 12 as root.
#   scripts/dev.sh up     install what is missing, build, start a local 3-node cluster
#   scripts/dev.sh test   install what is missing, build, run every test (make check)
#   scripts/dev.sh build  install what is missing and build only
# Builds out of tree: ./build (the programs) and, for `test`, ./build-san as well
# (--enable-sanitize: ASan+UBSan, every test run again). The cluster lives under ./run.
#
# What each command needs is checked by what it runs: a Debian package by dpkg,
# a program (npm, chromium) by looking for the program itself. Long steps say
# what they do and about how long they take on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

# Build and run: compiler, autotools, the libraries, llhttp's C sources, curl for
# cluster.sh, mandoc for the man pages.
PKGS=(build-essential autoconf automake pkg-config libuv1-dev
      libraft-dev liblz4-dev libxxhash-dev libjansson-dev libcmocka-dev node-llhttp
      libssl-dev libjwt-dev libsqlite3-dev libunistring-dev libmimalloc-dev mandoc
      curl ca-certificates)

say() { echo "dev.sh: $*"; }

# seconds since $1 (a `date +%s`)
since() { echo "$(( $(date +%s) - $1 )) s"; }

# need_pkg PKG...: add the packages not installed to MISSING
MISSING=()
need_pkg() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || MISSING+=("$p")
	done
}

# need_cmd CMD PKG: the program CMD, from PKG if it is not on the PATH
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || MISSING+=("$2")
}

install_missing() {
	local t0
	[ ${#MISSING[@]} -gt 0 ] || return 0
	t0=$(date +%s)
	say "installing ${#MISSING[@]} Debian packages: ${MISSING[*]}"
	say "(apt-get; on a bare machine this takes 2 to 6 minutes)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# One line per package as it is unpacked, so a slow download is not silence.
	apt-get install -y -q --no-install-recommends "${MISSING[@]}" |
		{ grep --line-buffered -E '^Unpacking ' || true; } | sed -u 's/^/  /'
	MISSING=()
	say "packages installed in $(since "$t0")"
}

# build DIR WHAT [configure flags...]: configure (once) and make in DIR.
build() {
	local dir=$1 what=$2 t0
	shift 2
	t0=$(date +%s)
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		say "autoreconf (configure, Makefile.in)"
		autoreconf -fi
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/config.status" ]; then
		say "configure ${dir#"$ROOT"/} $*"
		(cd "$dir" && "$ROOT/configure" -q "$@")
	fi
	say "building ${dir#"$ROOT"/} ($what; about 1 minute from scratch)"
	make -C "$dir" -j"$(nproc)" -s
	say "built ${dir#"$ROOT"/} in $(since "$t0")"
}

case "${1:-}" in
up)
	need_pkg "${PKGS[@]}"
	install_missing
	build "$ROOT/build" "the programs"
	say "starting a 3-node cluster in ./run"
	BUILDDIR="$ROOT/build" exec "$ROOT/scripts/cluster.sh" start "${2:-$ROOT/run}"
	;;
test)
	need_pkg "${PKGS[@]}"
	# The browser tests (tests/browser/run.sh): Chromium, Node.js and npm for
	# playwright-core (pinned, no browser download).
	need_cmd chromium chromium
	need_cmd node nodejs
	need_cmd npm npm
	install_missing
	if [ ! -f "$ROOT/tests/browser/node_modules/playwright-core/package.json" ]; then
		say "npm ci in tests/browser (playwright-core; a few seconds)"
		# npm's cache and logs stay in the clone (build/ is not tracked).
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$ROOT/tests/browser" \
			--cache "$ROOT/build/npm-cache" --no-update-notifier \
			--no-audit --no-fund --loglevel=error
	fi
	build "$ROOT/build" "the programs and tests"
	build "$ROOT/build-san" "the same under ASan+UBSan" --enable-sanitize
	rc=0
	t0=$(date +%s)
	say "make check in build (each test program is named as it starts, its results as it ends)"
	make -C "$ROOT/build" -j"$(nproc)" -s check || rc=$?
	say "make check in build: $(since "$t0")"
	t0=$(date +%s)
	# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
	# The browser test's large history (100,000 messages, measured in the
	# first run) is seeded smaller there: the same checks, a fifth of the
	# time on sanitized nodes.
	say "make check in build-san (ASan+UBSan)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		CONFAB_BIG_MSGS=${CONFAB_BIG_MSGS:-20000} \
		CONFAB_BIG_CONVS=${CONFAB_BIG_CONVS:-100} \
		make -C "$ROOT/build-san" -j"$(nproc)" -s check || rc=$?
	say "make check in build-san: $(since "$t0")"
	"$ROOT/scripts/test-summary.sh" "$ROOT/build" "$ROOT/build-san" || rc=1
	exit $rc
	;;
build)
	need_pkg "${PKGS[@]}"
	install_missing
	build "$ROOT/build" "the programs and tests"
	;;
*)
	echo "usage: scripts/dev.sh up|test|build" >&2
	exit 2
	;;
esac
