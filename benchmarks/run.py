"""The benchmark: `python -m benchmarks` (or `make bench`). See BENCHMARKS.md for the results
and the README for what each contender is.

Every contender runs as a fresh process tree, A/B interleaved (round 1 of every contender,
then round 2, ...), and each figure is the median over the rounds. Spark's metrics come from
each run's event log (benchmarks/eventlog.py), memory from polling the process tree.
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import psutil
import pyarrow.parquet as pq

from addon_okrs.catalog import ADDON_AGGREGATES, SOURCES
from addon_okrs.generate import generate_days
from addon_okrs.schema import DAY_FORMAT
from addon_okrs.settings import parse_spark_conf
from benchmarks.eventlog import event_log_conf, read_event_logs
from benchmarks.procs import measure
from benchmarks.report import Report
from benchmarks.results import GB, Sample, Study, combine
from harness.servers import (
    child_env,
    materialize_command,
    spark_connect_server,
    spark_standalone_cluster,
)

REPO = Path(__file__).resolve().parent.parent
FIRST_DAY = "20170501"
CONTENDERS = ["materialize", "fused", "floor", "reference"]
STUDIES = [*CONTENDERS, "backfill7", "scaling", "okrs", "engines"]
# `engines` is not in the default run: it compares local mode with a loopback standalone
# cluster and a Spark Connect server (issue 6's report), and starts those servers itself.
DEFAULT_STUDIES = [*CONTENDERS, "backfill7", "scaling", "okrs"]
# `okrs`: one day built up to each of these assets, to show what each OKR asset adds.
OKR_SELECTIONS = {
    "to_addon_aggregates": "*addon_aggregates",
    "to_addon_okr_metrics": "*addon_okr_metrics",
    "to_addon_okr_report": "*addon_okr_report",
}

# Hadoop's vectored parquet reads happen on other threads, which Spark's per-task input
# metrics do not see (bytes read show as ~2% of the truth); the classic read path is counted.
MEASURED_READS = {"spark.hadoop.parquet.hadoop.vectored.io.enabled": "false"}


def days_from(first: str, count: int) -> list[str]:
    start = dt.datetime.strptime(first, DAY_FORMAT)
    return [(start + dt.timedelta(days=i)).strftime(DAY_FORMAT) for i in range(count)]


def generator_fingerprint() -> str:
    source = (REPO / "addon_okrs" / "generate.py").read_bytes()
    return hashlib.sha256(source).hexdigest()[:10]


def source_data(cache: Path, clients: int, days: int) -> Path:
    """Generated source days, reused while the generator is unchanged."""
    root = cache / "data" / f"clients{clients}-days{days}-{generator_fingerprint()}"
    done = root / ".complete"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        print(f"generating {days} day(s) of {clients:,} clients into {root}", flush=True)
        for day in generate_days(root.as_uri(), FIRST_DAY, days, clients):
            print(f"  {day.day}: {day.pings:,} pings, {day.addon_rows:,} addons rows", flush=True)
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

    def run(
        self,
        label: str,
        source: Path,
        command: list[str],
        extra_env: dict[str, str] | None = None,
        event_log: bool = True,
    ) -> Sample:
        """One run of `command`; extra_env is added to the environment, and `event_log=False`
        leaves Spark's conf alone (a Spark Connect client cannot set the server's event log)."""
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
            PYTHONPATH=str(REPO),
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
        measured = measure(command, env, log, cwd=REPO)
        if measured.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-30:])
            raise SystemExit(f"{label} failed (exit {measured.returncode}); {log}:\n{tail}")
        spark = read_event_logs([p for p in events.rglob("*") if p.is_file()])
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
        shutil.rmtree(out, ignore_errors=True)
        return Sample(measured.wall_seconds, measured.peak_rss_bytes, spark, rows)

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
            return materialize_command(days[0], days[-1])
        return self.child(contender, days)


def output_rows(out: Path) -> int | None:
    table = out / ADDON_AGGREGATES.path
    files = list(table.rglob("*.parquet")) if table.exists() else []
    if not files:
        return None
    return sum(pq.read_metadata(f).num_rows for f in files if "/_" not in str(f.relative_to(out)))


def machine() -> dict[str, str]:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / GB:.1f} GB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": java.splitlines()[0] if java else "?",
        "pyspark": version("pyspark"),
        "dagster": version("dagster"),
        "duckdb": version("duckdb"),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--clients", type=int, default=1_000_000, help="clients a day")
    parser.add_argument(
        "--sizes",
        default="250000,1000000,4000000",
        help="clients a day for the scaling study (comma-separated)",
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
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(STUDIES)
    if unknown:
        parser.error(f"unknown studies {sorted(unknown)}; choose from {STUDIES}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.cache = args.cache.resolve()  # generated days are addressed by file URI
    args.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="runs-", dir=args.cache))
    runner = Runner(work)
    report = Report(args, machine())
    saved = args.cache / "results.json"
    report.merge_saved(saved)

    def checkpoint() -> None:
        """Results so far, saved and rendered: a later failure loses nothing measured."""
        report.save(saved)
        args.report.write_text(report.render())

    one_day = [FIRST_DAY]
    try:
        contenders = [c for c in CONTENDERS if c in args.only]
        if contenders:
            source = source_data(args.cache, args.clients, 1)
            report.input_rows[args.clients] = input_rows(source, one_day)
            studies = {c: Study(c) for c in contenders}
            for round_ in range(1, args.repeat + 1):
                print(f"round {round_}/{args.repeat}, {args.clients:,} clients", flush=True)
                for c in contenders:
                    studies[c].samples.append(runner.run(c, source, runner.command(c, one_day)))
            merged = {**report.contenders, **studies}  # keeps earlier results of others
            report.contenders = {c: merged[c] for c in CONTENDERS if c in merged}
            checkpoint()

        if "backfill7" in args.only:
            week = days_from(FIRST_DAY, 7)
            source = source_data(args.cache, args.clients, 7)
            single, separate = Study("backfill7 single run"), Study("7 single-day runs")
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

        if "scaling" in args.only:
            for clients in args.sizes:
                source = source_data(args.cache, clients, 1)
                report.input_rows[clients] = input_rows(source, one_day)
                if clients == args.clients and "materialize" in report.contenders:
                    report.scaling[clients] = {
                        c: report.contenders[c]
                        for c in ("materialize", "floor")
                        if c in report.contenders
                    }
                    if len(report.scaling[clients]) == 2:
                        continue
                studies = {c: Study(c) for c in ("materialize", "floor")}
                for round_ in range(1, args.repeat + 1):
                    print(f"scaling {clients:,} clients, round {round_}/{args.repeat}", flush=True)
                    for c, study in studies.items():
                        study.samples.append(runner.run(c, source, runner.command(c, one_day)))
                report.scaling[clients] = studies
                checkpoint()

        if "okrs" in args.only:
            source = source_data(args.cache, args.clients, 1)
            report.okrs = {name: Study(name) for name in OKR_SELECTIONS}
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
    finally:
        shutil.rmtree(work, ignore_errors=True)

    checkpoint()
    text = report.render()
    print(text)
    print(f"written to {args.report}")
    return 0


def engines_study(runner: Runner, args: argparse.Namespace, source: Path) -> dict[str, Study]:
    """One day through `dagster asset materialize` on each engine, chosen by settings only:
    local mode; a standalone cluster (master + 2 workers of 1 core and 1 GB, on loopback);
    Spark Connect (a local[2] server with 2 GB, multiprocess executor)."""
    studies = {name: Study(name) for name in ("local", "standalone", "connect")}
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
    import datetime as dt
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    from addon_okrs import report as okr_report
    from addon_okrs.catalog import ADDON_OKR_METRICS
    from addon_okrs.resources.reports import OkrReportResource
    from addon_okrs.resources.warehouse import WarehouseResource

    shutil.rmtree(folder, ignore_errors=True)
    first = dt.date(2017, 3, 1)
    days = [(first + dt.timedelta(days=i)).strftime(DAY_FORMAT) for i in range(90)]
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
    reports = OkrReportResource(
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
