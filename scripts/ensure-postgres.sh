#!/bin/sh
# The production instance's tests start a throwaway PostgreSQL server on 127.0.0.1
# (harness/postgres.py). Use Debian's server programs when present; otherwise install the
# `postgresql` package where we can (as root with apt-get), otherwise say what to install.
set -u

found=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1)
if [ -z "$found" ]; then
    found=$(command -v postgres 2>/dev/null || true)
fi
if [ -n "$found" ] && [ -x "$found" ]; then
    echo "postgresql: $found"
    exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "postgresql: none found; installing Debian's postgresql with apt-get"
    apt-get update -qq >/dev/null
    # The package's own cluster is not needed: the tests make their own.
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; then
        echo "postgresql: installed $(ls -d /usr/lib/postgresql/*/bin/postgres | tail -n 1)"
        exit 0
    fi
fi

cat >&2 <<'MSG'
postgresql: the production instance's tests need a PostgreSQL server and none was found, and
it could not be installed here.
  Debian/Ubuntu:   sudo apt-get install -y postgresql
To run the other tests only: make test PYTEST_ARGS="-m 'not postgres'"
MSG
exit 1
