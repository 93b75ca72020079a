#!/usr/bin/env bash
# Makes sure redis-server (Redis 7 or newer) is installed: the redisstore
# tests start their own server from it, on a free port of 127.0.0.1, and
# fail when it is missing. Installs the Debian package when needed (as
# root, or through sudo). Idempotent; prints the version it found.
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1; then
	echo "== installing redis-server"
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		sudo="sudo"
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
	# The package may start a system-wide server on 6379; the tests do not
	# use it.
fi

version=$(redis-server --version | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
major=${version%%.*}
if [ -z "$major" ] || [ "$major" -lt 7 ]; then
	echo "redis-server ${version:-unknown} found; Redis 7 or newer is needed" >&2
	exit 1
fi
echo "redis-server $version"
