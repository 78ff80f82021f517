"""The Spark resource's set-up errors, written for the person who has to fix them, and the
Spark settings reaching it."""

import pytest

from addon_okrs.defs.resources.spark import (
    JavaNotFoundError,
    SparkResource,
    find_java,
    session_conf,
    spark_resource,
)
from addon_okrs.settings import Settings, SettingsError, parse_spark_conf


def test_no_java_anywhere_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")

    with pytest.raises(
        JavaNotFoundError,
        match=r"Spark needs Java 17, 21 or 25 and none was found "
        r".*apt-get install -y openjdk-17-jre-headless",
    ):
        SparkResource(spark_config=session_conf("local[1]", None, {})).get_session()


def test_java_home_without_java_names_the_folder() -> None:
    with pytest.raises(JavaNotFoundError, match=r"^JAVA_HOME=/opt/no-such-jdk has no bin/java"):
        find_java("/opt/no-such-jdk")


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
    with pytest.raises(SettingsError, match=r"ADDON_OKRS_SPARK_CONF: 'spark.a' is not key=value"):
        parse_spark_conf("spark.a")
    with pytest.raises(SettingsError, match="ADDON_OKRS_SPARK_CONF is not valid JSON"):
        parse_spark_conf("{spark.a: 1}")


def test_spark_settings_reach_the_resource() -> None:
    settings = Settings.from_env(
        {
            "ADDON_OKRS_SPARK_CONF": "spark.sql.shuffle.partitions=400",
            "ADDON_OKRS_SPARK_MASTER": "spark://m:7077",
            "JAVA_HOME": "/opt/jdk",
        }
    )

    resource = spark_resource(settings)

    # A cluster master gets the plan's defaults and the setting's override, not local mode's.
    assert resource.spark_config == {
        "spark.app.name": "addon_okrs",
        "spark.master": "spark://m:7077",
        "spark.sql.requireAllClusterKeysForCoPartition": "false",
        "spark.sql.shuffle.partitions": "400",
    }
    assert (resource.is_local, resource.java_home) == (False, "/opt/jdk")


def test_a_connect_remote_wins_over_the_master_and_overrides_win_over_defaults() -> None:
    assert session_conf("local[2]", "sc://h:15002", {"spark.a": "1"}) == {
        "spark.remote": "sc://h:15002",
        "spark.sql.requireAllClusterKeysForCoPartition": "false",
        "spark.a": "1",
    }
    local = session_conf("local[2]", None, {"spark.driver.memory": "6g"})
    assert (local["spark.master"], local["spark.driver.memory"]) == ("local[2]", "6g")
    assert local["spark.sql.shuffle.partitions"] == "8"
