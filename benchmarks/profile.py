"""Where one run's time and bytes go: every Spark stage of a `dagster asset materialize` run,
with its time, rows, bytes and spill, attributed to the asset step that ran it.

The in-process executor runs one step at a time, so a stage belongs to the step whose
STEP_START..STEP_SUCCESS window (from the run's Dagster event log) holds the stage's
submission time. The stage figures are Spark's own task metrics, summed per stage in its
event log (StageCompleted's accumulables).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.eventlog import SQL_AQE_UPDATE, SQL_START, events, scan_accumulators

OUTSIDE = "(between steps)"


@dataclass
class Cost:
    """Spark work, for one stage or summed over a step's stages."""

    seconds: float = 0.0  # submission to completion; stages submitted together overlap
    task_seconds: float = 0.0  # the stage's tasks' run time, summed: the work, additive
    tasks: int = 0
    rows_in: int = 0
    rows_out: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    shuffle_write_bytes: int = 0
    shuffle_read_bytes: int = 0
    spill_bytes: int = 0

    def add(self, other: "Cost") -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class Stage:
    stage_id: int
    step: str
    submitted: float
    reads: str  # the tables it scanned, and/or "shuffle"
    writes: str  # "shuffle", "files" or "driver"
    cost: Cost


@dataclass
class Step:
    name: str
    seconds: float  # the step's wall time in Dagster, Spark or not
    stages: int = 0
    spark: Cost = field(default_factory=Cost)


@dataclass
class Profile:
    steps: list[Step]
    stages: list[Stage]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Profile":
        """The inverse of dataclasses.asdict (a saved benchmark result)."""
        steps = [Step(**{**s, "spark": Cost(**s["spark"])}) for s in data["steps"]]
        stages = [Stage(**{**s, "cost": Cost(**s["cost"])}) for s in data["stages"]]
        return cls(steps, stages)


def _stage_cost(info: dict[str, Any]) -> Cost:
    values = {a.get("Name"): a.get("Value") for a in info.get("Accumulables", [])}

    def m(name: str) -> int:
        return int(values.get(f"internal.metrics.{name}") or 0)

    return Cost(
        seconds=(info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000,
        task_seconds=m("executorRunTime") / 1000,
        tasks=int(info.get("Number of Tasks", 0)),
        rows_in=m("input.recordsRead") + m("shuffle.read.recordsRead"),
        rows_out=m("shuffle.write.recordsWritten") + m("output.recordsWritten"),
        input_bytes=m("input.bytesRead"),
        output_bytes=m("output.bytesWritten"),
        shuffle_write_bytes=m("shuffle.write.bytesWritten"),
        shuffle_read_bytes=m("shuffle.read.remoteBytesRead") + m("shuffle.read.localBytesRead"),
        spill_bytes=m("memoryBytesSpilled") + m("diskBytesSpilled"),
    )


def _windows(dagster_home: Path, app_start: float) -> list[tuple[str, float, float]]:
    """(step, start, end) of the run in the instance at `dagster_home` that was running when
    the Spark application started."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        runs = [
            r
            for r in instance.get_run_records()
            if r.start_time is not None and r.start_time <= app_start <= (r.end_time or app_start)
        ]
        if not runs:
            return []
        started: dict[str, float] = {}
        windows = []
        for entry in instance.all_logs(runs[0].dagster_run.run_id):
            kind = entry.dagster_event.event_type_value if entry.dagster_event else None
            if kind == "STEP_START" and entry.step_key:
                started[entry.step_key] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key:
                windows.append((entry.step_key, started[entry.step_key], entry.timestamp))
    return sorted(windows, key=lambda w: w[1])


def profile_run(event_logs: list[Path], dagster_home: Path) -> Profile:
    scans: dict[int, str] = {}
    completed = []
    app_start = 0.0
    for kind, event in events(event_logs):
        if kind == "SparkListenerApplicationStart":
            app_start = event["Timestamp"] / 1000
        elif kind in (SQL_START, SQL_AQE_UPDATE):
            scan_accumulators(event.get("sparkPlanInfo", {}), scans)
        elif kind == "SparkListenerStageCompleted":
            completed.append(event["Stage Info"])

    windows = _windows(dagster_home, app_start)

    def step_of(when: float) -> str:
        for name, start, end in windows:
            if start <= when <= end:
                return name
        return OUTSIDE

    stages = []
    for info in completed:
        cost = _stage_cost(info)
        ids = {a["ID"] for a in info.get("Accumulables", [])}
        tables = sorted({scans[i] for i in ids if i in scans})
        reads = tables + (["shuffle"] if cost.shuffle_read_bytes else [])
        writes = (
            "shuffle" if cost.shuffle_write_bytes else "files" if cost.output_bytes else "driver"
        )
        submitted = info.get("Submission Time", 0) / 1000
        stages.append(
            Stage(
                stage_id=int(info["Stage ID"]),
                step=step_of(submitted),
                submitted=submitted,
                reads="+".join(reads) or "-",
                writes=writes,
                cost=cost,
            )
        )
    stages.sort(key=lambda s: (s.submitted, s.stage_id))

    per_step: dict[str, Step] = {name: Step(name, end - start) for name, start, end in windows}
    for stage in stages:
        step = per_step.setdefault(stage.step, Step(stage.step, 0.0))
        step.spark.add(stage.cost)
        step.stages += 1
    return Profile(list(per_step.values()), stages)


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f}" if n else "0"


def render(profile: Profile) -> list[str]:
    """Two markdown tables: per asset step, then per stage."""
    out = [
        "| step | step s | stages | task s | rows in | rows out | MB read "
        "| MB written | shuffle MB written | shuffle MB read | spill MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in profile.steps:
        c = s.spark
        out.append(
            f"| {s.name} | {s.seconds:.1f} | {s.stages} | {c.task_seconds:.1f} | {c.rows_in:,} | "
            f"{c.rows_out:,} | {_mb(c.input_bytes)} | {_mb(c.output_bytes)} | "
            f"{_mb(c.shuffle_write_bytes)} | {_mb(c.shuffle_read_bytes)} | {_mb(c.spill_bytes)} |"
        )
    out += [
        "",
        "| stage | step | reads | writes | s | task s | tasks | rows in | rows out | MB read "
        "| MB written | shuffle MB written | shuffle MB read | spill MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    idle = [st for st in profile.stages if not (st.cost.rows_in or st.cost.rows_out)]
    for st in profile.stages:
        c = st.cost
        if st in idle:
            continue
        out.append(
            f"| {st.stage_id} | {st.step} | {st.reads} | {st.writes} | {c.seconds:.1f} | "
            f"{c.task_seconds:.1f} | {c.tasks} | {c.rows_in:,} | {c.rows_out:,} | "
            f"{_mb(c.input_bytes)} | "
            f"{_mb(c.output_bytes)} | {_mb(c.shuffle_write_bytes)} | "
            f"{_mb(c.shuffle_read_bytes)} | {_mb(c.spill_bytes)} |"
        )
    if idle:
        out += [
            "",
            f"Not listed: {len(idle)} stages without rows (file listings, schema and footer "
            f"reads, broadcasts), {sum(st.cost.seconds for st in idle):.1f} s together.",
        ]
    return out
