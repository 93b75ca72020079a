#!/usr/bin/env bash
# Browser tests: the Realplexor JavaScript client and loader page in real
# headless Chromium against a real Caddy built from this tree
# (test/browser/*.test.mjs, node:test + playwright-core).
#
# Installs what is missing, idempotently and non-interactively:
#   - Debian's chromium (/usr/bin/chromium), via apt-get; needs root, as CI is;
#   - playwright-core, pinned in test/browser/package-lock.json, via npm ci.
# No browser is ever downloaded by npm: playwright-core drives Debian's.
#
# Ports 19000-19099 on 127.0.0.1. Exit status is the tests' result.
# Tests that need a server feature caddy adapt refuses are reported as
# skipped and fail the run (BROWSER_TEST_STRICT=0 lets them pass).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start=$(date +%s)

if [ ! -x /usr/bin/chromium ]; then
	echo "== installing chromium (apt-get)"
	if [ "$(id -u)" -ne 0 ]; then
		echo "chromium is missing and installing it needs root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq chromium >/dev/null
fi
echo "== $(/usr/bin/chromium --version 2>/dev/null)"

# node_modules is (re)installed whenever package-lock.json changed since
# the last npm ci here.
cd "$repo/test/browser"
lock=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.package-lock.sha256
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock" ]; then
	echo "== npm ci (test/browser)"
	# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces, -core never downloads.
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	echo "$lock" >"$stamp"
fi
echo "== playwright-core $(node -p 'require("playwright-core/package.json").version')"
cd "$repo"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export XDG_CONFIG_HOME="$scratch/config" XDG_DATA_HOME="$scratch/data"

echo "== go build ./cmd/caddy"
go build -o "$scratch/caddy" ./cmd/caddy
export CADDY_BIN="$scratch/caddy"

echo "== node --test test/browser/"
log="$scratch/node-test.log"
set +e
# One file at a time: each starts its own Caddy and Chromium, and the
# timing tests (reconnect, restart, burst) want the two cores to themselves.
node --test --test-concurrency=1 --test-reporter=spec test/browser/ 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# A test that could not run is a failure: every server feature the tests
# use exists. BROWSER_TEST_STRICT=0 reports skips without failing, for
# work on a branch where a feature is not built yet.
skips=$(grep -E '# (SKIP|PENDING)' "$log" || true)
if [ -n "$skips" ]; then
	echo "== skipped tests:"
	echo "$skips"
	if [ "${BROWSER_TEST_STRICT:-1}" = 1 ] && [ "$status" -eq 0 ]; then
		status=1
	fi
fi
echo "== browser tests: exit $status in $(( $(date +%s) - start )) s"
exit "$status"
