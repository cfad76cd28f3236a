#!/usr/bin/env bash
# loadgen-cost.sh: the load generator's own CPU per message for every available client backend,
# against one netstd echo server pinned to CPU 0 (the load generator on CPU 1), repeated and
# interleaved, so ClientPreference in harness/clientbackend.go can be set from a measurement.
#
# usage: scripts/loadgen-cost.sh [REPS] [DURATION]      (default 3 reps of 2s)
# Needs Linux, taskset and 2+ CPUs. Prints one line per run and the median per backend.
set -euo pipefail
reps=${1:-3}
dur=${2:-2s}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${IOBENCH:-$(mktemp -d)/iobench}
[ -x "$bin" ] || (cd "$root" && go build -o "$bin" ./cmd/iobench)
clients=$("$bin" backends | awk '$2 == "available" {print $1}')
out=$(mktemp -d)
taskset -c 0 "$bin" serve --backend netstd --proto echo --addr 127.0.0.1:0 --gomaxprocs 1 >"$out/serve" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q listening "$out/serve" && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$out/serve")
for depth in 1 8; do
  for r in $(seq "$reps"); do
    for c in $clients; do
      line=$(GOMAXPROCS=1 taskset -c 1 "$bin" load --target "$addr" --client-backend "$c" --loops 1 \
        --conns 100 --size 64 --depth "$depth" --duration "$dur" --warmup 300ms |
        awk '/load generator CPU/ {print $4} /msgs\/s/ {print $3}' | tr '\n' ' ')
      echo "depth=$depth client=$c rep=$r msgs/s+client-ns/msg: $line" | tee -a "$out/all"
    done
  done
done
echo "median client ns/msg:"
for depth in 1 8; do
  for c in $clients; do
    awk -v d="depth=$depth" -v c="client=$c" '$1==d && $2==c {print $6}' "$out/all" | sort -n |
      awk -v d="$depth" -v c="$c" '{a[NR]=$1} END {print "  depth=" d " " c ": " a[int((NR+1)/2)]}'
  done
done
