"""Each shim of defs/_dagster_compat.py against the installed Dagster, on a tiny in-memory graph
(no Spark, no storage): when an upgrade breaks one, the failure names the shim and what it
relied on, not a Spark run three layers away."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from addon_okrs.defs import _dagster_compat as compat

DAYS = ["20170501", "20170502"]
days = dg.DailyPartitionsDefinition(start_date="20170101", fmt="%Y%m%d", timezone="UTC")


def broken(shim: str, relied_on: str) -> str:
    return (
        f"dagster {dg.__version__} broke addon_okrs/defs/_dagster_compat.py:{shim}, which relies "
        f"on {relied_on}. Move the shim to the public API its comment names, or to what "
        "replaced the internal one."
    )


def run(
    assets: list[Any],
    resources: dict[str, Any] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of `assets` over both DAYS, launched as the in-process helper launches a range."""
    try:
        return dg.materialize(
            assets,
            instance=instance or dg.DagsterInstance.ephemeral(),
            resources=resources or {},
            tags=compat.range_tags(DAYS[0], DAYS[-1]),
        )
    except dg.DagsterInvariantViolationError as error:
        pytest.fail(broken("range_tags", "the dagster/asset_partition_range_* tags") + f" {error}")


def test_range_tags_make_one_run_cover_every_day_of_the_range() -> None:
    seen: list[list[str]] = []

    @dg.asset(partitions_def=days)
    def ranged(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        seen.append(list(context.partition_keys))
        return dg.MaterializeResult()

    result = run([ranged])

    assert result.success
    assert seen == [DAYS], broken("range_tags", "the dagster/asset_partition_range_* tags")


class DayCountingIOManager(dg.IOManager):
    """Stores nothing; records a metadata value per partition, as the ParquetIOManager does."""

    def handle_output(self, context: dg.OutputContext, obj: dict[str, int]) -> None:
        for day, rows in obj.items():
            compat.add_partition_metadata(context, {"rows": rows}, day)

    def load_input(self, context: dg.InputContext) -> None:
        raise NotImplementedError


def test_partition_metadata_from_an_io_manager_lands_on_its_own_day() -> None:
    @dg.asset(partitions_def=days)
    def counted(context: dg.AssetExecutionContext) -> dict[str, int]:
        return {day: 10 + i for i, day in enumerate(context.partition_keys)}

    try:
        result = run([counted], {"io_manager": DayCountingIOManager()})
    except AttributeError as error:
        pytest.fail(broken("add_partition_metadata", "OutputContext.step_context") + f" {error}")

    rows = {
        m.partition: m.metadata["rows"].value
        for m in result.asset_materializations_for_node("counted")
    }
    assert rows == {"20170501": 10, "20170502": 11}, broken(
        "add_partition_metadata", "StepExecutionContext.add_asset_metadata(partition_key=...)"
    )


def test_per_day_check_results_close_the_checks_outputs_and_link_their_materialization() -> None:
    spec = dg.AssetCheckSpec("ok", asset="judged", partitions_def=days)

    @dg.asset(partitions_def=days, check_specs=[spec])
    def judged(context: dg.AssetExecutionContext) -> Iterator[Any]:
        yield dg.MaterializeResult()  # one materialization per day of the range
        for day in context.partition_keys:
            [record] = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[day]),
                limit=1,
            ).records
            yield dg.AssetCheckEvaluation(
                asset_key=context.asset_key,
                check_name="ok",
                passed=True,
                partition=day,
                target_materialization_data=compat.target_materialization(record),
            )
        yield from compat.check_outputs(context)

    instance = dg.DagsterInstance.ephemeral()
    try:
        result = run([judged], instance=instance)
    except AttributeError as error:
        pytest.fail(
            broken("check_outputs", "AssetsDefinition.check_specs_by_output_name") + f" {error}"
        )

    assert result.success
    messages = [e.message or "" for e in result.all_events]
    assert not [m for m in messages if "did not yield or return expected outputs" in m], broken(
        "check_outputs", "one output per declared check"
    )
    records = {
        r.partition: r
        for r in instance.event_log_storage.get_asset_check_execution_history(spec.key, 10)
    }
    materialized = {
        day: r.storage_id
        for day in DAYS
        for r in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("judged"), asset_partitions=[day]), limit=1
        ).records
    }
    assert sorted(records) == DAYS
    targets = {
        day: r.event.dagster_event.event_specific_data.target_materialization_data.storage_id  # type: ignore[union-attr]
        for day, r in records.items()
    }
    assert targets == materialized, broken(
        "target_materialization", "AssetCheckEvaluationTargetMaterializationData"
    )
