"""Write, audit, publish: how addon_aggregates reaches its readers (docs/storage.md).

The run's days are staged, the blocking rules (dataset/rules.py) run on the staged files, and
only the days that keep every rule are swapped into place. Every check is reported once per
day, against that day, in single-day and range runs alike; a day held back fails the run with
the rule, the day, the count and a sample, and its previous output stays as it was.
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame

from addon_okrs.dataset import rules
from addon_okrs.dataset.rules import Finding
from addon_okrs.defs._dagster_compat import (
    TargetMaterialization,
    check_outputs,
    target_materialization,
)
from addon_okrs.defs.failures import failing_at_once
from addon_okrs.defs.io_manager import day_metadata
from addon_okrs.storage.table_store import DayWrite, TableStore
from addon_okrs.storage.warehouse import Table

MESSAGE_SAMPLE_ROWS = 3

Event = dg.MaterializeResult | dg.AssetMaterialization | dg.AssetCheckEvaluation | dg.Output[None]


def write_audit_publish(
    context: dg.AssetExecutionContext,
    store: TableStore,
    frame: DataFrame,
    max_row_count_change: float,
    metadata_by_day: Mapping[str, Mapping[str, Any]],
) -> Iterator[Event]:
    """Stage `frame`'s days, audit them, publish those that pass; the events to report. Each
    published day's materialization carries its own numbers and `metadata_by_day[day]`."""
    name, days = context.asset_key.path[-1], list(context.partition_keys)
    with failing_at_once(), store.stage(name, days, frame, context.run.run_id) as staged:
        findings = rules.audit(staged.read(), days)
        held = sorted({f.day for f in findings if not f.passed})
        staged_rows = {day: staged.rows(day) for day in days}
        written = [staged.publish(day) for day in days if day not in held]
    table = store.table(name)
    context.log.info(
        f"{name}: published {len(written)} day(s)"
        + (f", held back {', '.join(held)}" if held else "")
        + ": "
        + ", ".join(f"{w.day} {w.rows} rows / {w.files} files" for w in written)
    )

    def metadata(write: DayWrite) -> dict[str, Any]:
        return {**day_metadata(write), **metadata_by_day.get(write.day, {})}

    if held:
        # Only the published days are materialized; the run fails below.
        for write in written:
            yield dg.AssetMaterialization(
                context.asset_key, partition=write.day, metadata=metadata(write)
            )
    elif written:
        for write in written:
            context.add_asset_metadata(metadata(write), partition_key=write.day)
        yield dg.MaterializeResult()

    # A published day's results target the materialization this run just recorded for it; a
    # held-back day's target none. One look-up a day, whatever the number of checks.
    targets = {day: _latest_materialization(context, day) for day in days if day not in held}
    for finding in findings:
        yield _evaluation(context, finding.rule.name, finding.day, targets, _result(finding))
    changes = rules.row_count_changes(
        _rows_around(table, staged_rows, days), days, max_row_count_change
    )
    for day in days:
        yield _evaluation(context, rules.ROW_COUNT_STABLE, day, targets, _row_count(changes[day]))
    # The declared checks are outputs of the asset's step; their results are the evaluations.
    yield from check_outputs(context)

    if held:
        raise dg.Failure(
            description=held_back_message(name, findings, written), allow_retries=False
        )


def _result(finding: Finding) -> dict[str, Any]:
    metadata: dict[str, Any] = {"failed_rows": finding.failed_rows}
    if finding.sample:
        metadata["sample"] = dg.MetadataValue.json(finding.sample)
    return {
        "passed": finding.passed,
        "severity": dg.AssetCheckSeverity.ERROR,
        "blocking": True,
        "description": finding.describe(),
        "metadata": metadata,
    }


def _row_count(change: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in change.items() if k != "moved" and v is not None}
    if change["previous_day"] is None:
        description = "no earlier day to compare with"
    else:
        description = (
            f"{change['rows']} rows against {change['previous_rows']} on {change['previous_day']}"
            f" ({change['change']:.1%} change)"
        )
    return {
        "passed": not change["moved"],
        "severity": dg.AssetCheckSeverity.WARN,
        "blocking": False,
        "description": description,
        "metadata": metadata,
    }


def _evaluation(
    context: dg.AssetExecutionContext,
    check_name: str,
    day: str,
    targets: Mapping[str, TargetMaterialization | None],
    result: dict[str, Any],
) -> dg.AssetCheckEvaluation:
    """One check's result for one day, linked to the day's target materialization if any."""
    return dg.AssetCheckEvaluation(
        asset_key=context.asset_key,
        check_name=check_name,
        partition=day,
        target_materialization_data=targets.get(day),
        **result,
    )


def _latest_materialization(
    context: dg.AssetExecutionContext, day: str
) -> TargetMaterialization | None:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[day]), limit=1
    ).records
    if not records or records[0].run_id != context.run.run_id:
        return None
    return target_materialization(records[0])


def _rows_around(table: Table, staged_rows: dict[str, int], days: Sequence[str]) -> dict[str, int]:
    """The run's staged row counts, plus those of the published day before each run day
    (footers only; no other day is read)."""
    rows = dict(staged_rows)
    candidates = sorted(set(table.written_days()) | set(days))
    for day in days:
        earlier = [d for d in candidates if d < day]
        if earlier and earlier[-1] not in rows:
            rows[earlier[-1]] = table.row_count(earlier[-1])
    return rows


def held_back_message(name: str, findings: Sequence[Finding], written: Sequence[DayWrite]) -> str:
    failed = [f for f in findings if not f.passed]
    lines = [
        f"{name}: {len({f.day for f in failed})} day(s) held back, not published; their previous "
        "output is untouched."
    ]
    for finding in failed:
        sample = json.dumps(finding.sample[:MESSAGE_SAMPLE_ROWS], default=str)
        lines.append(
            f"- {finding.day}: {finding.rule.name} failed, {finding.describe()}. Sample: {sample}"
        )
    lines.append(
        "Published: " + (", ".join(w.day for w in written) if written else "none") + ". "
        "Fix the cause (the rule, the transformation or the source day), then run the held "
        "day(s) again."
    )
    return "\n".join(lines)
