# env.sh: the Wine environment shared by setup.sh, exec.sh and test.sh (sourced, not run).
#
# IOBENCH_WINEPREFIX overrides where the prefix lives; the default keeps it out of the repo
# and out of the user's ~/.wine.
: "${IOBENCH_WINEPREFIX:=${XDG_CACHE_HOME:-$HOME/.cache}/iobench-wine}"
export WINEPREFIX="$IOBENCH_WINEPREFIX"
export WINEARCH=win64
# No debug channels: Wine's fixme/err chatter would bury test output.
export WINEDEBUG=-all
# bcryptprimitives: our native shim (Wine 8.0 has no builtin; later Wine versions have one,
# and n,b still picks the shim, which is equivalent). mscoree/mshtml: never offer to install
# Mono/Gecko during wineboot.
export WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree=;mshtml="
# Headless: no X server, no GUI dialogs.
unset DISPLAY WAYLAND_DISPLAY
# The 64-bit loader directly: /usr/bin/wine prefers wine32, which this setup never needs.
if [ -z "${IOBENCH_WINE:-}" ]; then
	if command -v wine64 >/dev/null 2>&1; then
		IOBENCH_WINE=wine64
	elif [ -x /usr/lib/wine/wine64 ]; then
		IOBENCH_WINE=/usr/lib/wine/wine64
	else
		IOBENCH_WINE=wine
	fi
fi
export IOBENCH_WINE
