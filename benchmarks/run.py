"""The benchmark: `python -m benchmarks` (or `make bench`). See BENCHMARKS.md for the results
and the README for what each contender is.

Every contender runs as a fresh process tree, A/B interleaved (round 1 of every contender,
then round 2, ...), and each figure is the median over the rounds. Spark's metrics come from
each run's event log (benchmarks/eventlog.py), memory from polling the process tree.
"""

import argparse
import hashlib
import json
import math
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from addon_okrs.dataset.days import day_range
from addon_okrs.runtime import class_archive
from addon_okrs.runtime.java import find_java
from addon_okrs.runtime.spark import Machine, local_sizes
from addon_okrs.settings import Settings, parse_spark_conf
from addon_okrs.storage.catalog import ADDON_AGGREGATES, SOURCES
from addon_okrs.tools import generate
from addon_okrs.tools.generate import generate_day, generate_days
from benchmarks.eventlog import event_log_conf, read_event_logs
from benchmarks.notebook import explain_differences
from benchmarks.procs import measure
from benchmarks.profile import profile_run
from benchmarks.report import JVM_OPTIONS, Report
from benchmarks.results import GB, Sample, Study, combine
from benchmarks.studies import STUDIES as STUDY_SPECS
from benchmarks.studies import Progress, clock
from harness.reference import reference_addon_aggregates
from harness.servers import (
    child_env,
    materialize_command,
    spark_connect_server,
    spark_standalone_cluster,
)

REPO = Path(__file__).resolve().parent.parent
FIRST_DAY = "20170501"
# Each builds addons/agg/v1 for the day (floor only reads): `materialize` is the asset graph up
# to addon_aggregates and its checks, what the notebook and DuckDB compute too.
CONTENDERS = ["materialize", "fused", "floor", "notebook", "reference"]
STUDIES = ["scaling", "backfill7", "okrs", "engines"]
# `engines` is not in the default run: it compares local mode with a loopback standalone
# cluster and a Spark Connect server (issue 6's report), and starts those servers itself.
DEFAULT_STUDIES = ["scaling", "backfill7", "okrs"]
# `okrs`: one day built up to each of these assets, to show what each OKR asset adds.
OKR_SELECTIONS = {
    "to_addon_aggregates": "*addon_aggregates",
    "to_addon_okr_metrics": "*addon_okr_metrics",
    "to_addon_okr_report": "*addon_okr_report",
}

# Hadoop's vectored parquet reads happen on other threads, which Spark's per-task input
# metrics do not see (bytes read show as ~2% of the truth); the classic read path is counted.
MEASURED_READS = {"spark.hadoop.parquet.hadoop.vectored.io.enabled": "false"}


def generator_fingerprint() -> str:
    """The generator's code and how a large day is cut into parts: what a cached day depends on."""
    source = Path(generate.__file__).read_bytes() + f"\nPART_CLIENTS={PART_CLIENTS}".encode()
    return hashlib.sha256(source).hexdigest()[:10]


# The generator holds a day in memory (about 1.5 GB per million clients): a larger day is
# generated in parts of this many clients, each with its own seed.
PART_CLIENTS = 4_000_000


def source_data(cache: Path, clients: int, days: int) -> Path:
    """Generated source days, reused while the generator is unchanged."""
    root = cache / "data" / f"clients{clients}-days{days}-{generator_fingerprint()}"
    done = root / ".complete"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        print(f"generating {days} day(s) of {clients:,} clients into {root}", flush=True)
        if clients <= PART_CLIENTS:
            for day in generate_days(root.as_uri(), FIRST_DAY, days, clients):
                print(f"  {day.day}: {day.pings:,} pings, {day.addon_rows:,} addons rows")
        else:  # one day only: the parts of a day too large to generate in memory at once
            if days != 1:
                raise ValueError(f"{clients:,} clients: only one day of that size is generated")
            for part in range(math.ceil(clients / PART_CLIENTS)):
                size = min(PART_CLIENTS, clients - part * PART_CLIENTS)
                day = generate_day(root.as_uri(), FIRST_DAY, size, seed=part, part=part)
                print(
                    f"  {day.day} part {part}: {day.pings:,} pings, {day.addon_rows:,} addons rows"
                )
        done.touch()
    return root


def input_rows(root: Path, days: list[str]) -> int:
    """Rows of both source tables on the given days, from the parquet footers."""
    total = 0
    for table in SOURCES:
        for day in days:
            for file in (root / table.day_path(day)).rglob("*.parquet"):
                total += pq.read_metadata(file).num_rows
    return total


class Runner:
    """Runs one contender once, in a fresh folder, and returns what it measured."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.dagster_home = work / "dagster_home"
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        self.bin = Path(sys.executable).parent
        self.count = 0
        # The study under way, told each run as it ends (its progress and what is left).
        self.progress: Progress | None = None

    def run(
        self,
        label: str,
        source: Path,
        command: list[str],
        extra_env: dict[str, str] | None = None,
        event_log: bool = True,
        inspect: Callable[[Path, list[Path]], None] | None = None,
        repo: Path = REPO,
    ) -> Sample:
        """One run of `command`; extra_env is added to the environment, and `event_log=False`
        leaves Spark's conf alone (a Spark Connect client cannot set the server's event log).
        `inspect` is called with the run's output root and event log files before the output
        is removed. `repo`: the checkout whose code runs (this one unless told)."""
        self.count += 1
        folder = self.work / f"{self.count:03d}-{label}"
        events = folder / "events"
        events.mkdir(parents=True)
        out = folder / "out"
        conf = {**event_log_conf(events), **MEASURED_READS}
        env = child_env(
            DAGSTER_HOME=str(self.dagster_home),
            ADDON_OKRS_SOURCE_ROOT=source.as_uri(),
            ADDON_OKRS_OUTPUT_ROOT=out.as_uri(),
            PYTHONPATH=str(repo),
            # backfill7 is one run over a range, which Dagster's CLI runs only for assets that
            # backfill as a single run.
            ADDON_OKRS_BACKFILL_DAYS_PER_RUN="0",
            **(extra_env or {}),
        )
        if event_log:
            conf.update(parse_spark_conf(env.get("ADDON_OKRS_SPARK_CONF", "")))
            env["ADDON_OKRS_SPARK_CONF"] = json.dumps(conf)
        env.pop("ADDON_OKRS_INTERMEDIATE_ROOT", None)
        command = [
            a.replace("{out}", out.as_uri()).replace("{source}", source.as_uri()) for a in command
        ]
        log = folder / "log.txt"
        measured = measure(command, env, log, cwd=repo)
        if measured.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-30:])
            raise SystemExit(f"{label} failed (exit {measured.returncode}); {log}:\n{tail}")
        event_logs = finished_event_logs(events)
        spark = read_event_logs(event_logs)
        rows = None
        for line in log.read_text().splitlines():
            if line.startswith("BENCH_ROWS="):
                rows = int(line.removeprefix("BENCH_ROWS="))
        if rows is None:
            rows = output_rows(out)
        print(
            f"    {label}: {measured.wall_seconds:.1f}s, "
            f"peak {measured.peak_rss_bytes / GB:.2f} GB, {spark.jobs} Spark jobs, "
            f"{rows} output rows",
            flush=True,
        )
        if self.progress is not None:
            print(self.progress.record(label, measured.wall_seconds), flush=True)
        if inspect is not None:
            inspect(out, event_logs)
        shutil.rmtree(out, ignore_errors=True)
        return Sample(
            measured.wall_seconds, measured.peak_rss_bytes, spark, rows, measured.cpu_seconds
        )

    def child(self, contender: str, days: list[str]) -> list[str]:
        return [
            str(self.bin / "python"),
            "-m",
            "benchmarks.children",
            contender,
            "--source-root",
            "{source}",
            "--out",
            "{out}",
            "--days",
            *days,
        ]

    def command(self, contender: str, days: list[str]) -> list[str]:
        if contender == "materialize":
            return materialize_command(days[0], days[-1], select="*addon_aggregates")
        return self.child(contender, days)


def materialize_rounds(
    cache: Path,
    clients: int,
    repeat: int,
    name: str,
    contenders: dict[str, dict[str, Any]],
    select: str = "*addon_aggregates",
) -> dict[str, list[Sample]]:
    """`materialize` of one cached day of `clients` (the assets of `select`), once per
    contender per round, the contenders interleaved; each contender's keyword arguments go to
    `Runner.run` (`repo`, `extra_env`). The runs' folders are removed at the end."""
    source = source_data(cache, clients, 1)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cache))
    runner = Runner(work)
    samples: dict[str, list[Sample]] = {label: [] for label in contenders}
    runner.progress = Progress(name, [label.split()[0] for label in contenders] * repeat)
    try:
        for round_ in range(1, repeat + 1):
            print(f"{name} round {round_}/{repeat}", flush=True)
            for label, how in contenders.items():
                command = materialize_command(FIRST_DAY, FIRST_DAY, select=select)
                samples[label].append(runner.run(label.split()[0], source, command, **how))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return samples


def finished_event_logs(events: Path, wait_seconds: float = 30) -> list[Path]:
    """The event log files under `events`, once Spark has closed them: a JVM may outlive the
    process that started it by a moment, and renames its `.inprogress` log when it stops."""
    deadline = time.monotonic() + wait_seconds
    while any(p.suffix == ".inprogress" for p in events.rglob("*")):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return [p for p in events.rglob("*") if p.is_file()]


def output_rows(out: Path) -> int | None:
    table = out / ADDON_AGGREGATES.path
    files = list(table.rglob("*.parquet")) if table.exists() else []
    if not files:
        return None
    return sum(pq.read_metadata(f).num_rows for f in files if "/_" not in str(f.relative_to(out)))


def machine() -> dict[str, str]:
    """The machine a report's runs are measured on, as local mode sizes itself from it (the
    cores this process may use, the memory under any cgroup limit), with the local-mode sizes
    Spark gets on it (`local_sizes`), so that a report rendered elsewhere still states them."""
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    found = Machine.found()
    sizes = local_sizes("local[*]", found)
    settings = Settings.from_env()
    archive = class_archive.archive_path(
        class_archive.folder(settings.cache_folder()), find_java(settings.java_home)
    )
    return {
        "cores": str(found.cores),
        "memory": f"{found.memory_bytes / GB:.1f} GB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": java.splitlines()[0] if java else "?",
        "pyspark": version("pyspark"),
        "dagster": version("dagster"),
        "duckdb": version("duckdb"),
        "driver memory": sizes["spark.driver.memory"],
        "shuffle partitions": sizes["spark.sql.shuffle.partitions"],
        JVM_OPTIONS: sizes["spark.driver.extraJavaOptions"],
        "class archive": "yes" if archive is not None and archive.exists() else "none",
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--study",
        choices=sorted(STUDY_SPECS),
        help="one study of `make bench` with its own options (benchmarks/studies.py); "
        "options given after it override them",
    )
    parser.add_argument("--list", action="store_true", help="the studies, and stop")
    parser.add_argument("--clients", type=int, default=1_000_000, help="clients a day")
    parser.add_argument(
        "--sizes",
        default="1000000,4000000",
        help="clients a day for the scaling study (comma-separated); each size's results "
        "replace only that size's",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated subset of {CONTENDERS} for the scaling study",
    )
    parser.add_argument(
        "--no-inspect",
        action="store_true",
        help="scaling: neither profile the largest size's first materialize run nor compare "
        "the smallest size's notebook output (a size studied for its time only)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_STUDIES),
        help=f"comma-separated subset of {STUDIES} (default: all but engines)",
    )
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench")
    parser.add_argument("--report", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    study = args.study
    if study:  # the study's own options first, so that those given with it override them
        args = parser.parse_args([*STUDY_SPECS[study].args, *argv])
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(STUDIES)
    if unknown:
        parser.error(f"unknown studies {sorted(unknown)}; choose from {STUDIES}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {CONTENDERS}")
    return args


def study_name(args: argparse.Namespace) -> str:
    """What BENCHMARKS.md calls this invocation: its --study, or its studies and sizes."""
    if args.study:
        return str(args.study)
    sizes = f" {','.join(f'{n / 1e6:g}M' for n in args.sizes)}" if "scaling" in args.only else ""
    return ",".join(args.only) + sizes


def list_studies() -> None:
    for spec in STUDY_SPECS.values():
        print(f"{spec.name:12} about {spec.minutes:2d} min  {spec.what}")
        print(f"{'':12} python -m benchmarks {' '.join(spec.args)}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.list:
        list_studies()
        return 0
    args.cache = args.cache.resolve()  # generated days are addressed by file URI
    args.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="runs-", dir=args.cache))
    runner = Runner(work)
    report = Report(args, machine())
    saved = args.cache / "results.json"
    report.merge_saved(saved)
    began = time.monotonic()

    def checkpoint() -> None:
        """Results so far, saved and rendered: a later failure loses nothing measured."""
        report.save(saved)
        args.report.write_text(report.render())

    try:
        if "scaling" in args.only:
            scaling_study(runner, args, report, checkpoint)
        if "backfill7" in args.only:
            week = day_range(FIRST_DAY, 7)
            source = source_data(args.cache, args.clients, 7)
            single, separate = Study("backfill7 single run"), Study("7 single-day runs")
            runner.progress = Progress(
                "backfill7", (["backfill7"] + [f"day-{d}" for d in week]) * args.repeat
            )
            for round_ in range(1, args.repeat + 1):
                print(f"backfill7 round {round_}/{args.repeat}", flush=True)
                single.samples.append(
                    runner.run("backfill7", source, runner.command("materialize", week))
                )
                separate.samples.append(
                    combine(
                        [
                            runner.run(f"day-{d}", source, runner.command("materialize", [d]))
                            for d in week
                        ]
                    )
                )
            report.backfill = (single, separate)
            checkpoint()

        if "okrs" in args.only:
            source = source_data(args.cache, args.clients, 1)
            report.okrs = {name: Study(name) for name in OKR_SELECTIONS}
            runner.progress = Progress("okrs", list(OKR_SELECTIONS) * args.repeat)
            for round_ in range(1, args.repeat + 1):
                print(f"okrs round {round_}/{args.repeat}", flush=True)
                for name, select in OKR_SELECTIONS.items():
                    command = materialize_command(FIRST_DAY, select=select)
                    report.okrs[name].samples.append(runner.run(name, source, command))
            report.report90 = report_build_seconds(args.cache / "report90", args.repeat)
            checkpoint()

        if "engines" in args.only:
            report.engines = engines_study(runner, args, source_data(args.cache, args.clients, 1))
            checkpoint()
        report.durations[study_name(args)] = {
            "seconds": round(time.monotonic() - began, 1),
            "command": " ".join(["python -m benchmarks", *argv]),
            "finished": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    checkpoint()
    text = report.render()
    print(text)
    print(f"written to {args.report}; {study_name(args)} took {clock(time.monotonic() - began)}")
    return 0


def scaling_study(
    runner: Runner, args: argparse.Namespace, report: Report, checkpoint: Callable[[], None]
) -> None:
    """Every contender on one day of each size, interleaved: round 1 runs each contender at
    each size, then round 2, ... The first materialize run at the largest size is profiled
    (benchmarks/profile.py); the first notebook run at the smallest size is compared with the
    contract's output (benchmarks/notebook.py)."""
    sources = {n: source_data(args.cache, n, 1) for n in args.sizes}
    for n, source in sources.items():
        report.input_rows[n] = input_rows(source, [FIRST_DAY])
    studies = {n: {c: Study(c) for c in args.contenders} for n in args.sizes}
    runner.progress = Progress(
        "scaling", [f"{c}-{n}" for n in args.sizes for c in args.contenders] * args.repeat
    )
    smallest, largest = args.sizes[0], args.sizes[-1]

    def profile(out: Path, event_logs: list[Path]) -> None:
        report.profile = profile_run(event_logs, runner.dagster_home)
        report.profile_clients = largest

    def compare(out: Path, event_logs: list[Path]) -> None:
        spec = reference_addon_aggregates(sources[smallest], [FIRST_DAY])
        day = out / ADDON_AGGREGATES.day_path(FIRST_DAY)
        report.notebook_differences = explain_differences(day, spec, sources[smallest], FIRST_DAY)
        report.notebook_clients = smallest

    for round_ in range(1, args.repeat + 1):
        for n in args.sizes:
            print(f"scaling round {round_}/{args.repeat}, {n:,} clients", flush=True)
            for c in args.contenders:
                inspect = None
                if round_ == 1 and not args.no_inspect:
                    if c == "materialize" and n == largest:
                        inspect = profile
                    elif c == "notebook" and n == smallest:
                        inspect = compare
                command = runner.command(c, [FIRST_DAY])
                sample = runner.run(f"{c}-{n}", sources[n], command, inspect=inspect)
                studies[n][c].samples.append(sample)
        report.scaling.update(studies)  # the other sizes' results stay
        report.contenders = report.scaling.get(args.clients, {})
        checkpoint()


def engines_study(runner: Runner, args: argparse.Namespace, source: Path) -> dict[str, Study]:
    """One day through `dagster asset materialize` on each engine, chosen by settings only:
    local mode; a standalone cluster (master + 2 workers of 1 core and 1 GB, on loopback);
    Spark Connect (a local[2] server with 2 GB), with the multiprocess executor that a remote
    engine defaults to and with the in-process one (one client session for the run)."""
    names = ("local", "standalone", "connect", "connect_in_process")
    studies = {name: Study(name) for name in names}
    runner.progress = Progress("engines", [f"engine-{name}" for name in names] * args.repeat)
    command = materialize_command(FIRST_DAY)
    with (
        spark_standalone_cluster(
            runner.work / "cluster", workers=2, cores=1, memory="1g"
        ) as cluster,
        spark_connect_server(
            runner.work / "connect", master="local[2]", driver_memory="2g"
        ) as connect,
    ):
        cluster_conf = "spark.executor.memory=1g,spark.sql.shuffle.partitions=8"
        settings = {
            "local": ({}, True),
            "standalone": (
                {
                    "ADDON_OKRS_SPARK_MASTER": cluster.master_url,
                    "ADDON_OKRS_SPARK_CONF": cluster_conf,
                },
                True,
            ),
            "connect": ({"ADDON_OKRS_SPARK_REMOTE": connect.url}, False),
            "connect_in_process": (
                {"ADDON_OKRS_SPARK_REMOTE": connect.url, "ADDON_OKRS_EXECUTOR": "in_process"},
                False,
            ),
        }
        for round_ in range(1, args.repeat + 1):
            print(f"engines round {round_}/{args.repeat}", flush=True)
            for name, (env, event_log) in settings.items():
                studies[name].samples.append(
                    runner.run(f"engine-{name}", source, command, env, event_log)
                )
    return studies


def report_build_seconds(folder: Path, repeat: int) -> list[float]:
    """Seconds to build, draw and publish the OKR report over 90 days of addons/okr/v1 (in
    this process, matplotlib already imported: the report asset's own work)."""
    import pyarrow as pa

    from addon_okrs.dataset import report as okr_report
    from addon_okrs.defs.resources.storage import ReportStoreResource, WarehouseResource
    from addon_okrs.storage.catalog import ADDON_OKR_METRICS

    shutil.rmtree(folder, ignore_errors=True)
    days = day_range("20170301", 90)
    for i, day in enumerate(days):
        row = {
            "n_clients": 1_000_000,
            "n_clients_with_addons": 800_000,
            "self_installers": 700_000 + 1_000 * i,
            "self_installer_share": (700_000 + 1_000 * i) / 1_000_000,
            "self_installed_addons": 1_200_000 + 2_000 * i,
            "addons_per_profile": (1_200_000 + 2_000 * i) / 1_000_000,
            "new_profile_self_installers": 9_000 + 30 * i,
        }
        rows = [{"normalized_channel": c, **row} for c in ("release", "beta", "all")]
        target = folder / ADDON_OKR_METRICS.day_path(day)
        target.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), target / "part-0.parquet")
    uri = folder.as_uri()
    reports = ReportStoreResource(
        warehouse=WarehouseResource(
            source_root=uri, output_root=uri, intermediate_root=f"{uri}/intermediate"
        )
    )
    seconds = []
    for round_ in range(repeat + 1):  # the first round warms matplotlib's caches, unmeasured
        started = time.monotonic()
        built = reports.build(days[-1])
        png = okr_report.render_png(built)
        html = okr_report.render_html(built, png).encode()
        reports.publish(days[-1], {"okrs.png": png, "index.html": html}, f"bench{round_}")
        if round_:
            seconds.append(time.monotonic() - started)
    shutil.rmtree(folder, ignore_errors=True)
    return seconds
