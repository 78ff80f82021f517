"""The production instance, deploy/dagster-production.yaml, against a real PostgreSQL server on
loopback: it loads with PostgreSQL storage, the queued run coordinator (three runs at once, one
per day), run retries for a lost run worker, run monitoring with the 2017 job's limit, and
freshness on; a day's run recorded through it is read back, materializations and check
results, by another instance object, as the webserver and the daemon would. (Runs at once
under its daemon: test_concurrent_runs.py.)"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from addon_okrs.tools.generate import generate_day
from addon_okrs.tools.in_process import materialize_days
from addon_okrs_tests.helpers import check_results_by_day
from harness.postgres import postgres_server
from harness.settings import local_settings

pytestmark = pytest.mark.postgres
PRODUCTION = Path(__file__).resolve().parents[1] / "deploy" / "dagster-production.yaml"
DAY = "20170612"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def home(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME holding the production file as is, its database on loopback."""
    folder = tmp_path / "dagster_home"
    folder.mkdir()
    shutil.copy(PRODUCTION, folder / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", postgres_url)
    return folder


def test_the_production_instance_keeps_everything_in_postgres_and_queues_three_runs(
    home: Path,
) -> None:
    instance = dg.DagsterInstance.from_config(str(home))

    assert [
        type(storage).__name__
        for storage in (
            instance.run_storage,
            instance.event_log_storage,
            instance.schedule_storage,
        )
    ] == ["PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage"]
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == 3
    assert queue.tag_concurrency_limits == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert (
        instance.run_retries_enabled,
        instance.run_retries_max_retries,
        instance.run_retries_retry_on_asset_or_op_failure,
    ) == (True, 2, False)
    assert (
        instance.run_monitoring_enabled,
        instance.run_monitoring_start_timeout_seconds,
        instance.run_monitoring_max_runtime_seconds,
    ) == (True, 180, 14400)
    assert instance.get_settings("freshness") == {"enabled": True}


def test_the_production_instance_names_its_missing_database_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "dagster_home"
    folder.mkdir()
    shutil.copy(PRODUCTION, folder / "dagster.yaml")
    monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)

    with pytest.raises(Exception, match="DAGSTER_POSTGRES_URL"):
        dg.DagsterInstance.from_config(str(folder))


def test_a_days_run_through_the_production_instance_is_seen_by_another_process(
    home: Path, tmp_path: Path
) -> None:
    sources, out = tmp_path / "sources", tmp_path / "out"
    generate_day(sources.as_uri(), DAY, clients=1200, seed=23, samples=2)
    writer = dg.DagsterInstance.from_config(str(home))

    result = materialize_days(
        local_settings(sources, out), DAY, selection="*addon_aggregates", instance=writer
    )

    assert result.success
    reader = dg.DagsterInstance.from_config(str(home))
    assert reader.get_run_by_id(result.run_id) is not None
    assert reader.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS  # type: ignore[union-attr]
    [record] = reader.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("addon_aggregates"), asset_partitions=[DAY]),
        limit=5,
    ).records
    assert record.run_id == result.run_id
    assert check_results_by_day(reader) == {
        DAY: {
            "grain_is_unique": [True],
            "values_in_range": [True],
            "channel_counts_consistent": [True],
            "keys_not_null": [True],
            "row_count_stable": [True],
        }
    }
