#!/bin/sh
# run.sh: the browser tests of the chat page (TAP). Starts a three-node
# cluster on free ports, drives headless Chromium through playwright-core
# (tests/browser/chat.test.mjs), stops the cluster by pid.
# Needs /usr/bin/chromium (or $CHROMIUM), node and tests/browser/node_modules
# (`npm ci --prefix tests/browser`, done by scripts/dev.sh test); without them
# it prints a TAP skip with the reason.
here=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	echo "1..0 # SKIP chromium or playwright-core missing: no $CHROMIUM (apt-get install chromium)"
	exit 0
fi
if ! command -v node >/dev/null 2>&1; then
	echo "1..0 # SKIP chromium or playwright-core missing: no node (apt-get install nodejs npm)"
	exit 0
fi
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
	echo "1..0 # SKIP chromium or playwright-core missing: run npm ci --prefix tests/browser"
	exit 0
fi
CONFAB_SRCDIR=${CONFAB_SRCDIR:-$(cd "$here/../.." && pwd)}
CONFAB_BUILDDIR=${CONFAB_BUILDDIR:-$PWD}
export CHROMIUM CONFAB_SRCDIR CONFAB_BUILDDIR
# Chromium writes under $HOME (~/.config/chromium/Crash Reports): give it a
# home of its own under /tmp, removed afterwards, so that the tests leave
# nothing outside the clone.
home=$(mktemp -d /tmp/confab-browser-home-XXXXXX) || exit 1
HOME=$home XDG_CONFIG_HOME=$home/.config XDG_CACHE_HOME=$home/.cache \
	node "$here/chat.test.mjs"
rc=$?
rm -rf "$home"
exit $rc
