"""The benchmark's studies (benchmarks/studies.py, benchmarks/report.py): a study's progress and
estimate of what is left, and a study at one size keeping the others' results and durations;
a run's CPU counted once per process."""

import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.eventlog import SparkMetrics
from benchmarks.procs import tree_cpu
from benchmarks.report import Report
from benchmarks.results import Sample, Study
from benchmarks.run import parse_args
from benchmarks.studies import STUDIES, Progress, clock


def study(name: str, *walls: float, peak_gb: float = 1.0) -> Study:
    return Study(name, [Sample(w, int(peak_gb * 1024**3), SparkMetrics(), 10) for w in walls])


def test_the_estimate_left_is_each_planned_run_at_its_labels_mean_so_far() -> None:
    progress = Progress("scaling", ["a", "b", "a", "b", "c"])

    assert progress.estimate_left() != progress.estimate_left()  # nan: nothing done yet
    progress.record("a", 10.0)
    line = progress.record("b", 30.0)

    # Left: a (10), b (30), c (not seen: the mean of all so far, 20).
    assert progress.estimate_left() == 60.0
    assert line.startswith("  [scaling: run 2/5, ")
    assert line.endswith(" so far, about 1m00s left]")
    assert (clock(59.6), clock(3600), clock(float("nan"))) == ("1m00s", "60m00s", "?")


def test_a_study_takes_its_own_options_and_options_after_it_override_them() -> None:
    args = parse_args(["--study", "scaling-16m", "--repeat", "2"])

    assert (args.study, args.only, args.sizes) == ("scaling-16m", ["scaling"], [16_000_000])
    assert args.contenders == ["materialize", "reference"]
    assert (args.repeat, args.no_inspect) == (2, True)
    assert sorted(STUDIES) == ["backfill7", "okrs", "scaling-16m", "scaling-1m", "scaling-4m"]


def report_with(tmp_path: Path, sizes: list[int]) -> Report:
    args = argparse.Namespace(clients=1_000_000, repeat=1, sizes=sizes)
    return Report(args, {"cores": "2"})


def test_a_size_measured_alone_keeps_the_other_sizes_and_every_studys_duration(
    tmp_path: Path,
) -> None:
    saved = tmp_path / "results.json"
    first = report_with(tmp_path, [1_000_000, 4_000_000])
    first.scaling = {
        1_000_000: {"materialize": study("materialize", 30), "reference": study("reference", 3)},
        4_000_000: {"materialize": study("materialize", 60), "reference": study("reference", 9)},
    }
    first.durations["scaling-4m"] = {"seconds": 900, "command": "c4", "finished": "f4"}
    first.save(saved)

    # The 16M study, alone, with two contenders: the 1M and 4M results come from the file.
    later = report_with(tmp_path, [16_000_000])
    later.merge_saved(saved)
    later.scaling.update(
        {
            16_000_000: {
                "materialize": study("materialize", 180, peak_gb=3.0),
                "reference": study("reference", 45, peak_gb=2.0),
            }
        }
    )
    later.durations["scaling-16m"] = {"seconds": 301, "command": "c16", "finished": "f16"}
    measured = later.measured()
    text = later.render()

    assert sorted(later.scaling) == [1_000_000, 4_000_000, 16_000_000]
    assert later.marginal("materialize", 1_000_000, 4_000_000) == 10.0
    assert later.marginal("materialize", 4_000_000, 16_000_000) == 10.0
    assert later.marginal("reference", 4_000_000, 16_000_000) == 3.0
    assert measured["materialize / reference (DuckDB), 16M clients"] == 4.0
    assert measured["marginal s per 1M clients, materialize / reference, 1M→4M"] == 5.0
    assert measured["materialize / reference peak memory, 16M clients"] == 1.5
    assert "| scaling-16m | `c16` | 5m01s | f16 |" in text
    assert "| scaling-4m | `c4` | 15m00s | f4 |" in text
    assert "| materialize | 30.0 | 60.0 | 180.0 | 10.0 | 10.0 | 1.00 | 1.00 | 3.00 | 10 |" in text


class FakeProcess:
    """A process as psutil reports it: its own CPU times and those of its reaped children."""

    def __init__(self, pid: int, user: float, system: float, reaped: float) -> None:
        self.pid = pid
        self.times = SimpleNamespace(
            user=user, system=system, children_user=reaped, children_system=0.0
        )

    def cpu_times(self) -> Any:
        return self.times


def test_a_tree_s_cpu_counts_each_process_once_not_again_in_its_parent() -> None:
    # The parent has reaped a child that was sampled while it ran: the child's 2.0 s are in
    # the parent's children times and under the child's own pid.
    seen: dict[int, float] = {}
    tree_cpu([FakeProcess(1, 0.25, 0.5, 0.0), FakeProcess(2, 1.5, 0.5, 0.0)], seen)  # type: ignore[list-item]
    tree_cpu([FakeProcess(1, 0.25, 0.5, 2.0)], seen)  # type: ignore[list-item]

    assert seen == {1: 0.75, 2: 2.0}
    assert sum(seen.values()) == 2.75
