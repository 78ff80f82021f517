"""The Dagster UI path, end to end: `dagster dev` (webserver and daemon) on loopback, driven
through the webserver's GraphQL API the way the UI's buttons drive it, and looked at in a real
headless Chromium."""

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from addon_okrs.dataset.days import day_range, days_since_epoch
from addon_okrs.dataset.schema import DAY
from addon_okrs.defs.graph import built_asset_names
from addon_okrs.storage.catalog import ADDON_AGGREGATES
from addon_okrs.tools.generate import generate_days
from addon_okrs_tests.helpers import check_results_by_day, day_rows
from harness.dagster_dev import (
    LOCATION,
    DagsterDev,
    launch_backfill,
    materialize_day_as_the_ui_does,
    wait_for_backfill,
    wait_for_run,
)
from harness.reference import reference_addon_aggregates
from harness.ui_tour import (
    asset_checks,
    asset_graph,
    asset_page,
    browser_page,
    markdown_image,
    metadata_plots,
)

BUILT = built_asset_names

pytestmark = [pytest.mark.dagster, pytest.mark.ui]

ONE_DAY = "20170605"
BACKFILL_DAYS = ["20170602", "20170603", "20170604"]
OUTPUT = ADDON_AGGREGATES.path
CHECKS = [
    "channel_counts_consistent",
    "grain_is_unique",
    "keys_not_null",
    "row_count_stable",
    "values_in_range",
]


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    # Backfills in runs of two days: the three-day backfill below is a whole chunk and a rest.
    server = DagsterDev(
        tmp_path_factory.mktemp("ui"), env={"ADDON_OKRS_BACKFILL_DAYS_PER_RUN": "2"}
    )
    # 2017 days: far outside the arrival sensor's look-back, so only these tests start runs.
    generate_days(server.sources.as_uri(), BACKFILL_DAYS[0], 4, clients=1500, seed=8, samples=2)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def backfill(ui: DagsterDev) -> tuple[str, str]:
    """BACKFILL_DAYS of every built asset, launched as the backfill dialog does: its id and
    its status once done."""
    backfill_id = launch_backfill(ui, BUILT, BACKFILL_DAYS)
    return backfill_id, wait_for_backfill(ui, backfill_id, timeout=900)


@pytest.fixture(scope="module")
def materialized_day(ui: DagsterDev, backfill: tuple[str, str]) -> str:
    """ONE_DAY of every built asset and its checks, launched as the Materialize button does,
    after the backfill (whose last day is then the day before it that has data)."""
    run_id = materialize_day_as_the_ui_does(ui, BUILT, ONE_DAY)
    assert wait_for_run(ui, run_id, timeout=300) == "SUCCESS"
    return run_id


def reference_day(sources: Path, day: str) -> pa.Table:
    table = reference_addon_aggregates(sources, [day])
    return table.drop_columns([DAY])


def reference_rows(sources: Path, day: str) -> list[tuple[object, ...]]:
    """The contract's rows of one day built alone (the DuckDB reference), sorted as day_rows
    sorts a written day's."""
    rows = reference_day(sources, day).to_pylist()
    return sorted((tuple(r.values()) for r in rows), key=repr)


def test_the_code_location_loads_without_errors(ui: DagsterDev) -> None:
    query = """{ workspaceOrError { ... on Workspace { locationEntries {
        name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""

    entries = ui.graphql(query)["workspaceOrError"]["locationEntries"]

    assert entries == [
        {
            "name": LOCATION,
            "loadStatus": "LOADED",
            "locationOrLoadError": {"__typename": "RepositoryLocation"},
        }
    ]


def test_every_asset_is_listed_with_its_daily_partitions(ui: DagsterDev) -> None:
    query = """{ assetNodes { assetKey { path } groupName isMaterializable
        partitionDefinition { type description } } }"""

    nodes = ui.graphql(query)["assetNodes"]

    daily = {"type": "TIME_WINDOW", "description": "Daily, starting 20170101 UTC."}
    assert sorted(nodes, key=lambda n: n["assetKey"]["path"]) == sorted(
        [
            *(
                {
                    "assetKey": {"path": [name]},
                    "groupName": "telemetry",
                    "isMaterializable": False,
                    "partitionDefinition": daily,
                }
                for name in ("addons", "main_summary")
            ),
            *(
                {
                    "assetKey": {"path": [name]},
                    "groupName": "addon_okrs",
                    "isMaterializable": True,
                    "partitionDefinition": daily,
                }
                for name in BUILT
            ),
        ],
        key=lambda n: n["assetKey"]["path"],
    )


def run_days(run: dict[str, Any]) -> list[str]:
    """The days a run built: its partition, or its range."""
    tags = {t["key"]: t["value"] for t in run["tags"]}
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    first, last = (
        tags["dagster/asset_partition_range_start"],
        tags["dagster/asset_partition_range_end"],
    )
    return day_range(first, days_between(first, last) + 1)


def days_between(first: str, last: str) -> int:
    return days_since_epoch(last) - days_since_epoch(first)


def split_backfill(runs: list[dict[str, Any]]) -> tuple[list[list[str]], list[str]]:
    """A finished backfill's runs: the days of each run of the Spark assets (every built asset
    but the report, together), and every day of the report's runs, in order."""
    spark_assets = sorted(a for a in BUILT if a != "addon_okr_report")
    chunks, reports = [], []
    for run in sorted(runs, key=lambda r: run_days(r)[0]):
        assert run["status"] == "SUCCESS"
        selection = sorted(a["path"][-1] for a in run["assetSelection"])
        if selection == ["addon_okr_report"]:
            reports += run_days(run)
        else:
            assert selection == spark_assets
            chunks.append(run_days(run))
    return chunks, reports


def test_a_backfill_launched_as_the_dialog_does_runs_in_chunks_with_single_day_results(
    ui: DagsterDev, backfill: tuple[str, str], tmp_path: Path
) -> None:
    backfill_id, status = backfill

    assert status == "COMPLETED_SUCCESS"
    chunks, reports = split_backfill(ui.runs({"dagster/backfill": backfill_id}))
    # The Spark assets in runs of the configured two days; then the reports of those days
    # and of the 89 days after the last, whose 90-day windows hold them (their own run: no
    # Spark), each day once.
    assert chunks == [BACKFILL_DAYS[0:2], BACKFILL_DAYS[2:3]]
    assert reports == day_range(BACKFILL_DAYS[0], len(BACKFILL_DAYS) + 89)
    # Each day of either run equals the contract's rows of that day built alone.
    for day in BACKFILL_DAYS:
        rows = day_rows(ui.output / OUTPUT, day)
        assert len(rows) > 1000
        assert rows == reference_rows(ui.sources, day)
    # Each day of the backfill has its own passing result for every check, and the browser
    # shows them: the latest day's checks on the graph, each check passed on the Checks tab.
    with dg.DagsterInstance.from_config(str(ui.base / "home")) as instance:
        results = check_results_by_day(instance)
        assert {day: results.get(day) for day in BACKFILL_DAYS} == {
            day: {check: [True] for check in CHECKS} for day in BACKFILL_DAYS
        }
    with browser_page() as page:
        # The nodes' check summaries load after the nodes ("Loading..." until then).
        graph = asset_graph(page, ui.url, tmp_path / "graph-after-backfill.png", "5 / 5 Passed")
        checks = asset_checks(page, ui.url, "addon_aggregates", tmp_path / "checks.png")
    assert "5 / 5 Passed" in graph.text.split("\n")
    lines = checks.text.split("\n")
    # Each check listed with its latest status, and the selected one's result for its day.
    for check in CHECKS:
        assert check in lines
    assert lines.count("Succeeded") == len(CHECKS), checks.text
    assert "Passed" in lines and BACKFILL_DAYS[-1] in lines


def test_a_day_materialized_as_the_ui_does_writes_the_reference_rows(
    ui: DagsterDev, materialized_day: str
) -> None:
    written = pq.read_table(ui.output / OUTPUT / f"{DAY}={ONE_DAY}")
    expected = reference_day(ui.sources, ONE_DAY)

    assert written.num_rows > 1000
    assert Counter(tuple(r.values()) for r in written.to_pylist()) == Counter(
        tuple(r.values()) for r in expected.to_pylist()
    )


def metadata_values(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """label -> value, whichever typed field the entry has."""
    values = {}
    for entry in entries:
        value = {k: v for k, v in entry.items() if k != "label"}
        [(kind, raw)] = value.items()
        values[entry["label"]] = json.loads(raw) if kind == "jsonString" else raw
    return values


ENTRY_VALUES = """label ... on IntMetadataEntry { intValue } ... on PathMetadataEntry { path }
    ... on JsonMetadataEntry { jsonString } ... on FloatMetadataEntry { floatValue }
    ... on TextMetadataEntry { text }"""


def test_the_day_s_checks_and_metadata_are_readable_afterwards(
    ui: DagsterDev, materialized_day: str
) -> None:
    query = f"""query($day: String!) {{
        assetNodeOrError(assetKey: {{path: ["addon_aggregates"]}}) {{ ... on AssetNode {{
          assetMaterializations(partitions: [$day]) {{ runId metadataEntries {{ {ENTRY_VALUES} }} }}
          assetChecksOrError {{ ... on AssetChecks {{ checks {{ name
            executionForLatestMaterialization {{ runId status evaluation {{
              success severity metadataEntries {{ {ENTRY_VALUES} }} }} }} }} }} }} }} }} }}"""

    node = ui.graphql(query, {"day": ONE_DAY})["assetNodeOrError"]

    expected = reference_day(ui.sources, ONE_DAY)
    [materialization] = node["assetMaterializations"]
    assert materialization["runId"] == materialized_day
    folder = ui.output / OUTPUT / f"{DAY}={ONE_DAY}"
    metadata = metadata_values(materialization["metadataEntries"])
    assert metadata.pop("n_clients_by_channel") == clients_by_channel(ui.sources, ONE_DAY)
    assert metadata == {
        "dagster/row_count": expected.num_rows,
        "path": f"file://{folder}",
        "file_count": 1,
        "bytes": sum(p.stat().st_size for p in folder.glob("*.parquet")),
    }
    checks = {
        c["name"]: c["executionForLatestMaterialization"]
        for c in node["assetChecksOrError"]["checks"]
    }
    assert sorted(checks) == CHECKS
    for name, execution in checks.items():
        assert (execution["runId"], execution["status"]) == (materialized_day, "SUCCEEDED")
        evaluation = execution["evaluation"]
        values = metadata_values(evaluation["metadataEntries"])
        if name == "row_count_stable":
            # The previous day available is the backfill's last day.
            previous = pq.read_table(ui.output / OUTPUT / f"{DAY}={BACKFILL_DAYS[-1]}").num_rows
            assert evaluation["severity"] == "WARN"
            assert (values["rows"], values["previous_day"], values["previous_rows"]) == (
                expected.num_rows,
                BACKFILL_DAYS[-1],
                previous,
            )
        else:
            assert (evaluation["success"], evaluation["severity"]) == (True, "ERROR")
            assert values == {"failed_rows": 0}


def clients_by_channel(sources: Path, day: str) -> dict[str, int]:
    """Distinct known clients per channel of main_summary that day (SPEC: n_clients), by DuckDB."""
    files = str(sources / "main_summary/v4" / f"{DAY}={day}" / "**" / "*.parquet")
    query = """SELECT COALESCE(normalized_channel, 'Other'), COUNT(DISTINCT client_id)
        FROM read_parquet($files, union_by_name = true) WHERE client_id IS NOT NULL GROUP BY 1"""
    with duckdb.connect() as con:
        return dict(con.execute(query, {"files": files}).fetchall())


def test_the_browser_shows_the_graph_and_the_latest_materialization(
    ui: DagsterDev, materialized_day: str, tmp_path: Path
) -> None:
    expected = reference_day(ui.sources, ONE_DAY)

    with browser_page() as page:
        graph = asset_graph(page, ui.url, tmp_path / "asset-graph.png")
        asset = asset_page(page, ui.url, "addon_aggregates", tmp_path / "addon_aggregates.png")

    for name in ["addons", "main_summary", *BUILT]:
        assert name in graph.text.split("\n")
    lines = asset.text.split("\n")
    assert ONE_DAY in lines  # the latest materialization's partition
    assert f"{expected.num_rows:,}" in lines  # its row count
    for label in ["n_clients_by_channel", "path", "file_count", "bytes"]:
        assert label in lines
    assert f"file://{ui.output / OUTPUT}/{DAY}={ONE_DAY}" in lines
    for shot in (graph.screenshot, asset.screenshot):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 50_000  # a rendered page, not a blank one


def test_the_okr_metrics_plot_day_by_day_and_the_report_shows_its_chart(
    ui: DagsterDev, materialized_day: str, tmp_path: Path
) -> None:
    with browser_page() as page:
        plots = metadata_plots(page, ui.url, "addon_okr_metrics", tmp_path / "plots.png")
        chart = markdown_image(page, ui.url, "addon_okr_report", tmp_path / "chart.png")

    lines = plots.text.split("\n")
    for okr in (
        "self_installers",
        "self_installer_share",
        "addons_per_profile",
        "new_profile_self_installers",
    ):
        assert okr in lines
    # The preview of okrs.png: FIGURE_INCHES at PREVIEW_DPI.
    assert chart == {"alt": f"OKRs as of {ONE_DAY}", "width": 660, "height": 550}


STALENESS = """query($path: [String!]!, $days: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
    staleStatusByPartition(partitions: $days) } } }"""


def stale_status(server: DagsterDev, asset: str, days: list[str]) -> dict[str, str]:
    node = server.graphql(STALENESS, {"path": [asset], "days": days})["assetNodeOrError"]
    return dict(zip(days, node["staleStatusByPartition"], strict=True))


def test_rebuilding_a_days_metrics_marks_stale_the_reports_whose_window_holds_it(
    ui: DagsterDev, materialized_day: str
) -> None:
    # Day 20170604 built whole by the backfill (its reports too, up to 20170901) and ONE_DAY
    # (20170605) by the Materialize button (its report too); then the reports as of 20170901
    # (its 90-day window, 20170604..20170901, holds both days: the backfill built it before
    # ONE_DAY) and of 20170902 (20170605..20170902): each then built after every metrics day
    # in its window.
    day, later = BACKFILL_DAYS[-1], [ONE_DAY, "20170901", "20170902"]
    for as_of in later[1:]:
        run_id = materialize_day_as_the_ui_does(ui, ["addon_okr_report"], as_of)
        assert wait_for_run(ui, run_id, timeout=300) == "SUCCESS"
    assert stale_status(ui, "addon_okr_report", [day, *later]) == {
        d: "FRESH" for d in [day, *later]
    }

    run_id = materialize_day_as_the_ui_does(ui, ["addon_okr_metrics"], day)
    assert wait_for_run(ui, run_id, timeout=300) == "SUCCESS"

    # The reports of D..D+89 read the rebuilt day; D+90 on does not.
    assert stale_status(ui, "addon_okr_report", [day, *later]) == {
        "20170604": "STALE",
        "20170605": "STALE",
        "20170901": "STALE",
        "20170902": "FRESH",
    }
    assert stale_status(ui, "addon_okr_metrics", [day, "20170605"]) == {
        "20170604": "FRESH",
        "20170605": "FRESH",
    }
