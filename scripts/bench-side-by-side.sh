#!/usr/bin/env bash
# Side-by-side benchmark of caddy-realplexor and nginx + Nchan on this
# machine (issue 5): builds ./cmd/caddy and ./cmd/realplexor-bench,
# installs nginx and libnginx-mod-nchan with apt-get when missing, starts
# both servers on loopback (Nchan: subscribers 20001, publishers 20002;
# Caddy: WAIT 20003, IN 20004, bench/Caddyfile.bench), and runs the same
# modes against both, REPS times each:
#
#   hold        10,000 parked polls on 1,000 channels
#   hold-h2     (Realplexor) 5,000 polls as HTTP/2 streams over 100 TLS
#               connections, then 4,000 polls on a TLS connection each
#   fanout      10,000 subscribers of one channel, 20 broadcasts
#   throughput  1,000 subscribers on 1,000 channels, 16 publishers, 20 s
#               (a connection per publish, as the PHP client; then again
#               with kept-alive publisher connections unless KEEPALIVE=0)
#
# Realplexor's fanout and throughput run twice: with a connection per poll
# (the original clients) and with kept-alive polls (browsers).
#
# Results: bench/results/side-by-side.md (medians, every run beside them,
# the machine and the command) and side-by-side.jsonl (one JSON result
# line per run); server and tool logs in bench/results/logs/.
#
# Environment:
#   QUICK=1      2,000 parked on 200 channels, 2,000 fan-out subscribers,
#                200 throughput subscribers for 5 s; results go to
#                side-by-side-quick.md / .jsonl
#   REPS=N       runs of every mode and target (default 2)
#   KEEPALIVE=0  skip the kept-alive publisher throughput runs
#
# Both servers are started fresh for every repetition and stopped when
# the script ends, however it ends. Everything stays on 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
script_start=$(date +%s)

QUICK=${QUICK:-0}
REPS=${REPS:-2}
KEEPALIVE=${KEEPALIVE:-1}
NCHAN_SUB=20001
NCHAN_PUB=20002
RPL_WAIT=20003
RPL_IN=20004
RPL_H2=20005 # the same WAIT over TLS + HTTP/2 (hold-h2)
SOURCES=4 # subscriber connections spread over 127.0.0.2 … 127.0.0.5

if [ "$QUICK" = 1 ]; then
	HOLD_N=2000 HOLD_C=200 FAN_N=2000 FAN_R=20 TP_K=200 TP_P=16 TP_D=5s HOLD_T=3s H2_N=1000 H2_CONNS=20 H2_SINGLE=500
	name=side-by-side-quick
else
	HOLD_N=10000 HOLD_C=1000 FAN_N=10000 FAN_R=20 TP_K=1000 TP_P=16 TP_D=20s HOLD_T=5s H2_N=5000 H2_CONNS=100 H2_SINGLE=4000
	name=side-by-side
fi

# Open files: use what the hard limit allows (20,000 here, not raisable)
# and keep the counts below it, with a reserve for the servers' own files.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [ "$nofile" = unlimited ]; then nofile=20000; fi
cap=$((nofile - 200))
if [ "$HOLD_N" -gt "$cap" ]; then HOLD_N=$cap; fi
if [ "$FAN_N" -gt "$cap" ]; then FAN_N=$cap; fi
if [ "$HOLD_C" -gt "$HOLD_N" ]; then HOLD_C=$HOLD_N; fi

results=$root/bench/results
logs=$results/logs
mkdir -p "$logs"
raw=$results/$name.jsonl
md=$results/$name.md
: >"$raw"

scratch=$(mktemp -d /tmp/rpl-bench.XXXXXX)
chmod 755 "$scratch"
bin=$scratch/bin
caddy_pid=""
nginx_master=""

stop_caddy() {
	if [ -n "$caddy_pid" ] && kill -0 "$caddy_pid" 2>/dev/null; then
		kill -INT "$caddy_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$caddy_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$caddy_pid" 2>/dev/null || true
		wait "$caddy_pid" 2>/dev/null || true
	fi
	caddy_pid=""
}
stop_servers() {
	stop_caddy
	if [ -n "$nginx_master" ] && kill -0 "$nginx_master" 2>/dev/null; then
		kill -QUIT "$nginx_master" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$nginx_master" 2>/dev/null || break; sleep 0.1; done
		kill -TERM "$nginx_master" 2>/dev/null || true
	fi
	nginx_master=""
}
cleanup() {
	stop_servers
	rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# children_of PID: the processes whose parent is PID (nginx workers).
children_of() {
	local p
	for p in /proc/[0-9]*; do
		if [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$1" ]; then
			echo "${p#/proc/}"
		fi
	done
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {
	for _ in $(seq 1 100); do
		if port_open "$1"; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

echo "== build"
# What is measured: the commit and a hash of the Go sources as built (the
# work tree may have uncommitted changes, or change during the run).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- '*.go' go.mod go.sum 2>/dev/null)" ]; then
	commit="$commit + uncommitted changes"
fi
src_hash=$(git ls-files -z -co --exclude-standard -- '*.go' go.mod go.sum 2>/dev/null | sort -z |
	xargs -0 cat 2>/dev/null | sha256sum | cut -c1-12)
go build -o "$bin/caddy" ./cmd/caddy
go build -o "$bin/realplexor-bench" ./cmd/realplexor-bench

echo "== nginx + Nchan"
module=/usr/lib/nginx/modules/ngx_nchan_module.so
if ! command -v nginx >/dev/null 2>&1 || [ ! -e "$module" ]; then
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx libnginx-mod-nchan >/dev/null
fi
if [ ! -e "$module" ]; then
	module=$(dpkg -L libnginx-mod-nchan | grep 'ngx_nchan_module\.so$' | head -1)
fi
nginx_bin=$(command -v nginx)

for port in $NCHAN_SUB $NCHAN_PUB $RPL_WAIT $RPL_IN $RPL_H2; do
	if port_open "$port"; then
		echo "127.0.0.1:$port is already in use; stop what listens there" >&2
		exit 1
	fi
done

start_servers() { # $1: repetition, for the log names
	local rundir=$scratch/nginx-$1 user_line=""
	mkdir -p "$rundir"
	if [ "$(id -u)" = 0 ]; then user_line="user root;"; fi
	sed -e "s#@RUNDIR@#$rundir#g" -e "s#@MODULE@#$module#" -e "s#@USER@#$user_line#" \
		-e "s#@SUB_PORT@#$NCHAN_SUB#" -e "s#@PUB_PORT@#$NCHAN_PUB#" \
		bench/nginx-nchan.conf >"$rundir/nginx.conf"
	"$nginx_bin" -e "$rundir/nginx-error.log" -c "$rundir/nginx.conf"
	for _ in $(seq 1 50); do [ -s "$rundir/nginx.pid" ] && break; sleep 0.1; done
	nginx_master=$(cat "$rundir/nginx.pid")
	wait_port "$NCHAN_SUB"
	wait_port "$NCHAN_PUB"
	local workers
	workers=$(children_of "$nginx_master" | paste -sd, -)
	nginx_pids="$nginx_master,$workers"

	start_caddy "rep$1"
	echo "   caddy pid $caddy_pid; nginx pids $nginx_pids"
}

start_caddy() { # $1: a name for the log
	XDG_DATA_HOME=$scratch/caddy-data XDG_CONFIG_HOME=$scratch/caddy-config \
		RPL_BENCH_WAIT=$RPL_WAIT RPL_BENCH_IN=$RPL_IN RPL_BENCH_H2=$RPL_H2 \
		"$bin/caddy" run --config bench/Caddyfile.bench --adapter caddyfile >"$logs/caddy-$1.log" 2>&1 &
	caddy_pid=$!
	wait_port "$RPL_WAIT"
	wait_port "$RPL_IN"
	wait_port "$RPL_H2"
	sleep 1
}

# restart_caddy gives a run a fresh Caddy, so memory freed by earlier runs
# does not hide what this one takes.
restart_caddy() { # $1: a name for the log
	stop_caddy
	start_caddy "$1"
}

loads=()
run_one() { # label target mode args…
	local label=$1 target=$2 mode=$3
	shift 3
	local pids addrs
	if [ "$target" = nchan ]; then
		pids=$nginx_pids
		addrs=(-wait "127.0.0.1:$NCHAN_SUB" -in "127.0.0.1:$NCHAN_PUB")
	else
		pids=$caddy_pid
		addrs=(-wait "127.0.0.1:$RPL_WAIT" -in "127.0.0.1:$RPL_IN")
	fi
	local load scen=$mode
	case " $* " in *" -keepalive "*) scen=$mode-keepalive ;; esac
	case " $* " in *" -poll-keepalive "*) scen=$scen-polls-kept ;; esac
	case " $* " in *" -h2-conns "*) scen=$scen-$(echo "$*" | sed 's/.*-h2-conns \([0-9]*\).*/\1/')conns ;; esac
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	loads+=("$label $target $scen: $load")
	echo "-- $label $target $mode $* (load average $load)"
	local line log=$logs/bench-$label-$target-$scen.log
	if line=$("$bin/realplexor-bench" -target "$target" -mode "$mode" -pid "$pids" -label "$label" \
		"${addrs[@]}" "$@" 2>"$log"); then
		echo "$line" >>"$raw"
		echo "$line" | cut -c1-300
	else
		echo "   realplexor-bench failed; see $log" >&2
	fi
	sleep 2
}

# run_both_polls label mode args…: the mode against both targets in this
# repetition's order, Realplexor twice: polls on a connection each (the
# original clients) and kept-alive polls (browsers); Nchan's subscribers
# keep their connections anyway.
run_both_polls() {
	local label=$1 mode=$2 t
	shift 2
	for t in "${order[@]}"; do
		run_one "$label" "$t" "$mode" "$@"
		if [ "$t" = realplexor ]; then
			run_one "$label" "$t" "$mode" -poll-keepalive "$@"
		fi
	done
}

for rep in $(seq 1 "$REPS"); do
	echo "== repetition $rep of $REPS"
	start_servers "$rep"
	if [ $((rep % 2)) = 1 ]; then order=(realplexor nchan); else order=(nchan realplexor); fi
	for t in "${order[@]}"; do
		run_one "rep$rep" "$t" hold -n "$HOLD_N" -channels "$HOLD_C" -hold "$HOLD_T" -source-count "$SOURCES"
	done
	run_both_polls "rep$rep" fanout -n "$FAN_N" -rounds "$FAN_R" -source-count "$SOURCES"
	run_both_polls "rep$rep" throughput -n "$TP_K" -channels "$TP_K" -publishers "$TP_P" -duration "$TP_D" -source-count "$SOURCES"
	if [ "$KEEPALIVE" = 1 ]; then
		run_both_polls "rep$rep" throughput -keepalive -n "$TP_K" -channels "$TP_K" -publishers "$TP_P" -duration "$TP_D" -source-count "$SOURCES"
	fi
	# HTTP/2 + TLS (Realplexor only), each on a fresh Caddy: the polls as
	# streams over a few connections, then one poll per connection.
	restart_caddy "rep$rep-h2"
	run_one "rep$rep" realplexor hold-h2 -wait "127.0.0.1:$RPL_H2" -n "$H2_N" -h2-conns "$H2_CONNS" -hold "$HOLD_T" -source-count "$SOURCES"
	restart_caddy "rep$rep-h2-single"
	run_one "rep$rep" realplexor hold-h2 -wait "127.0.0.1:$RPL_H2" -n "$H2_SINGLE" -h2-conns "$H2_SINGLE" -hold "$HOLD_T" -source-count "$SOURCES"
	if [ -f "$scratch/nginx-$rep/nginx-error.log" ]; then
		cp "$scratch/nginx-$rep/nginx-error.log" "$logs/nginx-rep$rep-error.log"
	fi
	stop_servers
done

echo "== report"
elapsed=$(($(date +%s) - script_start))
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem_total=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
nchan_version=$(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo unknown)
nginx_version=$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')
cmd="scripts/bench-side-by-side.sh"
if [ "$QUICK" = 1 ]; then cmd="QUICK=1 $cmd"; fi
if [ "$REPS" != 2 ]; then cmd="REPS=$REPS $cmd"; fi
if [ "$KEEPALIVE" != 1 ]; then cmd="KEEPALIVE=$KEEPALIVE $cmd"; fi
{
	echo "# caddy-realplexor and nginx + Nchan, side by side"
	echo
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') with \`$cmd\` ($elapsed s in all); every"
	echo "cell is the median of the runs, each run's value in parentheses."
	echo "The load tool (\`cmd/realplexor-bench\`) runs on the same machine as the"
	echo "server and shares its cores; server memory and CPU come from /proc (nginx:"
	echo "master and both workers summed; PSS splits the shared memory the workers"
	echo "share, RSS counts it once per process)."
	echo
	echo "| machine | |"
	echo "|---|---|"
	echo "| CPU | $(nproc) × $cpu_model |"
	echo "| memory | $mem_total |"
	echo "| kernel | $(uname -r) |"
	echo "| Go | $(go env GOVERSION) |"
	echo "| nginx | $nginx_version, libnginx-mod-nchan $nchan_version, 2 workers |"
	echo "| caddy-realplexor | $commit (Go sources sha256 $src_hash…) |"
	echo "| open files per process | $nofile |"
	echo
	echo "Settings: Caddy \`bench/Caddyfile.bench\` (wait_timeout 300s, 30 messages"
	echo "kept per channel, 1 h); Nchan \`bench/nginx-nchan.conf\` (buffer 30 messages,"
	echo "message timeout 1 h, long-poll subscriber timeout 300 s, a new subscriber"
	echo "waits for the next message). Realplexor polls continue from their cursor,"
	echo "either on a fresh connection each (the original clients: the reply ends"
	echo "with the connection) or, in the kept-alive columns, on one connection that"
	echo "sends \"Connection: keep-alive\" as browsers do (chunked replies);"
	echo "Nchan polls reuse their kept-alive connection with If-Modified-Since /"
	echo "If-None-Match. Subscribers connect from 127.0.0.2 … 127.0.0.$((SOURCES + 1))."
	echo "Re-arm is the time from a round's last delivery until all n are parked"
	echo "again: for Realplexor until the head and prelude of every next poll have"
	echo "arrived (the server has registered it); Nchan sends nothing before a"
	echo "message, so there it ends when every next poll has been written on its"
	echo "kept-alive connection (Nchan's own subscriber counts proved unreliable with"
	echo "two workers). The cycle row (publish until all delivered and parked again)"
	echo "is measured the same way for both."
	echo
	"$bin/realplexor-bench" -report "$raw"
	echo "Noise: other processes may share the machine. The \"noise\" rows give the"
	echo "CPU time the machine spent on anything but the server and the load tool"
	echo "during the measured window (from /proc/stat; it includes kernel network"
	echo "time charged to no process). The 1, 5 and 15 minute load averages before"
	echo "each run (the previous run's own load included) were:"
	echo
	for l in "${loads[@]}"; do echo "- $l"; done
	echo
	echo "Raw result lines: \`bench/results/$name.jsonl\`."
} >"$md"
echo "wrote $md and $raw in $elapsed s"
