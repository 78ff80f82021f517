"""The Spark resource's set-up errors, written for the person who has to fix them."""

import pytest

from addon_okrs.resources.spark import (
    JavaNotFoundError,
    SparkConfError,
    SparkResource,
    find_java,
    parse_spark_conf,
    spark_resource_from_env,
)


def test_no_java_anywhere_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")

    with pytest.raises(
        JavaNotFoundError,
        match=r"Spark needs Java 17, 21 or 25 and none was found "
        r".*apt-get install -y openjdk-17-jre-headless",
    ):
        SparkResource(master="local[1]").get_session()


def test_java_home_without_java_names_the_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("JAVA_HOME", "/opt/no-such-jdk")

    with pytest.raises(JavaNotFoundError, match=r"^JAVA_HOME=/opt/no-such-jdk has no bin/java"):
        find_java()


def test_spark_conf_setting_takes_pairs_lines_or_json() -> None:
    assert parse_spark_conf("spark.a=1, spark.b = x=y") == {"spark.a": "1", "spark.b": "x=y"}
    assert parse_spark_conf("# cluster\nspark.a=1\n\nspark.b=2\n") == {
        "spark.a": "1",
        "spark.b": "2",
    }
    assert parse_spark_conf('{"spark.a": 1, "spark.b": true}') == {
        "spark.a": "1",
        "spark.b": "True",
    }
    assert parse_spark_conf("  ") == {}
    # On several lines, a value keeps its commas.
    assert parse_spark_conf("spark.jars.packages=a:b:1,c:d:2\nspark.x=1") == {
        "spark.jars.packages": "a:b:1,c:d:2",
        "spark.x": "1",
    }


def test_spark_conf_setting_says_what_is_wrong() -> None:
    with pytest.raises(SparkConfError, match=r"ADDON_OKRS_SPARK_CONF: 'spark.a' is not key=value"):
        parse_spark_conf("spark.a")
    with pytest.raises(SparkConfError, match="ADDON_OKRS_SPARK_CONF is not valid JSON"):
        parse_spark_conf("{spark.a: 1}")


def test_spark_conf_setting_reaches_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADDON_OKRS_SPARK_CONF", "spark.sql.shuffle.partitions=400")
    assert spark_resource_from_env().spark_config == {"spark.sql.shuffle.partitions": "400"}
