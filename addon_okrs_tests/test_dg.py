"""The `dg` CLI from the project root, as a user runs it: it loads the code location from
pyproject.toml's [tool.dg], lists what the code defines, and launches a day's run whose
published output equals the independent DuckDB computation."""

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from addon_okrs.defs.graph import built_asset_names
from addon_okrs.storage.catalog import ADDON_AGGREGATES
from addon_okrs.tools.generate import generate_day
from harness.reference import reference_addon_aggregates
from harness.servers import BIN, child_env, dg_launch_command

ROOT = Path(__file__).resolve().parents[1]
DAY = "20170611"

pytestmark = pytest.mark.process


def dg(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`args` run from the project root against a throwaway warehouse and instance."""
    (tmp_path / "dagster_home").mkdir(exist_ok=True)
    environment = child_env(
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        ADDON_OKRS_WAREHOUSE=(tmp_path / "warehouse").as_uri(),
        ADDON_OKRS_SPARK_MASTER="local[2]",
        **env,
    )
    return subprocess.run(
        args, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def test_dg_check_defs_loads_the_code_location(tmp_path: Path) -> None:
    checked = dg([str(BIN / "dg"), "check", "defs"], tmp_path)

    assert checked.returncode == 0, checked.stderr
    assert "All definitions loaded successfully." in checked.stdout


def test_dg_list_defs_shows_every_asset_check_sensor_and_schedule(tmp_path: Path) -> None:
    listed = dg([str(BIN / "dg"), "list", "defs", "--json"], tmp_path)

    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert sorted(a["asset_key"] for a in found["assets"]) == sorted(
        ["addons", "main_summary", *built_asset_names]
    )
    assert sorted(c["name"] for c in found["asset_checks"]) == [
        "channel_counts_consistent",
        "grain_is_unique",
        "keys_not_null",
        "row_count_stable",
        "values_in_range",
    ]
    assert [s["name"] for s in found["sensors"]] == ["upstream_arrival_sensor"]
    assert [s["name"] for s in found["schedules"]] == ["addon_aggregates_daily_schedule"]


def test_dg_launch_builds_a_day_equal_to_the_reference(tmp_path: Path) -> None:
    sources = tmp_path / "warehouse"
    generate_day(sources.as_uri(), DAY, clients=1500, seed=17, samples=2)

    launched = dg(dg_launch_command(DAY, select="*addon_aggregates"), tmp_path)

    assert launched.returncode == 0, launched.stderr[-3000:]
    written = pq.read_table(sources / ADDON_AGGREGATES.day_path(DAY))
    expected = reference_addon_aggregates(sources, [DAY]).drop_columns(["submission_date_s3"])
    assert [(f.name, f.type) for f in written.schema] == [(f.name, f.type) for f in expected.schema]
    assert sorted(tuple(r.values()) for r in written.to_pylist()) == sorted(
        tuple(r.values()) for r in expected.to_pylist()
    )
    assert written.num_rows == 1_378
