#!/bin/sh
# exec.sh: run one Windows binary under Wine; used as `GOOS=windows go test -exec exec.sh`.
# go test calls it as: exec.sh path/to/pkg.test.exe [test flags]; Wine's exit status is the
# program's, so go test sees failures. Run setup.sh once first (test.sh does).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
exec "$IOBENCH_WINE" "$@"
