"""The fetch of Spark's S3 connector: the jars pinned in `storage/s3a_jars.json`, each fetched
with the ordinary Maven client from Maven Central into a Maven repository of the project's own
(`m2/` in the settings' cache folder) and checked against its pinned size and SHA-256; by
`addon-okrs fetch-jars`, and by the first run whose roots are on S3.

With `relock`, the pin is made anew: Maven resolves `hadoop-aws` at the Hadoop version of the
installed PySpark with its runtime dependencies (the AWS SDK bundle among them), and the lock
records what it got.

Why Maven and not Spark's own `spark.jars.packages`: that resolves (Ivy) at every session's
start, against the network, and checks no pin; Maven here runs once, at set-up, and the jars
are verified before any run uses them.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from addon_okrs.storage.s3a import (
    LOCK,
    ConnectorError,
    Jar,
    bundled_hadoop_version,
    locked_jars,
    missing_connector_message,
)

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>addon_okrs</groupId><artifactId>s3a-connector</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.hadoop</groupId><artifactId>hadoop-aws</artifactId>
      <version>{hadoop}</version>
    </dependency>
  </dependencies>
</project>
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def maven(args: list[str], repository: Path, jars: list[Jar]) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConnectorError(
            missing_connector_message(jars, "the Maven client `mvn` is not on PATH", repository)
        )
    command = [mvn, "-B", "-q", f"-Dmaven.repo.local={repository / 'repository'}", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise ConnectorError(
            missing_connector_message(
                jars, f"`mvn {' '.join(args[:2])}` failed:\n{tail}", repository
            )
        )


def fetch(repository: Path, say: Callable[[str], None] = print, lock: Path = LOCK) -> list[Jar]:
    """Every pinned jar present in `repository` and equal to its pin (fetched when missing)."""
    jars = locked_jars(lock)
    for jar in jars:
        path = jar.path(repository)
        if not path.is_file() or path.stat().st_size != jar.size:
            say(f"fetching {jar.coordinate} ({jar.size / 1e6:,.1f} MB) from Maven Central")
            maven(
                ["dependency:get", f"-Dartifact={jar.coordinate}", "-Dtransitive=false"],
                repository,
                jars,
            )
        found = sha256(path)
        if found != jar.sha256:
            path.unlink()
            raise ConnectorError(
                f"{path}: SHA-256 {found}, pinned {jar.sha256} in {lock.name}; the file was "
                "removed: fetch it again, or pin anew with `addon-okrs fetch-jars --relock`"
            )
        say(f"  {jar.coordinate}: verified ({jar.sha256[:12]}…)")
    return jars


def relock(repository: Path, lock: Path = LOCK) -> list[Jar]:
    """Pin hadoop-aws at PySpark's Hadoop and its runtime dependencies, as Maven resolves them."""
    hadoop = bundled_hadoop_version()
    with tempfile.TemporaryDirectory() as scratch:
        pom, classpath = Path(scratch) / "pom.xml", Path(scratch) / "classpath.txt"
        pom.write_text(POM.format(hadoop=hadoop))
        maven(
            [
                "dependency:build-classpath",
                "-f",
                str(pom),
                "-DincludeScope=runtime",
                f"-Dmdep.outputFile={classpath}",
            ],
            repository,
            [],
        )
        paths = [Path(p) for p in classpath.read_text().strip().split(":") if p]
    jars = []
    for path in sorted(paths):
        relative = path.relative_to(repository / "repository")
        *group, artifact, version, _ = relative.parts
        jars.append(Jar(".".join(group), artifact, version, sha256(path), path.stat().st_size))
    lock.write_text(
        json.dumps({"hadoop": hadoop, "jars": [vars(j) for j in jars]}, indent=2) + "\n"
    )
    return jars


def fetch_connector(repository: Path) -> list[Jar]:
    """The pinned jars, fetched into `repository` first when missing (690 MB, once per cache
    folder), saying so on stderr as it goes: what the first session reaching S3 does."""
    jars = locked_jars()
    if all(
        j.path(repository).is_file() and j.path(repository).stat().st_size == j.size for j in jars
    ):
        return jars
    total = sum(j.size for j in jars) / 1e6

    def say(line: str) -> None:
        sys.stderr.write(f"s3 connector: {line}\n")
        sys.stderr.flush()

    say(f"an S3 root needs Spark's S3 connector ({total:,.0f} MB): fetching it into {repository}")
    return fetch(repository, say=say)
