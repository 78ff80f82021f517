#!/bin/sh
# The package as a user installs it: a wheel built from this checkout (uv build), installed into
# a fresh virtual environment outside it, runs `addon-okrs demo` and `addon-okrs class-archive`
# from an empty folder, with a HOME of its own. It fails when anything is written inside
# site-packages or left in the folder but the demo's warehouse.
#   sh scripts/check-wheel.sh [WORK]      (WORK defaults to a new temporary folder)
set -eu
uv=".cache/bootstrap/bin/uv"
work="${1:-$(mktemp -d)}"
mkdir -p "$work/dist" "$work/empty" "$work/home"
"$uv" build --wheel --out-dir "$work/dist" >/dev/null
"$uv" venv --quiet --python "${PYTHON:-python3}" "$work/venv"
VIRTUAL_ENV="$work/venv" "$uv" pip install --quiet "$work"/dist/*.whl
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
touch "$work/installed"
cd "$work/empty"
export HOME="$work/home" XDG_CACHE_HOME=""
start=$(date +%s)
"$work/venv/bin/addon-okrs" demo
"$work/venv/bin/addon-okrs" class-archive
echo "check-wheel: demo and class-archive in $(( $(date +%s) - start )) s"
written=$(find "$site" -newer "$work/installed" -not -name '*.pyc' -not -type d | head -20)
if [ -n "$written" ]; then
    echo "check-wheel: written inside site-packages:" >&2; echo "$written" >&2; exit 1
fi
left=$(ls -A "$work/empty")
if [ "$left" != "warehouse" ]; then
    echo "check-wheel: left in the working folder: $left" >&2; exit 1
fi
echo "check-wheel: nothing written in $site; the folder holds only: $left"
echo "check-wheel: caches in $(ls -d "$HOME"/.cache/addon_okrs/*)"
