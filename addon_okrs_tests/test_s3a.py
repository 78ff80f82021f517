"""Spark's S3 connector without a server: the pin against PySpark's own Hadoop, the fetch's
checksum, and the session settings an S3 root gives (and what wins over them)."""

import hashlib
import json
from pathlib import Path

import pytest

from addon_okrs.defs.resources.spark import spark_resource
from addon_okrs.runtime.jars import fetch
from addon_okrs.settings import Settings
from addon_okrs.storage.locations import S3Options
from addon_okrs.storage.s3a import (
    CREDENTIAL_PROVIDERS,
    ConnectorError,
    bundled_hadoop_version,
    connector_jars,
    locked_jars,
    read_lock,
    s3a_conf,
)

S3A = "org.apache.hadoop.fs.s3a.S3AFileSystem"


def test_the_pin_is_hadoop_aws_at_the_hadoop_of_the_installed_pyspark() -> None:
    hadoop, jars = read_lock()
    assert hadoop == bundled_hadoop_version() == "3.5.0"
    assert [j.coordinate for j in jars] == [
        "org.apache.hadoop:hadoop-aws:3.5.0",
        "org.wildfly.openssl:wildfly-openssl:2.2.5.Final",
        "software.amazon.awssdk:bundle:2.35.4",
        "software.amazon.s3.analyticsaccelerator:analyticsaccelerator-s3:1.3.1",
    ]
    assert locked_jars() == jars


def test_a_pin_for_another_hadoop_is_refused_naming_both(tmp_path: Path) -> None:
    lock = tmp_path / "s3a_jars.json"
    lock.write_text(json.dumps({"hadoop": "3.4.1", "jars": []}))
    with pytest.raises(ConnectorError) as error:
        locked_jars(lock)
    assert str(error.value) == (
        "s3a_jars.json pins hadoop-aws 3.4.1, but the installed PySpark bundles Hadoop 3.5.0: "
        "run `addon-okrs fetch-jars --relock` to pin the jars for 3.5.0"
    )


def test_the_fetch_verifies_each_jar_and_removes_one_that_differs(tmp_path: Path) -> None:
    content = b"not really a jar"
    lock = tmp_path / "s3a_jars.json"
    pinned = {"group": "org.example", "artifact": "thing", "version": "1",
              "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}  # fmt: skip
    lock.write_text(json.dumps({"hadoop": bundled_hadoop_version(), "jars": [pinned]}))
    jar = tmp_path / "m2/repository/org/example/thing/1/thing-1.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(content)
    said: list[str] = []

    [verified] = fetch(tmp_path / "m2", said.append, lock)

    assert verified.coordinate == "org.example:thing:1"
    assert said == [f"  org.example:thing:1: verified ({pinned['sha256'][:12]}…)"]
    other = b"not really a jaR"  # the same size, other bytes
    jar.write_bytes(other)
    with pytest.raises(ConnectorError) as error:
        fetch(tmp_path / "m2", said.append, lock)
    assert str(error.value) == (
        f"{jar}: SHA-256 {hashlib.sha256(other).hexdigest()}, pinned {pinned['sha256']} in "
        "s3a_jars.json; the file was removed: fetch it again, or pin anew with "
        "`addon-okrs fetch-jars --relock`"
    )
    assert not jar.exists()


def test_missing_jars_are_named_with_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError) as error:
        connector_jars((), repository=tmp_path)
    missing = tmp_path / "repository/org/apache/hadoop/hadoop-aws/3.5.0/hadoop-aws-3.5.0.jar"
    assert str(error.value) == (
        f"Spark's S3 connector is not installed ({missing} is missing). An s3:// or s3a:// root "
        "needs org.apache.hadoop:hadoop-aws:3.5.0, org.wildfly.openssl:wildfly-openssl:"
        "2.2.5.Final, software.amazon.awssdk:bundle:2.35.4, software.amazon.s3."
        "analyticsaccelerator:analyticsaccelerator-s3:1.3.1. Run `addon-okrs fetch-jars` (or "
        f"`make setup`), which fetches them from Maven Central into {tmp_path}; or set "
        "ADDON_OKRS_SPARK_JARS to a comma-separated list of those jars (paths or URLs: a "
        "mirror, or a cluster image that has them)."
    )


def test_s3a_settings_come_from_the_projects_one_s3_resolution() -> None:
    assert s3a_conf(S3Options("http://127.0.0.1:8333", None)) == {
        "spark.hadoop.fs.s3.impl": S3A,
        "spark.hadoop.fs.s3n.impl": S3A,
        "spark.hadoop.fs.s3a.aws.credentials.provider": CREDENTIAL_PROVIDERS,
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:8333",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
    }
    assert s3a_conf(S3Options(None, "eu-west-1")) == {
        "spark.hadoop.fs.s3.impl": S3A,
        "spark.hadoop.fs.s3n.impl": S3A,
        "spark.hadoop.fs.s3a.aws.credentials.provider": CREDENTIAL_PROVIDERS,
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
    }


def settings(tmp_path: Path, **fields: object) -> Settings:
    base: dict[str, object] = {
        "source_root": "s3a://telemetry-parquet",
        "output_root": "s3://my-bucket/addon-okrs",
        "intermediate_root": (tmp_path / "i").as_uri(),
        "s3_endpoint_url": "https://s3.internal",
        **fields,
    }
    return Settings(**base)  # type: ignore[arg-type]


def test_an_s3_root_gives_the_session_the_jars_and_settings_and_the_users_win(
    tmp_path: Path,
) -> None:
    jars = connector_jars((), Settings.from_env().cache_folder() / "m2")
    overrides = {"spark.hadoop.fs.s3a.endpoint": "https://elsewhere", "spark.jars": "/x.jar"}

    local = spark_resource(settings(tmp_path, spark_conf=overrides)).spark_config
    cluster = spark_resource(
        settings(tmp_path, spark_master="spark://m:7077", spark_conf=overrides)
    ).spark_config

    # One local JVM: the jars on its class path; executors elsewhere: served by the driver.
    assert local["spark.driver.extraClassPath"] == ":".join(jars)
    assert local["spark.jars"] == "/x.jar"
    assert cluster["spark.jars"] == ",".join([*jars, "/x.jar"])
    assert "spark.driver.extraClassPath" not in cluster
    for conf in (local, cluster):
        assert conf["spark.hadoop.fs.s3a.endpoint"] == "https://elsewhere"
        assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"
        assert conf["spark.hadoop.fs.s3.impl"] == S3A


def test_no_s3_settings_for_local_roots_a_connect_server_or_the_clusters_own(
    tmp_path: Path,
) -> None:
    local_roots = Settings(*(tmp_path.as_uri(),) * 3)
    remote = settings(tmp_path, spark_remote="sc://h:15002", executor="multiprocess")
    emr = settings(tmp_path, spark_master="yarn", spark_s3="cluster")
    for chosen in (local_roots, remote, emr):
        conf = spark_resource(chosen).spark_config
        assert not any("s3a" in key or key == "spark.jars" for key in conf), conf


def test_pinned_jars_not_fetched_yet_are_named_and_fetched_at_the_first_session(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    resource = spark_resource(settings(tmp_path, cache_dir=str(cache)))

    repository = cache / "m2"
    expected = [str(jar.path(repository)) for jar in locked_jars()]
    assert resource.spark_config["spark.driver.extraClassPath"] == ":".join(expected)
    assert resource.fetch_jars_into == str(repository)
    assert not repository.exists()  # nothing fetched at load


def test_a_missing_connector_fails_at_the_first_session_not_at_load(tmp_path: Path) -> None:
    resource = spark_resource(settings(tmp_path, spark_jars=("/nowhere/hadoop-aws.jar",)))

    assert "spark.jars" not in resource.spark_config
    with pytest.raises(ConnectorError) as error:
        resource.get_session()
    assert str(error.value) == (
        "ADDON_OKRS_SOURCE_ROOT=s3a://telemetry-parquet, ADDON_OKRS_OUTPUT_ROOT=s3://my-bucket/"
        "addon-okrs: ADDON_OKRS_SPARK_JARS names /nowhere/hadoop-aws.jar, which is not a file"
    )


def test_without_the_maven_client_the_fetch_names_the_jars_and_the_ways_to_provide_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine with no `mvn`

    with pytest.raises(ConnectorError) as error:
        fetch(tmp_path / "m2", lambda line: None)

    assert str(error.value).startswith(
        "Spark's S3 connector is not installed (the Maven client `mvn` is not on PATH). An "
        "s3:// or s3a:// root needs org.apache.hadoop:hadoop-aws:3.5.0, "
    )
    assert str(error.value).endswith(
        "or set ADDON_OKRS_SPARK_JARS to a comma-separated list of those jars (paths or URLs: "
        "a mirror, or a cluster image that has them)."
    )
