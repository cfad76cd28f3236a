#!/bin/sh
# report-screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]
# Opens an iobench HTML report in headless Chromium and saves a screenshot, to check that the
# report actually renders (plots and tables) in a browser. Needs chromium (or chromium-browser
# / google-chrome); exits 2 on bad usage, 3 when no browser is installed.
set -eu
if [ $# -lt 2 ]; then
	echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
	exit 2
fi
html=$1
out=$2
size=${3:-1400x3000}
if [ ! -f "$html" ]; then
	echo "$0: $html: no such file" >&2
	exit 2
fi
browser=
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then
		browser=$b
		break
	fi
done
if [ -z "$browser" ]; then
	echo "$0: chromium not installed" >&2
	exit 3
fi
if [ -e "$out" ] && [ ! -f "$out" ]; then
	echo "$0: $out exists and is not a regular file: refusing to replace it" >&2
	exit 2
fi
abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$out"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$profile" --hide-scrollbars \
	--screenshot="$out" --window-size="$(echo "$size" | tr x ,)" "file://$abs" >/dev/null 2>&1 || true
if [ ! -s "$out" ]; then
	echo "$0: $browser wrote no screenshot" >&2
	exit 1
fi
echo "$out"
