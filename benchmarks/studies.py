"""The benchmark as studies that each fit one sitting: every study is one command
(`python -m benchmarks --study NAME`, or `make bench STUDY=NAME`), saves its results when it
finishes (results.json; the others' results are kept), and prints its progress with an
estimate of what is left. `make bench` runs them one after another, each its own command.

A study's arguments are the benchmark's own options; `minutes` is what it took on the 2-core
machine on 2026-12-07, rounded up, generating its data included (the data is cached after: a
re-run takes less). BENCHMARKS.md states each study's last duration."""

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class StudySpec:
    name: str
    args: tuple[str, ...]
    minutes: int
    what: str


STUDIES: dict[str, StudySpec] = {
    s.name: s
    for s in (
        StudySpec(
            "scaling-1m",
            ("--only", "scaling", "--sizes", "1000000"),
            9,
            "every contender on a 1M-client day, 3 rounds; the notebook's output explained",
        ),
        StudySpec(
            "scaling-4m",
            ("--only", "scaling", "--sizes", "4000000"),
            17,
            "every contender on a 4M-client day, 3 rounds; where materialize's time goes",
        ),
        StudySpec(
            "scaling-16m",
            (
                "--only",
                "scaling",
                "--sizes",
                "16000000",
                "--contenders",
                "materialize,reference",
                "--repeat",
                "1",
                "--no-inspect",
            ),
            20,
            "materialize and DuckDB on a 16M-client day, 1 round; not in make bench: DuckDB "
            "takes 19 GB, and beside this process generating the day the two exhaust 24 GB",
        ),
        StudySpec(
            "backfill7",
            ("--only", "backfill7", "--repeat", "2"),
            14,
            "seven 1M-client days as one run and as seven runs, 2 rounds",
        ),
        StudySpec(
            "okrs",
            ("--only", "okrs"),
            7,
            "one 1M-client day up to each OKR asset, 3 rounds; the 90-day report",
        ),
    )
}
# `engines` (local, a loopback standalone cluster, Spark Connect) is not part of `make bench`,
# nor is scaling-16m (above): the Makefile's BENCH_STUDIES lists what it runs.


class Progress:
    """Runs done out of those planned, and an estimate of the time left: each planned run
    that is not done yet is expected to take what runs of the same label took so far (the
    mean of all runs so far for a label not yet seen)."""

    def __init__(self, study: str, planned: list[str]) -> None:
        self.study = study
        self.planned = list(planned)
        self.done: list[tuple[str, float]] = []
        self.started = time.monotonic()

    def estimate_left(self) -> float:
        if not self.done:
            return float("nan")
        overall = sum(s for _, s in self.done) / len(self.done)
        by_label: dict[str, list[float]] = {}
        for label, seconds in self.done:
            by_label.setdefault(label, []).append(seconds)
        left = self.planned[len(self.done) :]
        return sum(
            sum(by_label[label]) / len(by_label[label]) if label in by_label else overall
            for label in left
        )

    def record(self, label: str, seconds: float) -> str:
        """Count one run; the line that says where the study is."""
        self.done.append((label, seconds))
        elapsed = time.monotonic() - self.started
        return (
            f"  [{self.study}: run {len(self.done)}/{len(self.planned)}, "
            f"{clock(elapsed)} so far, about {clock(self.estimate_left())} left]"
        )


def clock(seconds: float) -> str:
    if seconds != seconds:  # nan: nothing to estimate from yet
        return "?"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
