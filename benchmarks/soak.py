"""A soak on the production instance: a backfill of many small days, one run a day, with three
runs at a time (deploy/dagster-production.yaml as it is) against the same backfill one run at a
time (the same file with `max_concurrent_runs: 1`). Each under its own PostgreSQL server, the
webserver and the daemon as a deployment runs them, on loopback. Reports the wall time from
the backfill's launch to its end, and checks that every day of every built table is the same in
both (one run a day: each is that day's single-day run).

    .venv/bin/python -m benchmarks.soak [--days 30] [--clients 2000]

Prints a markdown table (docs/performance.md quotes it)."""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from addon_okrs.dataset.days import day_range
from addon_okrs.defs.graph import built_asset_names
from addon_okrs.storage.catalog import TABLES, day_folder
from addon_okrs.tools.generate import generate_days
from benchmarks.run import REPO
from harness.dagster_dev import DagsterDeployment, launch_backfill, wait_for_backfill
from harness.postgres import postgres_server
from harness.settings import local_table

FIRST_DAY = "20170301"
PRODUCTION = REPO / "deploy" / "dagster-production.yaml"
BUILT_TABLES = [name for name, spec in TABLES.items() if not spec.is_source]


def day_rows(output: Path, name: str, day: str) -> list[tuple[object, ...]]:
    rows = pq.read_table(local_table(output, name) / day_folder(day)).to_pylist()
    return sorted((tuple(r.values()) for r in rows), key=repr)


def instance_file(folder: Path, runs_at_once: int) -> Path:
    """The production instance file, with its run limit set to `runs_at_once`."""
    text = PRODUCTION.read_text()
    assert "max_concurrent_runs: 3" in text
    path = folder / "dagster-production.yaml"
    path.write_text(text.replace("max_concurrent_runs: 3", f"max_concurrent_runs: {runs_at_once}"))
    return path


def soak(base: Path, sources: Path, days: list[str], runs_at_once: int) -> dict[str, object]:
    """One backfill of `days`; its wall time, its runs and the most that ran at once."""
    base.mkdir()
    with postgres_server() as url:
        deployment = DagsterDeployment(
            base,
            env={
                "DAGSTER_POSTGRES_URL": url,
                "ADDON_OKRS_SOURCE_ROOT": sources.as_uri(),
                "ADDON_OKRS_BACKFILL_DAYS_PER_RUN": "1",
            },
            instance_file=instance_file(base, runs_at_once),
        )
        try:
            deployment.start()
            started = time.monotonic()
            backfill_id = launch_backfill(deployment, built_asset_names, days)
            status = wait_for_backfill(deployment, backfill_id, timeout=4 * 3600)
            wall = time.monotonic() - started
            runs = deployment.runs({"dagster/backfill": backfill_id})
        finally:
            deployment.stop()
    if status != "COMPLETED_SUCCESS":
        raise SystemExit(f"the backfill ended {status}; logs under {base}")
    spans = [(r["startTime"], r["endTime"]) for r in runs]
    at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    return {
        "wall": wall,
        "runs": len(runs),
        "failed": sum(r["status"] != "SUCCESS" for r in runs),
        "at_once": at_once,
        "run_seconds": sorted(e - s for s, e in spans),
        "output": deployment.output,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--days", type=int, default=30, help="days in the backfill")
    parser.add_argument("--clients", type=int, default=2000, help="clients a day")
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="soak-", dir=args.cache.resolve()))
    days = day_range(FIRST_DAY, args.days)
    sources = work / "sources"
    try:
        generate_days(sources.as_uri(), FIRST_DAY, args.days, clients=args.clients, seed=30)
        results = {}
        for runs_at_once in (3, 1):
            print(f"soak: {args.days} days, {runs_at_once} run(s) at a time", flush=True)
            results[runs_at_once] = soak(work / f"at-{runs_at_once}", sources, days, runs_at_once)
            print(f"    {results[runs_at_once]['wall']:.0f}s", flush=True)
        different = [
            f"{name} {day}"
            for day in days
            for name in BUILT_TABLES
            if day_rows(results[3]["output"], name, day)  # type: ignore[arg-type]
            != day_rows(results[1]["output"], name, day)  # type: ignore[arg-type]
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nBackfill of {args.days} days of {args.clients:,} clients, one run a day:\n")
    print("| runs at a time | wall s | runs | failed | most at once | run s (median) |")
    print("|---|---|---|---|---|---|")
    for runs_at_once, r in results.items():
        seconds: list[float] = r["run_seconds"]  # type: ignore[assignment]
        print(
            f"| {runs_at_once} | {r['wall']:.0f} | {r['runs']} | {r['failed']} "
            f"| {r['at_once']} | {seconds[len(seconds) // 2]:.1f} |"
        )
    ratio = results[3]["wall"] / results[1]["wall"]  # type: ignore[operator]
    print(f"\n3 at a time / 1 at a time: {ratio:.2f}x")
    checked = len(days) * len(BUILT_TABLES)
    print(f"days x tables equal in both: {checked - len(different)} of {checked}")
    if different:
        print("different: " + ", ".join(different))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
