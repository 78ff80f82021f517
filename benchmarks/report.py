"""BENCHMARKS.md from the measured studies: tables, ratios and the issue's targets."""

import argparse
import dataclasses
import datetime as dt
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addon_okrs.runtime.spark import LOCAL_DEFAULTS
from benchmarks import profile as stage_profile
from benchmarks.eventlog import SparkMetrics
from benchmarks.notebook import Differences
from benchmarks.results import Sample, Study
from benchmarks.studies import clock

JVM_OPTIONS = "driver JVM options"  # a key of the machine (benchmarks.run.machine)

# Each target is an upper bound on a measured value (docs/performance.md says where each
# comes from), at the size its name says.
TARGETS = {
    "materialize / notebook, 4M clients": 0.25,
    "materialize / reference (DuckDB), 4M clients": 3.5,
    "materialize / reference (DuckDB), 16M clients": 2.5,
    "marginal s per 1M clients, materialize / reference, 1M→4M": 2.0,
    "marginal s per 1M clients, materialize / reference, 4M→16M": 2.0,
    "materialize / floor": 1.5,
    "main_summary bytes read, materialize / floor": 1.1,
    "addons bytes read, materialize / floor": 1.1,
    "backfill7 single run / 7 single-day runs": 0.5,
    "materialize peak memory (GB), 4M clients": 4.0,
    "materialize / reference peak memory, 16M clients": 1.0,
}


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


@dataclass
class Report:
    args: argparse.Namespace
    machine: dict[str, str]
    input_rows: dict[int, int] = field(default_factory=dict)
    contenders: dict[str, Study] = field(default_factory=dict)
    backfill: tuple[Study, Study] | None = None
    scaling: dict[int, dict[str, Study]] = field(default_factory=dict)
    engines: dict[str, Study] = field(default_factory=dict)
    okrs: dict[str, Study] = field(default_factory=dict)
    report90: list[float] = field(default_factory=list)
    profile: stage_profile.Profile | None = None
    profile_clients: int | None = None
    notebook_differences: Differences | None = None
    notebook_clients: int | None = None
    # What each study took: study -> {"seconds", "command", "finished"}.
    durations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Raw samples, so that a later run of one study (--only) keeps the others' results."""

        def sample(x: Sample) -> dict[str, Any]:
            # Not dataclasses.asdict: it rebuilds the Counter from (key, value) pairs.
            spark = {**vars(x.spark), "bytes_read": dict(x.spark.bytes_read)}
            return {"wall": x.wall, "peak_rss": x.peak_rss, "rows": x.rows, "spark": spark}

        def study(s: Study) -> dict[str, Any]:
            return {"name": s.name, "samples": [sample(x) for x in s.samples]}

        data = {
            "clients": self.args.clients,
            "repeat": self.args.repeat,
            "machine": self.machine,
            "input_rows": self.input_rows,
            "contenders": {k: study(v) for k, v in self.contenders.items()},
            "backfill": [study(s) for s in self.backfill] if self.backfill else None,
            "scaling": {n: {k: study(v) for k, v in s.items()} for n, s in self.scaling.items()},
            "engines": {k: study(v) for k, v in self.engines.items()},
            "okrs": {k: study(v) for k, v in self.okrs.items()},
            "report90": self.report90,
            "profile": dataclasses.asdict(self.profile) if self.profile else None,
            "notebook_differences": (
                dataclasses.asdict(self.notebook_differences) if self.notebook_differences else None
            ),
            "profile_clients": self.profile_clients,
            "notebook_clients": self.notebook_clients,
            "durations": self.durations,
        }
        path.write_text(json.dumps(data, indent=1))

    def merge_saved(self, path: Path) -> None:
        """Fill in the studies this invocation did not run from an earlier one at the same N."""
        if not path.exists():
            return
        data = json.loads(path.read_text())
        if data["clients"] != self.args.clients:
            return

        def study(d: dict[str, Any]) -> Study:
            samples = []
            for x in d["samples"]:
                spark = SparkMetrics(
                    **{**x["spark"], "bytes_read": Counter(x["spark"]["bytes_read"])}
                )
                samples.append(Sample(**{**x, "spark": spark}))
            return Study(d["name"], samples)

        for n, rows in data["input_rows"].items():
            self.input_rows.setdefault(int(n), rows)
        if not self.contenders:
            self.contenders = {k: study(v) for k, v in data["contenders"].items()}
        if not self.backfill and data["backfill"]:
            single, separate = data["backfill"]
            self.backfill = (study(single), study(separate))
        for n, studies in data["scaling"].items():
            self.scaling.setdefault(int(n), {k: study(v) for k, v in studies.items()})
        if not self.engines:
            self.engines = {k: study(v) for k, v in data.get("engines", {}).items()}
        if not self.okrs:
            self.okrs = {k: study(v) for k, v in data.get("okrs", {}).items()}
        if not self.report90:
            self.report90 = data.get("report90", [])
        if self.profile is None and data.get("profile"):
            self.profile = stage_profile.Profile.from_dict(data["profile"])
            self.profile_clients = data.get("profile_clients")
        if self.notebook_differences is None and data.get("notebook_differences"):
            self.notebook_differences = Differences(**data["notebook_differences"])
            self.notebook_clients = data.get("notebook_clients")
        for name, took in data.get("durations", {}).items():
            self.durations.setdefault(name, took)

    def render(self) -> str:
        lines = [
            "# Benchmarks",
            "",
            f"Rendered {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from the results of "
            "`python -m benchmarks` (`make bench`; `--only` re-runs some studies and keeps the "
            "others' last results). Each figure is the median of the runs listed in its row "
            "(3 unless a row shows fewer), contenders interleaved round by round; each run is "
            "a fresh process tree.",
            "",
            "Machine: "
            + ", ".join(f"{k} {v}" for k, v in self.machine.items() if k != JVM_OPTIONS)
            + ". Spark local mode, `local[*]`, "
            + (
                "the driver memory and shuffle partitions above (local mode's, from the machine), "
                if "driver memory" in self.machine
                else ""
            )
            + "AQE on, "
            f"`{self.machine.get(JVM_OPTIONS, LOCAL_DEFAULTS['spark.driver.extraJavaOptions'])}`.",
            "",
            "Wall time is the whole process (start-up included); peak memory is the highest "
            "sum of resident memory over the process tree (Python and the JVM; a fork of the "
            "JVM that has not exec'd shares its pages and is not counted again); Spark figures "
            "come from each run's event log (bytes read are task input metrics, per table "
            "through the scan nodes of the SQL plans). Every Spark run, `floor` included, has "
            "`spark.hadoop.parquet.hadoop.vectored.io.enabled=false`: Hadoop's vectored parquet "
            "reads happen on threads that the task metrics do not see, which would show about 2% "
            "of the bytes actually read.",
            "",
        ]
        lines += self._durations()
        lines += self._contenders()
        lines += self._backfill()
        lines += self._scaling()
        lines += self._okrs()
        lines += self._engines()
        lines += self._targets()
        return "\n".join(lines) + "\n"

    def _durations(self) -> list[str]:
        if not self.durations:
            return []
        out = [
            "## The studies",
            "",
            "Each study is one command (`make bench STUDY=NAME`, or the command below); "
            "`make bench` runs them one after another. What each took when its results below "
            "were measured, its generated data already cached unless it generated it:",
            "",
            "| study | command | took | finished (UTC) |",
            "|---|---|---|---|",
        ]
        for name, took in sorted(self.durations.items()):
            out.append(
                f"| {name} | `{took['command']}` | {clock(took['seconds'])} | {took['finished']} |"
            )
        return [*out, ""]

    def _contenders(self) -> list[str]:
        if not self.contenders:
            return []
        n = self.args.clients
        out = [
            f"## One day, {n:,} clients ({self.input_rows.get(n, 0):,} source rows)",
            "",
            "| contender | wall s | peak GB | main_summary MB read | addons MB read "
            "| shuffle MB written | Spark jobs | output rows | runs (s) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, s in self.contenders.items():
            spark = name != "reference"
            runs = ", ".join(f"{x.wall:.1f}" for x in s.samples)
            out.append(
                f"| {name} | {s.wall:.1f} | {s.peak_gb:.2f} | "
                + (
                    f"{s.read_mb('main_summary'):.1f} | {s.read_mb('addons'):.1f} | "
                    f"{s.shuffle_mb:.0f} | {s.jobs:.0f} | "
                    if spark
                    else "- | - | - | - | "
                )
                + f"{s.samples[0].rows if s.samples[0].rows is not None else '-'} | {runs} |"
            )
        out.append("")
        floor = self.contenders.get("floor")
        if floor:
            out += ["Ratios to `floor` (time):", ""]
            for name, s in self.contenders.items():
                if name != "floor":
                    out.append(f"- {name} / floor: {ratio(s.wall, floor.wall):.2f}x")
            out.append("")
        return out

    def _backfill(self) -> list[str]:
        if not self.backfill:
            return []
        single, separate = self.backfill
        return [
            f"## Seven days, {self.args.clients:,} clients a day",
            "",
            "| how | wall s | peak GB | Spark jobs | output rows | runs (s) |",
            "|---|---|---|---|---|---|",
            *(
                f"| {s.name} | {s.wall:.1f} | {s.peak_gb:.2f} | {s.jobs:.0f} | "
                f"{s.samples[0].rows} | {', '.join(f'{x.wall:.1f}' for x in s.samples)} |"
                for s in (single, separate)
            ),
            "",
            f"Single run / seven runs: {ratio(single.wall, separate.wall):.2f}x.",
            "",
        ]

    def sizes_of(self, contender: str) -> list[int]:
        """The sizes the scaling study ran `contender` at, smallest first."""
        return sorted(n for n, studies in self.scaling.items() if studies.get(contender))

    def marginal(self, contender: str, small: int, big: int) -> float | None:
        """Seconds each extra million clients adds between two sizes, if it ran at both."""
        if small not in self.sizes_of(contender) or big not in self.sizes_of(contender):
            return None
        extra = self.scaling[big][contender].wall - self.scaling[small][contender].wall
        return extra / ((big - small) / 1e6)

    def steps(self) -> list[tuple[int, int]]:
        """Consecutive pairs of the scaling study's sizes: 1M -> 4M, 4M -> 16M."""
        sizes = sorted(self.scaling)
        return list(itertools.pairwise(sizes))

    def _scaling(self) -> list[str]:
        if not self.scaling:
            return []
        sizes = sorted(self.scaling)
        names = list(dict.fromkeys(c for n in sizes for c in self.scaling[n]))
        head = " | ".join(f"{n / 1e6:g}M clients s" for n in sizes)
        steps = " | ".join(f"s per extra 1M, {a / 1e6:g}M→{b / 1e6:g}M" for a, b in self.steps())
        peaks = " | ".join(f"{n / 1e6:g}M peak GB" for n in sizes)
        columns = [head, *([steps] if steps else []), peaks, "output rows", "runs (s)"]
        width = len(sizes) * 2 + len(self.steps()) + 2
        out = [
            "## Scaling with the day's size",
            "",
            "One day of each size ("
            + ", ".join(f"{n:,} clients: {self.input_rows.get(n, 0):,} source rows" for n in sizes)
            + "), each size its own study (its contenders interleaved round by round). "
            "Marginal cost: the extra seconds per extra million clients from one size to the "
            "next. `-`: not run at that size.",
            "",
            f"| contender | {' | '.join(columns)} |",
            "|---|" + "---|" * width,
        ]
        for name in names:
            at = [self.scaling[n].get(name) for n in sizes]
            walls = [f"{s.wall:.1f}" if s else "-" for s in at]
            marginals = []
            for a, b in self.steps():
                m = self.marginal(name, a, b)
                marginals.append(f"{m:.1f}" if m is not None else "-")
            peaks_of = [f"{s.peak_gb:.2f}" if s else "-" for s in at]
            largest = [s for s in at if s and s.samples][-1:]
            rows = largest[0].samples[0].rows if largest else None
            runs = "; ".join(", ".join(f"{x.wall:.1f}" for x in s.samples) for s in at if s)
            cells = [*walls, *marginals, *peaks_of, str(rows) if rows is not None else "-", runs]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
        for n in sizes:
            here = self.scaling[n]
            if "materialize" not in here or len(here) < 2:
                continue
            m = here["materialize"].wall
            out += [f"At {n:,} clients:", ""]
            for name, study in here.items():
                if name != "materialize":
                    out.append(f"- {name} / materialize: {ratio(study.wall, m):.2f}x")
            out.append("")
        for a, b in self.steps():
            mine, theirs = self.marginal("materialize", a, b), self.marginal("reference", a, b)
            if mine is not None and theirs is not None:
                out.append(
                    f"- marginal cost {a / 1e6:g}M→{b / 1e6:g}M, materialize / reference: "
                    f"{ratio(mine, theirs):.2f}x"
                )
        out.append("")
        if self.notebook_differences:
            out += self._notebook_differences(self.notebook_clients or sizes[0])
        if self.profile:
            out += self._profile(self.profile_clients or sizes[-1])
        return out

    def _notebook_differences(self, clients: int) -> list[str]:
        d = self.notebook_differences
        assert d is not None
        bugs = ", ".join(
            f"bug {k.replace(' ', ' + ')}: {v:,}" for k, v in sorted(d.explained.items())
        )
        return [
            f"### The notebook's output against the contract's, {clients:,} clients",
            "",
            f"Contract (DuckDB reference) {d.spec_rows:,} rows, notebook {d.notebook_rows:,} "
            f"rows; {d.equal_rows:,} equal. Rows that differ, by the known bug that explains "
            f"them (docs/dataset.md numbers; `3 + 5`: a row both change): {bugs}. "
            f"**Unexplained: {d.unexplained:,}.** Bug 6 (the plan run twice) shows as the "
            "notebook's Spark jobs.",
            "",
        ]

    def _profile(self, clients: int) -> list[str]:
        assert self.profile is not None
        return [
            f"### Where a `materialize` run's time goes, {clients:,} clients",
            "",
            "The first round's run, from its Spark event log and its Dagster event log "
            "(benchmarks/profile.py). `step s` is the step's wall time in Dagster (the first "
            "step includes the Spark session's start); the other figures are Spark's task "
            "metrics summed per stage: `task s` is its tasks' run time added up (the work; two "
            "cores run two tasks at a time), `s` the stage's submission to completion (stages "
            "that AQE submits together overlap). `reads`: the tables scanned (`intermediate`: "
            "one of the run's own intermediates read back), `shuffle`: a shuffle read; "
            "`writes`: where the stage's rows went. Spill is memory and disk spill together.",
            "",
            *stage_profile.render(self.profile),
            "",
        ]

    def _okrs(self) -> list[str]:
        if not self.okrs:
            return []
        out = [
            f"## What the OKR assets add, one day of {self.args.clients:,} clients",
            "",
            "`dagster asset materialize` of one day up to each asset (`--select '*ASSET'`), "
            "the three interleaved round by round.",
            "",
            "| built | wall s | added by the last asset s | peak GB | runs (s) |",
            "|---|---|---|---|---|",
        ]
        previous = None
        for name, s in self.okrs.items():
            added = "-" if previous is None else f"{s.wall - previous:+.1f}"
            out.append(
                f"| {name} | {s.wall:.1f} | {added} | {s.peak_gb:.2f} | "
                f"{', '.join(f'{x.wall:.1f}' for x in s.samples)} |"
            )
            previous = s.wall
        if self.report90:
            median = sorted(self.report90)[len(self.report90) // 2]
            out += [
                "",
                f"The report over 90 days of addons/okr/v1 (read, drawn, written): "
                f"{median:.2f} s, median of {len(self.report90)} "
                f"({', '.join(f'{x:.2f}' for x in self.report90)}), in-process.",
            ]
        out.append("")
        return out

    def _engines(self) -> list[str]:
        if not self.engines:
            return []
        local = self.engines.get("local")
        out = [
            f"## One day on each engine, {self.args.clients:,} clients",
            "",
            "`dagster asset materialize` of every asset and check, the engine chosen by "
            "settings only: local mode (`local[*]`); a standalone cluster on loopback (master "
            "and two workers of 1 core and 1 GB, `ADDON_OKRS_SPARK_MASTER`); a Spark Connect "
            "server on loopback (`local[2]`, 2 GB, `ADDON_OKRS_SPARK_REMOTE`), with the "
            "multiprocess executor a remote engine defaults to (`connect`: one process and "
            "session per step) and with `ADDON_OKRS_EXECUTOR=in_process` (`connect_in_process`: "
            "one session for the run). The Connect server stays up across rounds, as a "
            "deployment's does. Same machine, same 2 cores: this "
            "shows the overheads of each way of running, not a speed-up. Peak memory is the "
            "Dagster process tree's; the cluster's and the server's JVMs are not in it.",
            "",
            "| engine | wall s | vs local | client peak GB | output rows | runs (s) |",
            "|---|---|---|---|---|---|",
        ]
        for name, s in self.engines.items():
            versus = f"{ratio(s.wall, local.wall):.2f}x" if local else "-"
            out.append(
                f"| {name} | {s.wall:.1f} | {versus} | {s.peak_gb:.2f} | {s.samples[0].rows} | "
                f"{', '.join(f'{x.wall:.1f}' for x in s.samples)} |"
            )
        out.append("")
        return out

    def measured(self) -> dict[str, float]:
        values: dict[str, float] = {}
        m, f = self.contenders.get("materialize"), self.contenders.get("floor")
        if m and f:
            values["materialize / floor"] = ratio(m.wall, f.wall)
            values["main_summary bytes read, materialize / floor"] = ratio(
                m.read_mb("main_summary"), f.read_mb("main_summary")
            )
            values["addons bytes read, materialize / floor"] = ratio(
                m.read_mb("addons"), f.read_mb("addons")
            )
        for contender, key in (("notebook", "notebook"), ("reference", "reference (DuckDB)")):
            both = [n for n in self.sizes_of(contender) if n in self.sizes_of("materialize")]
            for n in both:
                values[f"materialize / {key}, {n / 1e6:g}M clients"] = ratio(
                    self.scaling[n]["materialize"].wall, self.scaling[n][contender].wall
                )
                if contender == "reference":
                    values[f"materialize / reference peak memory, {n / 1e6:g}M clients"] = ratio(
                        self.scaling[n]["materialize"].peak_gb, self.scaling[n][contender].peak_gb
                    )
        for a, b in self.steps():
            mm, mr = self.marginal("materialize", a, b), self.marginal("reference", a, b)
            if mm is not None and mr is not None:
                values[
                    f"marginal s per 1M clients, materialize / reference, {a / 1e6:g}M→{b / 1e6:g}M"
                ] = ratio(mm, mr)
        for n in self.sizes_of("materialize"):
            values[f"materialize peak memory (GB), {n / 1e6:g}M clients"] = self.scaling[n][
                "materialize"
            ].peak_gb
        if self.backfill:
            single, separate = self.backfill
            values["backfill7 single run / 7 single-day runs"] = ratio(single.wall, separate.wall)
        return values

    def _targets(self) -> list[str]:
        values = self.measured()
        if not values:
            return []
        out = ["## Targets", "", "| target | at most | measured | met |", "|---|---|---|---|"]
        for name, limit in TARGETS.items():
            if name in values:
                met = "yes" if values[name] <= limit else "**no**"
                out.append(f"| {name} | {limit} | {values[name]:.2f} | {met} |")
        out.append("")
        return out
