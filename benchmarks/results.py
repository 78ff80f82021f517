"""What a benchmark run measured: one run (`Sample`), the runs of one contender (`Study`), and
their medians. Shared by the runner (run.py) and the report (report.py)."""

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.eventlog import SparkMetrics

GB = 1024**3


@dataclass
class Sample:
    wall: float
    peak_rss: int
    spark: SparkMetrics
    rows: int | None = None
    cpu: float | None = None  # CPU seconds of the whole process tree


@dataclass
class Study:
    name: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, pick: Callable[[Sample], float]) -> float:
        return statistics.median(pick(s) for s in self.samples)

    @property
    def wall(self) -> float:
        return self.median(lambda s: s.wall)

    @property
    def peak_gb(self) -> float:
        return self.median(lambda s: s.peak_rss) / GB

    def read_mb(self, table: str) -> float:
        return self.median(lambda s: s.spark.read(table)) / 1e6

    @property
    def shuffle_mb(self) -> float:
        return self.median(lambda s: s.spark.shuffle_bytes_written) / 1e6

    @property
    def jobs(self) -> float:
        return self.median(lambda s: s.spark.jobs)


def combine(samples: list[Sample]) -> Sample:
    """Several sequential runs as one: times and Spark work add up, memory is the highest."""
    spark = SparkMetrics()
    for s in samples:
        spark.jobs += s.spark.jobs
        spark.stages += s.spark.stages
        spark.tasks += s.spark.tasks
        spark.shuffle_bytes_written += s.spark.shuffle_bytes_written
        spark.spill_bytes += s.spark.spill_bytes
        spark.bytes_read.update(s.spark.bytes_read)
    rows = sum(s.rows or 0 for s in samples)
    cpus = [s.cpu for s in samples]
    cpu = None if None in cpus else sum(c for c in cpus if c is not None)
    return Sample(sum(s.wall for s in samples), max(s.peak_rss for s in samples), spark, rows, cpu)


def runs_table(samples: dict[str, list[Sample]], heading: str) -> str:
    """A markdown table of each contender's runs: median wall, peak and spill (memory and disk
    spill together), the tasks' run and GC time summed, jobs, rows, the runs."""
    lines = [
        f"| {heading} | wall s (median) | CPU s (median) | peak GB | spill GB | task s "
        "| task GC s | Spark jobs | output rows | runs (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, runs in samples.items():
        walls = [s.wall for s in runs]
        cpus = [s.cpu for s in runs if s.cpu is not None]
        cpu = f"{statistics.median(cpus):.1f}" if len(cpus) == len(runs) else "-"
        lines.append(
            f"| {label} | {statistics.median(walls):.1f} | {cpu} "
            f"| {statistics.median(s.peak_rss for s in runs) / GB:.2f} "
            f"| {statistics.median(s.spark.spill_bytes for s in runs) / GB:.2f} "
            f"| {statistics.median(s.spark.task_ms for s in runs) / 1000:.1f} "
            f"| {statistics.median(s.spark.gc_ms for s in runs) / 1000:.1f} "
            f"| {runs[0].spark.jobs} | {runs[0].rows} | {', '.join(f'{w:.1f}' for w in walls)} |"
        )
    return "\n".join(lines)
