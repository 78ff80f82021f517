"""Every use of Dagster's non-public API, in one place: four shims over what Dagster 1.13 does
not export. Each says the public API it waits for; test_dagster_compat.py exercises each one,
and fails naming the shim when a Dagster upgrade moves what it relies on.

Nothing else in the package imports `dagster._…` (test_layout.py).
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg

# The type of AssetCheckEvaluation's `target_materialization_data`: what links one day's check
# result to the materialization it judged. Waits for: a top-level export of the class (or an
# AssetCheckEvaluation argument that takes a materialization record).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as TargetMaterialization,
)

# The tags that make one run cover a range of partitions, as a single-run backfill sets them.
# Waits for: a `partition_key_range` argument to `dg.materialize` (its `partition_key` takes
# one key only).
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

__all__ = [
    "TargetMaterialization",
    "add_partition_metadata",
    "check_outputs",
    "range_tags",
    "target_materialization",
]


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags that make one run cover the partitions first..last."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def target_materialization(record: dg.EventLogRecord) -> TargetMaterialization:
    """The link from a check result to the materialization `record` holds."""
    return TargetMaterialization(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )


def check_outputs(context: dg.AssetExecutionContext) -> Iterator[dg.Output[None]]:
    """An empty output for each selected check of the step's asset.

    An asset that reports its checks as AssetCheckEvaluation events (one per partition, which
    AssetCheckResult cannot do in a range run) still owns one output per declared check; this
    yields them, without which the step fails (DagsterStepOutputNotFoundError). Waits for: a
    public map from check key to output name on the execution context
    (`AssetsDefinition.check_specs_by_output_name` is not in the API docs)."""
    for output_name, spec in context.assets_def.check_specs_by_output_name.items():
        if spec.key in context.selected_asset_check_keys:
            yield dg.Output(None, output_name=output_name)


def add_partition_metadata(
    context: dg.OutputContext, metadata: Mapping[str, Any], partition_key: str
) -> None:
    """Metadata for one partition's materialization, from an IO manager's `handle_output`.

    `OutputContext.add_output_metadata` attaches the same metadata to every partition of a range
    run; the step context can scope it to one. Waits for: a `partition_key` argument to
    `OutputContext.add_output_metadata` (AssetExecutionContext.add_asset_metadata has one)."""
    context.step_context.add_asset_metadata(
        dict(metadata), asset_key=context.asset_key, partition_key=partition_key
    )
