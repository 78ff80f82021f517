#!/bin/sh
# The UI tests drive the system Chromium through Playwright (no browser download). Use
# ADDON_OKRS_CHROMIUM, or chromium / chromium-browser on PATH; when there is none, install
# Debian's `chromium` where we can (as root with apt-get), otherwise say what to install.
set -u

for candidate in "${ADDON_OKRS_CHROMIUM:-}" "$(command -v chromium 2>/dev/null)" \
    "$(command -v chromium-browser 2>/dev/null)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
        echo "chromium: $candidate"
        exit 0
    fi
done

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "chromium: none found; installing Debian's chromium with apt-get"
    apt-get update -qq >/dev/null
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
        echo "chromium: installed $(command -v chromium)"
        exit 0
    fi
fi

cat >&2 <<'MSG'
chromium: the UI tests need a Chromium and none was found, and it could not be installed here.
  Debian:   sudo apt-get install -y chromium
  Ubuntu:   sudo snap install chromium   (or any Chromium/Chrome build)
then, if it is not on PATH as chromium, set ADDON_OKRS_CHROMIUM=/path/to/chromium.
To run the other tests only: make test PYTEST_ARGS="-m 'not ui'"
MSG
exit 1
