"""The upstream-arrival sensor: one run per day once both source days are ready, and again
whenever upstream rewrites a day (its markers get newer). Lists markers only; no Spark."""

import datetime as dt
import json
from dataclasses import dataclass

import dagster as dg

from addon_okrs import catalog
from addon_okrs.jobs import daily_job
from addon_okrs.partitions import daily_partitions
from addon_okrs.resources.arrivals import ArrivalStore, ArrivalStoreError, DayMarkers
from addon_okrs.schema import DAY_FORMAT


@dataclass(frozen=True)
class DayArrival:
    day: str
    markers: tuple[DayMarkers, ...]
    ready: bool

    @property
    def fingerprint(self) -> str:
        """Changes whenever a marker is added or rewritten: the identity of one arrival."""
        return ",".join(f"{m.count}@{m.newest:.3f}" for m in self.markers)

    def describe(self) -> str:
        return ", ".join(f"{m.table} {m.count} marker(s)" for m in self.markers)


def recent_days(now: dt.datetime, lookback_days: int) -> list[str]:
    """The last `lookback_days` partition keys as of `now`, oldest first (today is not one:
    a day becomes a partition once it is over)."""
    with dg.partition_loading_context(effective_dt=now):
        last = daily_partitions.get_last_partition_key()
        if last is None:
            return []
        newest = dt.datetime.strptime(last, DAY_FORMAT)
        days = [(newest - dt.timedelta(days=i)).strftime(DAY_FORMAT) for i in range(lookback_days)]
        return sorted(d for d in days if daily_partitions.has_partition_key(d))


def check_arrival(store: ArrivalStore, day: str) -> DayArrival:
    markers = tuple(store.day_markers(table, day) for table in catalog.SOURCES)
    ready = all(m.count >= store.min_success_markers for m in markers)
    return DayArrival(day, markers, ready)


def evaluate(
    store: ArrivalStore, days: list[str], cursor: str | None
) -> tuple[list[dg.RunRequest], str, list[str]]:
    """Run requests for the days that arrived since the cursor, the new cursor, and what is
    still waiting. Raises ArrivalStoreError when the store cannot be listed."""
    requested: dict[str, str] = json.loads(cursor) if cursor else {}
    requests, waiting = [], []
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
        requested[day] = arrival.fingerprint
    # Days that left the look-back window will not be looked at again.
    new_cursor = json.dumps({d: requested[d] for d in days if d in requested}, sort_keys=True)
    return requests, new_cursor, waiting


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
        requests, cursor, waiting = evaluate(arrivals, days, context.cursor)
    except ArrivalStoreError as error:
        message = (
            f"arrival sensor: {error}. No run requested this tick; check the source root, "
            "bucket, credentials and endpoint settings. The next tick tries again."
        )
        context.log.error(message)
        return dg.SensorResult(skip_reason=message)
    for request in requests:
        context.log.info(f"arrival sensor: {request.partition_key} is ready, requesting a run")
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    window = f"{days[0]}..{days[-1]}" if days else "no days"
    reason = f"nothing new in {window}" + (f"; waiting for {'; '.join(waiting)}" if waiting else "")
    return dg.SensorResult(skip_reason=reason, cursor=cursor)
