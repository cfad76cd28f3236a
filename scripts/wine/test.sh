#!/bin/sh
# test.sh: the Windows test suite under Wine.
#
# Sets the Wine prefix and the ProcessPrng shim up (idempotent, see setup.sh), then runs the
# Windows builds of the Windows-relevant packages' tests under Wine through exec.sh, and exits
# nonzero when anything fails. No -race: the race detector needs cgo, which this cross build
# does not have. Arguments replace the default package list; extra `go test` flags go in
# IOBENCH_WINE_TESTFLAGS (e.g. "-run TestConformance -v").
#
# The default list is the shared contract (models, modeltest), the wire codecs (proto), the
# Winsock layer (internal/winsock) and every backend that runs on Windows and under Wine, read
# from scripts/backends.txt (generated from the backends' register.go files: go generate
# ./cmd/iobench), so a new Windows backend is in the suite without editing this script. Not here: results, plots and harness, whose tests use t.TempDir: Go >= 1.25
# removes files with NtSetInformationFile(FileDispositionInformationEx), which Wine 8.0
# answers with STATUS_NOT_IMPLEMENTED ("Invalid function"), a status Go does not fall back
# on, so every TempDir cleanup fails under Wine; they run natively on Windows in CI.
#
# Usage (from anywhere): scripts/wine/test.sh [packages...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
t0=$(date +%s)

"$here/setup.sh"
# Start the wineserver and Wine's system processes (services.exe, ...) now, detached from
# our stdout: started by the first test binary instead, they inherit its stdout, outlive it,
# and `go test` fails the package with "Test I/O incomplete 30s after exiting". The server
# stays up for the whole run and is stopped at exit.
. "$here/env.sh"
wineserver -p >/dev/null 2>&1 </dev/null || true
"$IOBENCH_WINE" cmd /c exit >/dev/null 2>&1 </dev/null || true
trap 'wineserver -k >/dev/null 2>&1 || true' EXIT
t1=$(date +%s)

cd "$root"
if [ $# -eq 0 ]; then
	# shellcheck disable=SC2046 # one word per package
	set -- ./models/ ./models/modeltest/ ./proto/... ./internal/winsock/ \
		$(awk '!/^#/ && $3 == "wine" { printf "./%s/\n", $1 }' "$root/scripts/backends.txt")
fi
status=0
# shellcheck disable=SC2086 # IOBENCH_WINE_TESTFLAGS is a list of flags.
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -exec "$here/exec.sh" ${IOBENCH_WINE_TESTFLAGS:-} "$@" || status=$?
t2=$(date +%s)
echo "wine: setup $((t1 - t0))s, tests $((t2 - t1))s, total $((t2 - t0))s (status $status)" >&2
exit $status
