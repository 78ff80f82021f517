"""The settings object: defaults that work locally, one resolution order per value, errors
that name the variable, and the README's table rendered from the same declarations."""

import re
from pathlib import Path

import pytest

from addon_okrs.settings import SETTINGS, Settings, SettingsError, default_text, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_an_empty_environment_builds_everything_under_the_local_warehouse(tmp_path: Path) -> None:
    settings = Settings.from_env({}, cwd=tmp_path)

    warehouse = f"file://{tmp_path}/warehouse"
    assert settings == Settings(
        source_root=warehouse,
        output_root=warehouse,
        intermediate_root=f"{warehouse}/intermediate",
        spark_master="local[*]",
        spark_remote=None,
        spark_conf={},
        executor="in_process",
        min_success_markers=1,
        allow_unready_sources=False,
        target_file_mb=280,
        backfill_days_per_run=7,
        lookback_days=7,
        sensor_interval_seconds=60,
        s3_endpoint_url=None,
        s3_region=None,
        java_home=None,
        dagster_home=None,
        cache_dir=str(Path.home() / ".cache" / "addon_okrs"),
    )


def test_the_cache_folder_is_the_checkouts_when_run_from_one_else_the_users(
    tmp_path: Path,
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "docs").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text('[project]\nname = "addon_okrs"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = {"HOME": str(tmp_path / "home")}

    def cache(environ: dict[str, str], cwd: Path) -> str | None:
        return Settings.from_env(environ, cwd=cwd).cache_dir

    assert cache(home, checkout / "docs") == str(checkout / ".cache")
    assert cache(home, elsewhere) == str(tmp_path / "home" / ".cache" / "addon_okrs")
    xdg = {**home, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert cache(xdg, elsewhere) == str(tmp_path / "xdg" / "addon_okrs")
    chosen = {**xdg, "ADDON_OKRS_CACHE_DIR": str(tmp_path / "mine")}
    assert cache(chosen, checkout) == str(tmp_path / "mine")
    # Built directly (tests, tools), the settings find it for the process they run in.
    assert Settings(*(elsewhere.as_uri(),) * 3).cache_folder() == (
        Path(Settings.from_env().cache_dir or "")
    )


def test_every_variable_reaches_its_field(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ADDON_OKRS_WAREHOUSE": "file:///data/wh/",
            "ADDON_OKRS_SOURCE_ROOT": "s3a://telemetry-parquet",
            "ADDON_OKRS_OUTPUT_ROOT": str(tmp_path / "out"),
            "ADDON_OKRS_SPARK_REMOTE": "sc://spark:15002",
            "ADDON_OKRS_SPARK_CONF": "spark.a=1",
            "ADDON_OKRS_MIN_SUCCESS_MARKERS": "100",
            "ADDON_OKRS_ALLOW_UNREADY_SOURCES": "TRUE",
            "ADDON_OKRS_TARGET_FILE_MB": "64.5",
            "ADDON_OKRS_LOOKBACK_DAYS": "3",
            "ADDON_OKRS_BACKFILL_DAYS_PER_RUN": "0",
            "ADDON_OKRS_SENSOR_INTERVAL_SECONDS": "5",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "DAGSTER_HOME": "/srv/dagster",
        }
    )

    assert settings.source_root == "s3a://telemetry-parquet"
    # A bare path is a local folder; intermediates follow the output root.
    assert settings.output_root == f"file://{tmp_path}/out"
    assert settings.intermediate_root == f"file://{tmp_path}/out/intermediate"
    assert (settings.spark_remote, settings.executor) == ("sc://spark:15002", "multiprocess")
    assert settings.spark_conf == {"spark.a": "1"}
    assert (settings.min_success_markers, settings.allow_unready_sources) == (100, True)
    assert (settings.target_file_mb, settings.lookback_days) == (64.5, 3)
    assert (settings.sensor_interval_seconds, settings.backfill_days_per_run) == (5, 0)
    assert (settings.s3_region, settings.dagster_home) == ("eu-west-1", "/srv/dagster")


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [
        ({}, None),
        ({"AWS_ENDPOINT_URL": "http://c"}, "http://c"),
        ({"AWS_ENDPOINT_URL": "http://c", "AWS_ENDPOINT_URL_S3": "http://b"}, "http://b"),
        (
            {
                "AWS_ENDPOINT_URL": "http://c",
                "AWS_ENDPOINT_URL_S3": "http://b",
                "ADDON_OKRS_S3_ENDPOINT_URL": "http://a",
            },
            "http://a",
        ),
    ],
)
def test_the_s3_endpoint_has_one_resolution_order(
    tmp_path: Path, environ: dict[str, str], endpoint: str | None
) -> None:
    assert Settings.from_env(environ, cwd=tmp_path).s3_endpoint_url == endpoint


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"ADDON_OKRS_LOOKBACK_DAYS": "a week"},
            "ADDON_OKRS_LOOKBACK_DAYS='a week' is not a whole number",
        ),
        (
            {"ADDON_OKRS_MIN_SUCCESS_MARKERS": "-1"},
            "ADDON_OKRS_MIN_SUCCESS_MARKERS=-1 must not be negative",
        ),
        ({"ADDON_OKRS_TARGET_FILE_MB": "big"}, "ADDON_OKRS_TARGET_FILE_MB='big' is not a number"),
        (
            {"ADDON_OKRS_ALLOW_UNREADY_SOURCES": "maybe"},
            "ADDON_OKRS_ALLOW_UNREADY_SOURCES='maybe' is not a yes/no value: write one of "
            "true, yes, 1, false, no, 0",
        ),
        (
            {"ADDON_OKRS_OKR_BASELINE": "20170501...2017052"},
            "ADDON_OKRS_OKR_BASELINE='20170501...2017052': write the first and last day as "
            "YYYYMMDD...YYYYMMDD, e.g. 20170501...20170528",
        ),
        (
            {"ADDON_OKRS_EXECUTOR": "threads"},
            "ADDON_OKRS_EXECUTOR='threads': choose one of in_process, multiprocess",
        ),
        (
            {"ADDON_OKRS_EXECUTOR": "multiprocess"},
            "ADDON_OKRS_EXECUTOR=multiprocess with Spark in local mode (local[*]) would start one "
            "Spark per step, each unable to see the others' session. Use it with "
            "ADDON_OKRS_SPARK_REMOTE (Spark Connect) or a cluster ADDON_OKRS_SPARK_MASTER.",
        ),
    ],
)
def test_a_value_the_project_cannot_use_is_refused_naming_the_variable(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(environ, cwd=tmp_path)

    assert str(error.value) == message


def test_the_readme_configuration_table_is_the_rendering_of_the_settings() -> None:
    text = README.read_text()
    found = re.search(r"<!-- settings -->\n(.*?)\n<!-- /settings -->", text, re.DOTALL)

    assert found is not None, "README.md has no <!-- settings --> block"
    assert found.group(1) == markdown_table()
    assert len(markdown_table().splitlines()) == len(SETTINGS) + 2


@pytest.mark.parametrize(("text", "value"), [("no", False), ("0", False), ("Yes", True)])
def test_a_yes_no_setting_takes_either_spelling(tmp_path: Path, text: str, value: bool) -> None:
    environ = {"ADDON_OKRS_ALLOW_UNREADY_SOURCES": text}
    assert Settings.from_env(environ, cwd=tmp_path).allow_unready_sources is value


def test_each_default_is_written_once_as_the_field_default_and_shown_from_there() -> None:
    shown = {s.env: default_text(s) for s in SETTINGS if s.field is not None}
    assert shown == {
        "ADDON_OKRS_SPARK_MASTER": "`local[*]`",
        "ADDON_OKRS_MIN_SUCCESS_MARKERS": "`1`",
        "ADDON_OKRS_ALLOW_UNREADY_SOURCES": "`false`",
        "ADDON_OKRS_TARGET_FILE_MB": "`280`",
        "ADDON_OKRS_BACKFILL_DAYS_PER_RUN": "`7`",
        "ADDON_OKRS_LEASE_SECONDS": "`300`",
        "ADDON_OKRS_LOOKBACK_DAYS": "`7`",
        "ADDON_OKRS_SENSOR_INTERVAL_SECONDS": "`60`",
        "ADDON_OKRS_SPARK_S3": "`project`",
        "ADDON_OKRS_SPARK_CLASS_ARCHIVE": "`true`",
    }
