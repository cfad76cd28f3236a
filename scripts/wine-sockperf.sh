#!/usr/bin/env bash
# wine-sockperf.sh: the Windows build of `iobench serve --proto sockperf`, running under Wine,
# must answer the real Linux `sockperf ping-pong --tcp` with no dropped, duplicated or
# out-of-order messages. Also checks that the Windows build's `iobench backends` reports rio
# unavailable with the WSA error Wine answers.
#
# Usage: scripts/wine-sockperf.sh [backend...]   (default: netstd iocp)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ $# -gt 0 ] || set -- netstd iocp
command -v sockperf >/dev/null || { echo "wine-sockperf: sockperf not installed"; exit 1; }
scripts/wine/setup.sh >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o "$work/iobench.exe" ./cmd/iobench

scripts/wine/exec.sh "$work/iobench.exe" backends > "$work/backends.txt"
cat "$work/backends.txt"
if ! grep -E '^rio +unavailable: .*(10045|WSAEOPNOTSUPP)' "$work/backends.txt" >/dev/null; then
	echo "wine-sockperf: rio is not reported unavailable with the WSA error under Wine"; exit 1
fi

status=0
for b in "$@"; do
	scripts/wine/exec.sh "$work/iobench.exe" serve --backend "$b" --proto sockperf --addr 127.0.0.1:0 > "$work/$b.out" 2>&1 &
	pids+=($!)
	port=""
	for _ in $(seq 1 150); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$b.out" | head -1)
		[ -n "$port" ] && break
		sleep 0.2
	done
	if [ -z "$port" ]; then echo "wine-sockperf: $b did not listen: $(cat "$work/$b.out")"; status=1; continue; fi
	out=$(timeout 60 sockperf ping-pong --tcp -i 127.0.0.1 -p "$port" -t 3 -m 64 2>&1) || { echo "$out"; status=1; continue; }
	sum=$(echo "$out" | grep -E 'Valid Duration|dropped messages|Summary: Latency' || true)
	echo "== $b under Wine:"; echo "$sum"
	if ! echo "$out" | grep -q '# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0'; then
		echo "wine-sockperf: $b: sockperf saw drops, duplicates or reordering"; status=1
	fi
	if ! echo "$out" | grep -Eq 'ReceivedMessages=[1-9]'; then
		echo "wine-sockperf: $b: no replies"; status=1
	fi
done
exit $status
