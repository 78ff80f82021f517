#!/bin/sh
# Spark's S3 connector (hadoop-aws at PySpark's Hadoop, the AWS SDK bundle): fetched with Maven
# into .cache/m2 and verified against addon_okrs/storage/s3a_jars.json. Installs Maven when it
# is missing and it can (Debian/Ubuntu as root). Local roots do not need the connector, so a
# failure here is reported and the set-up goes on; an s3:// root then fails with the same advice.
set -u
venv="$1"
stamp=".cache/m2/.verified"

if [ -f "$stamp" ] && [ "$stamp" -nt addon_okrs/storage/s3a_jars.json ]; then
    exit 0
fi
if ! command -v mvn >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "spark-jars: no Maven client; installing maven with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
fi
if "$venv/bin/addon-okrs" fetch-jars; then
    touch "$stamp"
else
    echo "spark-jars: not installed; local roots work without them (see the message above)" >&2
fi
