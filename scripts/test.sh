#!/usr/bin/env bash
# The project's test command (README "Run the tests"): formatting, vet,
# the development binary, and every test with the race detector. Fails
# if any test is skipped: an integration test that cannot run is a
# failure, not a pass.
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep Caddy's autosave and data (cursor floors, certificates) out of $HOME.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export XDG_CONFIG_HOME="$scratch/config" XDG_DATA_HOME="$scratch/data"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted"
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go build ./cmd/caddy"
go build -o "$scratch/caddy" ./cmd/caddy

echo "== redis-server (the Redis tests start their own)"
./scripts/redis-server.sh

echo "== go test -race"
log="$scratch/test.log"
# Caddy's own JSON log lines are kept in the log file, not on the screen.
set +e
go test -race -count=1 -v -timeout 20m ./... >"$log" 2>&1
status=$?
set -e
grep -v '^{"level"' "$log" | grep -E '^(=== RUN|--- |PASS|FAIL|ok |panic|\s+\S+_test\.go:[0-9]+)' | grep -v '^=== RUN' || true
if [ $status -ne 0 ]; then
	echo "== failures, with context"
	grep -v '^{"level"' "$log" | grep -B2 -A20 -E '^(--- FAIL|panic)' | head -300 || true
	exit $status
fi
if grep -q -- '--- SKIP' "$log"; then
	echo "== skipped tests are failures here:"
	grep -- '--- SKIP' "$log"
	exit 1
fi
passed=$(grep -c -- '--- PASS' "$log" || true)
echo "go tests: $passed passed, 0 failed"

echo "== browser tests"
# A browser test that cannot run (a missing server feature) fails here.
BROWSER_TEST_STRICT=1 ./scripts/browser-test.sh
