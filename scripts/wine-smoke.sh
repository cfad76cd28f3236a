#!/usr/bin/env bash
# wine-smoke.sh: the Windows build of iobench under Wine, end to end.
#   - `iobench backends` reports rio unavailable with the WSA error Wine answers;
#   - `iobench run` (one short pingpong repetition of netstd and iocp, rio listed as skipped)
#     exits 0, writes its results and report, and labels its figures as not Windows numbers;
#   - `iobench run --suite faults` (netstd and iocp: server killed and restarted, client resets)
#     exits 0: every connection back, nothing lost beyond the messages in flight at the kill;
#   - `iobench serve --proto sockperf` answers the real Linux `sockperf ping-pong --tcp` with
#     no dropped, duplicated or out-of-order messages, for each backend given.
#
# Usage: scripts/wine-smoke.sh [backend...]   (default: netstd iocp)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ $# -gt 0 ] || set -- netstd iocp
command -v sockperf >/dev/null || { echo "wine-smoke: sockperf not installed"; exit 1; }
scripts/wine/setup.sh >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o "$work/iobench.exe" ./cmd/iobench

scripts/wine/exec.sh "$work/iobench.exe" backends > "$work/backends.txt"
cat "$work/backends.txt"
if ! grep -E '^rio +unavailable: .*(10045|WSAEOPNOTSUPP)' "$work/backends.txt" >/dev/null; then
	echo "wine-smoke: rio is not reported unavailable with the WSA error under Wine"; exit 1
fi

(cd "$work" && timeout 300 "$root/scripts/wine/exec.sh" "$work/iobench.exe" run --backends netstd,iocp,rio \
	--scenarios pingpong --reps 1 --duration 300ms --warmup 100ms --aa none --ladder 0.5 --out winerun > "$work/run.txt" 2>&1) ||
	{ cat "$work/run.txt"; echo "wine-smoke: iobench run failed under Wine"; exit 1; }
sed -n '1,/^report:/p' "$work/run.txt"
for want in "not Windows numbers" "rio skipped: rio: unsupported: .*10045" "^netstd " "^iocp "; do
	grep -Eq "$want" "$work/run.txt" || { echo "wine-smoke: iobench run output lacks /$want/"; exit 1; }
done
[ -s "$work/winerun/run.json" ] && [ -s "$work/winerun/report.html" ] ||
	{ echo "wine-smoke: iobench run wrote no run.json/report.html"; exit 1; }

# faults under Wine: kill/restart (TerminateProcess) and client resets on netstd and iocp; the
# run exits nonzero on any message lost beyond those in flight at the kill.
(cd "$work" && timeout 300 "$root/scripts/wine/exec.sh" "$work/iobench.exe" run --suite faults --backends netstd,iocp \
	--reps 1 --rate 1000 --aa none --no-report --out winefaults > "$work/faults.txt" 2>&1) ||
	{ cat "$work/faults.txt"; echo "wine-smoke: the faults scenario failed under Wine"; exit 1; }
grep -E '^\[[0-9]+/[0-9]+\] .* faults ' "$work/faults.txt"
tr -d ' \n' < "$work/winefaults/run.json" | grep -oE '"recovery_ns":\{[^}]*\},"back":[0-9]+,"in_flight":[0-9]+,"after_kill":[0-9]+,"lost":[0-9]+' ||
	{ echo "wine-smoke: no faults account in winefaults/run.json"; exit 1; }

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
	if [ -z "$port" ]; then echo "wine-smoke: $b did not listen: $(cat "$work/$b.out")"; status=1; continue; fi
	out=$(timeout 60 sockperf ping-pong --tcp -i 127.0.0.1 -p "$port" -t 3 -m 64 2>&1) || { echo "$out"; status=1; continue; }
	sum=$(echo "$out" | grep -E 'Valid Duration|dropped messages|Summary: Latency' || true)
	echo "== $b under Wine:"; echo "$sum"
	if ! echo "$out" | grep -q '# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0'; then
		echo "wine-smoke: $b: sockperf saw drops, duplicates or reordering"; status=1
	fi
	if ! echo "$out" | grep -Eq 'ReceivedMessages=[1-9]'; then
		echo "wine-smoke: $b: no replies"; status=1
	fi
done
exit $status
