"""The upstream-arrival sensor: one run per day once both source days are ready, and again
whenever upstream rewrites a day (its markers get newer). Each arrival is also recorded as a
materialization of the two source assets for that day, with what the listing saw, so the UI
shows which source days arrived, when and how big. Lists files only; no Spark."""

import datetime as dt
import json
from dataclasses import dataclass

import dagster as dg

from addon_okrs.dataset.days import shift_day
from addon_okrs.defs.jobs import daily_job
from addon_okrs.defs.partitions import daily_partitions
from addon_okrs.defs.resources.arrivals import ArrivalStore, ArrivalStoreError, DayMarkers
from addon_okrs.storage import catalog


@dataclass(frozen=True)
class DayArrival:
    day: str
    markers: tuple[DayMarkers, ...]
    ready: bool

    @property
    def fingerprint(self) -> str:
        """Changes whenever a marker is added or rewritten: the identity of one arrival (one
        part per source table, in catalog order)."""
        return ",".join(f"{m.count}@{m.newest:.3f}" for m in self.markers)

    def describe(self) -> str:
        return ", ".join(f"{m.table} {m.count} marker(s)" for m in self.markers)

    def materializations(self, previous: str | None) -> list[dg.AssetMaterialization]:
        """A materialization of each source table of this day whose markers differ from the
        `previous` fingerprint (all of them on a first arrival), with what was seen."""
        before = previous.split(",") if previous else [None] * len(self.markers)
        now = self.fingerprint.split(",")
        return [
            dg.AssetMaterialization(
                asset_key=spec.name,
                partition=self.day,
                description=f"arrived: {m.count} _SUCCESS marker(s), {m.data_files} data file(s)",
                metadata={
                    "markers": m.count,
                    "data_files": m.data_files,
                    "bytes": m.bytes,
                    "newest_marker": dg.MetadataValue.timestamp(m.newest),
                    "location": dg.MetadataValue.path(m.location),
                },
            )
            for spec, m, was, is_ in zip(catalog.SOURCES, self.markers, before, now, strict=True)
            if was != is_
        ]


def recent_days(now: dt.datetime, lookback_days: int) -> list[str]:
    """The last `lookback_days` partition keys as of `now`, oldest first (today is not one:
    a day becomes a partition once it is over)."""
    with dg.partition_loading_context(effective_dt=now):
        last = daily_partitions.get_last_partition_key()
        if last is None:
            return []
        days = [shift_day(last, -i) for i in range(lookback_days)]
        return sorted(d for d in days if daily_partitions.has_partition_key(d))


def check_arrival(store: ArrivalStore, day: str) -> DayArrival:
    markers = tuple(store.day_markers(table, day) for table in catalog.SOURCES)
    ready = all(m.count >= store.min_success_markers for m in markers)
    return DayArrival(day, markers, ready)


@dataclass(frozen=True)
class Evaluation:
    requests: list[dg.RunRequest]
    arrivals: list[dg.AssetMaterialization]
    cursor: str
    waiting: list[str]


def evaluate(store: ArrivalStore, days: list[str], cursor: str | None) -> Evaluation:
    """Run requests and source materializations for the days that arrived since the cursor,
    the new cursor, and what is still waiting. Raises ArrivalStoreError when the store cannot
    be listed."""
    requested: dict[str, str] = json.loads(cursor) if cursor else {}
    requests, arrivals, waiting = [], [], []
    for day in days:
        arrival = check_arrival(store, day)
        if not arrival.ready:
            waiting.append(f"{day} ({arrival.describe()})")
            continue
        if requested.get(day) == arrival.fingerprint:
            continue
        requests.append(
            dg.RunRequest(
                partition_key=day,
                run_key=f"{day}:{arrival.fingerprint}",
                tags={"addon_okrs/trigger": "upstream-arrival"},
            )
        )
        arrivals.extend(arrival.materializations(requested.get(day)))
        requested[day] = arrival.fingerprint
    # Days that left the look-back window will not be looked at again.
    new_cursor = json.dumps({d: requested[d] for d in days if d in requested}, sort_keys=True)
    return Evaluation(requests, arrivals, new_cursor, waiting)


def build_arrival_sensor(minimum_interval_seconds: int = 60) -> dg.SensorDefinition:
    """The sensor, ticking every `minimum_interval_seconds` (settings: sensor interval)."""

    @dg.sensor(
        name="upstream_arrival_sensor",
        job=daily_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Builds a day once addons and main_summary both have their _SUCCESS "
        "markers; again when upstream rewrites the day.",
    )
    def upstream_arrival_sensor(
        context: dg.SensorEvaluationContext, arrivals: ArrivalStore
    ) -> dg.SensorResult:
        return tick(context, arrivals)

    return upstream_arrival_sensor


def tick(context: dg.SensorEvaluationContext, arrivals: ArrivalStore) -> dg.SensorResult:
    """One tick: run requests for what arrived, or the reason there are none."""
    days = recent_days(dt.datetime.now(dt.UTC), arrivals.lookback_days)
    try:
        found = evaluate(arrivals, days, context.cursor)
    except ArrivalStoreError as error:
        message = (
            f"arrival sensor: {error}. No run requested this tick; check the source root, "
            "bucket, credentials and endpoint settings. The next tick tries again."
        )
        context.log.error(message)
        return dg.SensorResult(skip_reason=message)
    for request in found.requests:
        context.log.info(f"arrival sensor: {request.partition_key} is ready, requesting a run")
    if found.requests:
        return dg.SensorResult(
            run_requests=found.requests, asset_events=found.arrivals, cursor=found.cursor
        )
    window = f"{days[0]}..{days[-1]}" if days else "no days"
    waiting = f"; waiting for {'; '.join(found.waiting)}" if found.waiting else ""
    return dg.SensorResult(skip_reason=f"nothing new in {window}{waiting}", cursor=found.cursor)
