"""The Java runtime local Spark launches: found from JAVA_HOME or PATH, and its version asked
once per process (the class archive is keyed by it)."""

import functools
import os
import shutil
import subprocess


class JavaNotFoundError(RuntimeError):
    pass


def find_java(java_home: str | None) -> str:
    """The java binary Spark will launch (JAVA_HOME's, else `java` on PATH), or a
    JavaNotFoundError saying what to install."""
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
        raise JavaNotFoundError(
            f"JAVA_HOME={java_home} has no bin/java. Point JAVA_HOME at a Java 17, 21 or 25 "
            "runtime, or unset it to use `java` from PATH."
        )
    on_path = shutil.which("java")
    if on_path:
        return on_path
    raise JavaNotFoundError(
        "Spark needs Java 17, 21 or 25 and none was found (no JAVA_HOME, no `java` on PATH). "
        "Install one, e.g. `apt-get install -y openjdk-17-jre-headless` on Debian/Ubuntu, "
        "or run `make setup`, which does that when it can."
    )


@functools.cache
def java_version(java: str) -> str | None:
    """What `java -version` says of the `java` binary, or None when it does not run; asked
    once per process and binary (a definitions load, a run and a reload all reuse it)."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stderr.strip()
