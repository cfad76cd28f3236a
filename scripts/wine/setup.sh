#!/bin/sh
# setup.sh: create the iobench Wine prefix and install the ProcessPrng shim, idempotently.
#
# Go >= 1.22 Windows binaries need bcryptprimitives.dll!ProcessPrng, which Wine 8.0 lacks
# (see processprng.c). The shim is built with mingw-w64 and copied into the prefix's
# system32, where Wine's loader finds it as a native DLL (WINEDLLOVERRIDES in env.sh).
# Needs: wine64 (Debian package wine64), x86_64-w64-mingw32-gcc (gcc-mingw-w64-x86-64).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

command -v "$IOBENCH_WINE" >/dev/null 2>&1 || { echo "setup.sh: $IOBENCH_WINE not found (apt-get install wine64)" >&2; exit 1; }
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || { echo "setup.sh: x86_64-w64-mingw32-gcc not found (apt-get install gcc-mingw-w64-x86-64)" >&2; exit 1; }

# One setup at a time per prefix (test.sh and other Wine scripts may start together).
mkdir -p "$(dirname "$WINEPREFIX")"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$WINEPREFIX.lock"
	flock 9
fi

sys32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -f "$WINEPREFIX/system.reg" ] || [ ! -d "$sys32" ]; then
	echo "setup.sh: creating Wine prefix $WINEPREFIX" >&2
	mkdir -p "$WINEPREFIX"
	# wineboot -i initialises the prefix; -u would also run updates. No GUI: DISPLAY unset.
	"$IOBENCH_WINE" wineboot -i >/dev/null 2>&1 || true
	# wineboot returns before the registry is flushed; wait for the server to finish.
	wineserver -w 2>/dev/null || true
	[ -f "$WINEPREFIX/system.reg" ] || { echo "setup.sh: wineboot did not create $WINEPREFIX" >&2; exit 1; }
fi

dll="$sys32/bcryptprimitives.dll"
stamp="$WINEPREFIX/.iobench-processprng.c"
if [ ! -f "$dll" ] || ! cmp -s "$here/processprng.c" "$stamp" 2>/dev/null; then
	echo "setup.sh: building ProcessPrng shim into $dll" >&2
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	x86_64-w64-mingw32-gcc -O2 -shared -s -o "$tmp/bcryptprimitives.dll" \
		"$here/processprng.c" "$here/bcryptprimitives.def" -lbcrypt
	cp "$tmp/bcryptprimitives.dll" "$dll"
	cp "$here/processprng.c" "$stamp"
fi
