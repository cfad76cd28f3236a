#!/usr/bin/env bash
# test.sh: every test of the project, the README's test command and what CI runs.
#
#   1. gofmt, and go vet for GOOS=linux, windows and darwin (the platform splits must build);
#   2. go test -race ./... on this machine (conformance suite for every backend available
#      here, protocol fuzz seed corpora, harness with real child processes and the real
#      sockperf, report golden images and the headless-Chromium screenshot);
#   3. the hostile-client probes against every Linux backend through a real `iobench serve`
#      (scripts/hostile: garbage, oversize and truncated frames, pool exhaustion, slow
#      consumer, reset storm, EMFILE storm, idle timeout; fails on a spin, leak, silent death
#      or lock-out; about 30 s);
#   4. the swarm stack of `iobench deploy swarm` on a single-node Docker Swarm (scripts/
#      swarm-test.sh: image built from the repository, 2 load agents, a short suite through
#      them, run.json checked, nothing left behind), whenever Docker is usable; required when
#      CI=true;
#   5. the Windows suite under Wine (scripts/wine/test.sh: iocp, netstd and models built for
#      windows and run under wine64) and the Windows build of iobench end to end under Wine
#      (backends, a short run, serve answering the real sockperf), whenever Wine is installed;
#      required when CI=true.
#
# Usage: scripts/test.sh            (set IOBENCH_TESTFLAGS to pass flags to go test, e.g. -v)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
t0=$(date +%s)
fail=0
step() { printf '\n== %s\n' "$*"; }

step "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "not gofmt-formatted: $bad"; fail=1; fi

for os in linux windows darwin; do
	step "go vet (GOOS=$os)"
	GOOS=$os go vet ./... || fail=1
done

step "go test -race ./..."
# shellcheck disable=SC2086
go test -race -timeout 15m ${IOBENCH_TESTFLAGS:-} ./... || fail=1

step "hostile clients against every Linux backend (scripts/hostile)"
go run ./scripts/hostile || fail=1

step "Docker Swarm stack (scripts/swarm-test.sh: image, single-node swarm, 2 load agents, run.json checked, nothing left)"
if docker info >/dev/null 2>&1; then
	# Bounded as a whole too (SIGTERM: its trap still removes everything).
	timeout 900 scripts/swarm-test.sh || fail=1
elif [ "${CI:-}" = "true" ]; then
	echo "Docker is required when CI=true (the daemon must be running)"; fail=1
else
	echo "Docker not usable here: swarm stack test skipped"
fi

step "Windows suite under Wine"
if command -v wine64 >/dev/null 2>&1 || command -v wine >/dev/null 2>&1 || [ -x /usr/lib/wine/wine64 ]; then # as scripts/wine/env.sh finds it
	scripts/wine/test.sh || fail=1
	step "iobench (Windows build) under Wine: backends, run, serve against the real sockperf"
	scripts/wine-smoke.sh || fail=1
elif [ "${CI:-}" = "true" ]; then
	echo "Wine is required when CI=true (apt-get install wine64 gcc-mingw-w64-x86-64)"; fail=1
else
	echo "Wine not installed: Windows suite skipped (install wine64 gcc-mingw-w64-x86-64)"
fi

t1=$(date +%s)
if [ $fail -ne 0 ]; then
	printf '\nFAILED after %ss\n' $((t1 - t0)); exit 1
fi
printf '\nall tests passed in %ss\n' $((t1 - t0))
