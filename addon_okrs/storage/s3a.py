"""Spark's S3 connector: Hadoop's S3A (`hadoop-aws`, at the Hadoop version bundled with PySpark,
and the AWS SDK v2 bundle it needs), the jars a Spark session is given for it, and the
`fs.s3a.*` settings derived from the project's one S3 resolution (`S3Options`).

The jars are pinned in `s3a_jars.json` (coordinates, sizes and SHA-256), fetched and verified
(`runtime/jars.py`: by `addon-okrs fetch-jars`, and by the first run that needs them) into the
`m2/` Maven repository of the settings' cache folder. A cluster image or a mirror that already
has them is named with ADDON_OKRS_SPARK_JARS instead.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from addon_okrs.storage.locations import S3Options

LOCK = Path(__file__).with_name("s3a_jars.json")

S3A_FILESYSTEM = "org.apache.hadoop.fs.s3a.S3AFileSystem"
# Keys in Spark's configuration first (fs.s3a.access.key, as Hadoop reads them), then the AWS
# SDK's default chain: environment, system properties, web identity (EKS), the profile files,
# the container and instance roles.
CREDENTIAL_PROVIDERS = ",".join(
    (
        "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider",
    )
)
# Where an endpoint is set but no region, the SDK still signs for one.
ENDPOINT_DEFAULT_REGION = "us-east-1"


class ConnectorError(RuntimeError):
    """The S3 connector's jars are missing, unverified or for another Hadoop."""


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    version: str
    sha256: str
    size: int

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    def path(self, repository: Path) -> Path:
        folder = repository / "repository" / Path(*self.group.split(".")) / self.artifact
        return folder / self.version / self.file_name


def bundled_hadoop_version() -> str:
    """The Hadoop version of the jars inside the installed PySpark (hadoop-client-api-X.jar)."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    found = sorted(
        m.group(1)
        for p in jars.glob("hadoop-client-api-*.jar")
        if (m := re.fullmatch(r"hadoop-client-api-(.+)\.jar", p.name))
    )
    if len(found) != 1:
        raise ConnectorError(f"{jars}: expected one hadoop-client-api-<version>.jar, found {found}")
    return found[0]


def read_lock(lock: Path = LOCK) -> tuple[str, list[Jar]]:
    """The Hadoop version the lock was made for, and its jars."""
    loaded = json.loads(lock.read_text())
    return loaded["hadoop"], [Jar(**j) for j in loaded["jars"]]


def locked_jars(lock: Path = LOCK) -> list[Jar]:
    """The pinned jars, refused when they were pinned for another Hadoop than PySpark's."""
    hadoop, jars = read_lock(lock)
    bundled = bundled_hadoop_version()
    if hadoop != bundled:
        raise ConnectorError(
            f"{lock.name} pins hadoop-aws {hadoop}, but the installed PySpark bundles Hadoop "
            f"{bundled}: run `addon-okrs fetch-jars --relock` to pin the jars for {bundled}"
        )
    return jars


def missing_connector_message(jars: list[Jar], why: str, repository: Path) -> str:
    names = ", ".join(j.coordinate for j in jars)
    return (
        f"Spark's S3 connector is not installed ({why}). An s3:// or s3a:// root needs {names}. "
        "Run `addon-okrs fetch-jars` (or `make setup`), which fetches them from Maven Central "
        f"into {repository}; or set ADDON_OKRS_SPARK_JARS to a comma-separated list of "
        "those jars (paths or URLs: a mirror, or a cluster image that has them)."
    )


def connector_jars(explicit: tuple[str, ...], repository: Path) -> list[str]:
    """The jars a session reaching S3 is given: `explicit` (ADDON_OKRS_SPARK_JARS) as named,
    a local path of which must exist; else the pinned jars in the project's repository, each
    of its pinned size (the set-up checked its SHA-256)."""
    if explicit:
        for named in explicit:
            local = named.removeprefix("file://")
            if "://" not in local and not Path(local).is_file():
                raise ConnectorError(f"ADDON_OKRS_SPARK_JARS names {named}, which is not a file")
        return list(explicit)
    jars = locked_jars()
    for jar in jars:
        path = jar.path(repository)
        if not path.is_file():
            raise ConnectorError(missing_connector_message(jars, f"{path} is missing", repository))
        if path.stat().st_size != jar.size:
            raise ConnectorError(
                missing_connector_message(
                    jars, f"{path} is {path.stat().st_size} bytes, pinned at {jar.size}", repository
                )
            )
    return [str(j.path(repository)) for j in jars]


def s3a_conf(s3: S3Options) -> dict[str, str]:
    """The Spark settings that give S3A the project's S3 resolution: `s3://` read through S3A
    (outside EMR), the endpoint with path-style addressing when one is set, the region, and
    the standard AWS credential chain."""
    conf = {
        "spark.hadoop.fs.s3.impl": S3A_FILESYSTEM,
        "spark.hadoop.fs.s3n.impl": S3A_FILESYSTEM,
        "spark.hadoop.fs.s3a.aws.credentials.provider": CREDENTIAL_PROVIDERS,
    }
    if s3.endpoint_url:
        conf["spark.hadoop.fs.s3a.endpoint"] = s3.endpoint_url
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            s3.endpoint_url.startswith("https://")
        ).lower()
    region = s3.region or (ENDPOINT_DEFAULT_REGION if s3.endpoint_url else None)
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf
