#!/usr/bin/env bash
# perf-compare.sh: does a change make the servers dearer? Server CPU per message of two
# revisions, same machine, same offered load, interleaved.
#
# Builds OLD_REV's and NEW_REV's iobench into a temp dir (git archive: the work tree is not
# touched), then for ROUNDS rounds, for each backend and each workload, runs the server of
# each revision in turn (the order alternates every round) pinned to CPU 0 with one loop and
# GOMAXPROCS 1, and drives it with the same load generator (NEW_REV's `iobench load`, gnet
# client, GOMAXPROCS 1) pinned to CPU 1 at a fixed offered rate (open loop):
#
#   pingpong   --conns 100 --size 64 --rate $RATE_PINGPONG   (one message in flight per conn)
#   pipelined  --conns 4   --size 64 --rate $RATE_PIPELINED  (many messages in flight per conn)
#
# Server CPU is utime+stime from /proc/PID/stat across the load run (warm-up included),
# divided by the messages the load generator verified (`iobench load --json`: verify.received,
# every reply checked). internal/perfstat prints the medians per revision and the two-sided
# Mann–Whitney U test (α 0.05) per backend and workload. A run whose offered rate was not met
# shows it in the msgs/s column: compare only rows whose rates are equal.
#
# Usage: scripts/perf-compare.sh OLD_REV NEW_REV [backend...]   (default: epoll uring gnet netpoll)
# Env:   ROUNDS (7), DURATION (3s), WARMUP (1s), RATE_PINGPONG (20000), RATE_PIPELINED (40000),
#        KEEP=1 keeps the temp dir (builds and samples).
# Needs: Linux, 2+ CPUs, taskset. Targets 127.0.0.1 only.
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 OLD_REV NEW_REV [backend...]" >&2
	exit 2
fi
old_rev=$1 new_rev=$2
shift 2
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(epoll uring gnet netpoll)
rounds=${ROUNDS:-7}
duration=${DURATION:-3s}
warmup=${WARMUP:-1s}
rate_pp=${RATE_PINGPONG:-20000}
rate_pl=${RATE_PIPELINED:-40000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v taskset >/dev/null || { echo "perf-compare: taskset is required" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "perf-compare: needs 2 CPUs (server CPU 0, load CPU 1)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/perf-compare.XXXXXX)
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	if [ "${KEEP:-}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build() { # build REV DIR
	mkdir -p "$2/src"
	git archive "$1" | tar -x -C "$2/src"
	(cd "$2/src" && CGO_ENABLED=0 go build -o "$2/iobench" ./cmd/iobench)
}
echo "building $old_rev and $new_rev ..." >&2
build "$old_rev" "$tmp/old"
build "$new_rev" "$tmp/new"
load_bin=$tmp/new/iobench
clk=$(getconf CLK_TCK)
samples=$tmp/samples.tsv
echo "# backend workload rev round cpu_ns_per_msg msgs_per_sec" >"$samples"

# cpu_ticks PID: utime+stime of PID (fields 14 and 15 of /proc/PID/stat, after the comm field).
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }

# measure REV BACKEND WORKLOAD ROUND
measure() {
	local rev=$1 backend=$2 workload=$3 round=$4 conns rate out addr t0 t1 json
	case $workload in
	pingpong) conns=100 rate=$rate_pp ;;
	pipelined) conns=4 rate=$rate_pl ;;
	esac
	out=$tmp/serve-$rev-$backend-$workload-$round.out # fresh per run: never an earlier server's address
	: >"$out"
	GOMAXPROCS=1 taskset -c 0 "$tmp/$rev/iobench" serve --backend "$backend" --addr 127.0.0.1:0 \
		--loops 1 --gomaxprocs 1 >"$out" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$out" | head -1 || true)
		[ -n "$addr" ] && break
		sleep 0.05
	done
	if [ -z "$addr" ]; then echo "perf-compare: $rev $backend did not start: $(cat "$out")" >&2; exit 1; fi
	json=$tmp/load.json
	rm -f "$json"
	t0=$(cpu_ticks "$server_pid")
	GOMAXPROCS=1 taskset -c 1 "$load_bin" load --target "$addr" --proto echo --conns "$conns" --size 64 \
		--rate "$rate" --duration "$duration" --warmup "$warmup" --loops 1 --json "$json" >/dev/null
	t1=$(cpu_ticks "$server_pid")
	kill "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
	python3 - "$json" "$t0" "$t1" "$clk" "$backend" "$workload" "$rev" "$round" >>"$samples" <<'PY'
import json, sys
path, t0, t1, clk, backend, workload, rev, rnd = sys.argv[1:]
r = json.load(open(path))["results"][0]
recv = r["verify"]["received"]
cpu_ns = (int(t1) - int(t0)) * 1e9 / int(clk)
print(f"{backend} {workload} {rev} {rnd} {cpu_ns / recv:.1f} {r['msgs_per_sec']:.0f}")
PY
}

echo "rounds $rounds, $duration each (+$warmup warm-up), pingpong $rate_pp msgs/s x 100 conns, pipelined $rate_pl msgs/s x 4 conns" >&2
for round in $(seq "$rounds"); do
	order="old new"
	[ $((round % 2)) -eq 0 ] && order="new old"
	for backend in "${backends[@]}"; do
		for workload in pingpong pipelined; do
			for rev in $order; do
				measure "$rev" "$backend" "$workload" "$round"
			done
		done
	done
	echo "round $round/$rounds done" >&2
done
echo "old = $old_rev ($(git rev-parse --short "$old_rev")), new = $new_rev ($(git rev-parse --short "$new_rev")); $(nproc) CPUs, $(uname -r)"
go run ./internal/perfstat "$samples"
