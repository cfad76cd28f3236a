#!/usr/bin/env bash
# crosscheck-sockperf.sh: checks iobench's load generator against an independent client.
# Starts `iobench serve --proto sockperf` on CPU 0, then runs the real sockperf ping-pong
# (one TCP connection, 64 B, full round trip) and `iobench load` with the same shape on CPU 1,
# interleaved REPS times, and prints both p50 round trips and message rates.
#
# usage: scripts/crosscheck-sockperf.sh [BACKEND] [REPS]    (default netstd, 3)
set -euo pipefail
backend=${1:-netstd}
reps=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${IOBENCH:-$(mktemp -d)/iobench}
[ -x "$bin" ] || (cd "$root" && go build -o "$bin" ./cmd/iobench)
command -v sockperf >/dev/null || { echo "sockperf not installed" >&2; exit 2; }
out=$(mktemp -d)
taskset -c 0 "$bin" serve --backend "$backend" --proto sockperf --addr 127.0.0.1:0 --gomaxprocs 1 >"$out/serve" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q listening "$out/serve" && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$out/serve")
port=${addr##*:}
for r in $(seq "$reps"); do
  sp=$(taskset -c 1 sockperf ping-pong -i 127.0.0.1 -p "$port" --tcp -m 64 -t 2 --full-rtt 2>&1)
  sp50=$(echo "$sp" | sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p')
  sprate=$(echo "$sp" | sed -n 's/.*\[Valid Duration\] RunTime=\([0-9.]*\) sec; SentMessages=[0-9]*; ReceivedMessages=\([0-9]*\).*/\2 \1/p' | awk '{printf "%.0f", $1/$2}')
  io=$(GOMAXPROCS=1 taskset -c 1 "$bin" load --target "$addr" --proto sockperf --client-backend netstd --loops 1 \
    --conns 1 --depth 1 --size 64 --duration 2s --warmup 400ms)
  io50=$(echo "$io" | sed -n 's/.*latency p50 \([^ ]*\).*/\1/p')
  iorate=$(echo "$io" | sed -n 's/.*: \([0-9]*\) msgs\/s.*/\1/p')
  echo "rep $r: sockperf p50 RTT ${sp50}us ${sprate} msgs/s | iobench load p50 RTT ${io50} ${iorate} msgs/s"
done
