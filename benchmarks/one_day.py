"""Some contenders on one cached day of any size, interleaved round by round, each run a fresh
process tree, and `materialize`'s output checked row for row against DuckDB's: for a size or a
choice of contenders that `make bench` does not run (a 16M-client day is about 67M source rows).

    .venv/bin/python -m benchmarks.one_day --clients 16000000 --contenders reference,materialize

Prints a markdown table (docs/performance.md quotes it)."""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb

from addon_okrs.dataset.schema import ADDON_AGGREGATES_SCHEMA
from addon_okrs.storage.catalog import ADDON_AGGREGATES
from benchmarks import profile as stage_profile
from benchmarks.results import Sample, runs_table
from benchmarks.run import CONTENDERS, FIRST_DAY, REPO, Runner, input_rows, source_data


def differing_rows(reference: Path, day: Path) -> int:
    """Rows in one of the two outputs and not the other (duplicates counted), by DuckDB."""
    columns = ", ".join(f'"{name}"' for name in ADDON_AGGREGATES_SCHEMA.fieldNames())
    ours = f"read_parquet('{day}/*.parquet')"
    theirs = f"read_parquet('{reference}')"
    with duckdb.connect() as con:
        [(count,)] = con.sql(
            f"SELECT (SELECT count(*) FROM (SELECT {columns} FROM {ours} EXCEPT ALL "
            f"SELECT {columns} FROM {theirs})) + (SELECT count(*) FROM (SELECT {columns} "
            f"FROM {theirs} EXCEPT ALL SELECT {columns} FROM {ours}))"
        ).fetchall()
    return int(count)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.one_day", description=__doc__)
    parser.add_argument("--clients", type=int, required=True, help="clients in the day")
    parser.add_argument(
        "--contenders", default="reference,materialize",
        help=f"comma-separated, run in this order each round; of {', '.join(CONTENDERS)}",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="rounds; figures are medians")
    parser.add_argument(
        "--profile", action="store_true",
        help="print where the first materialize run's time goes, per step and Spark stage",
    )  # fmt: skip
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args(argv)
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = sorted(set(contenders) - set(CONTENDERS))
    if unknown:
        parser.error(f"--contenders: unknown {unknown}; known: {', '.join(CONTENDERS)}")
    cache = args.cache.resolve()
    source = source_data(cache, args.clients, 1)
    print(f"{args.clients:,} clients: {input_rows(source, [FIRST_DAY]):,} source rows", flush=True)
    work = Path(tempfile.mkdtemp(prefix="one_day-", dir=cache))
    runner = Runner(work)
    samples: dict[str, list[Sample]] = {c: [] for c in contenders}
    kept = work / "reference.parquet"
    differences: list[int] = []
    profiles: list[stage_profile.Profile] = []

    def keep_reference(out: Path, _: list[Path]) -> None:
        shutil.copy(out / "reference.parquet", kept)

    def compare(out: Path, event_logs: list[Path]) -> None:
        if args.profile and not profiles:
            profiles.append(stage_profile.profile_run(event_logs, runner.dagster_home))
        if kept.exists():
            differences.append(differing_rows(kept, out / ADDON_AGGREGATES.day_path(FIRST_DAY)))

    inspect = {"reference": keep_reference, "materialize": compare}
    try:
        for round_ in range(1, args.repeat + 1):
            print(f"one_day round {round_}/{args.repeat}", flush=True)
            for c in contenders:
                command = runner.command(c, [FIRST_DAY])
                samples[c].append(runner.run(c, source, command, inspect=inspect.get(c)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nOne day of {args.clients:,} clients, {args.repeat} round(s):\n")
    print(runs_table(samples, "contender"))
    if differences:
        print(f"\n`materialize` rows differing from DuckDB's, per round: {differences}")
    for profile in profiles:
        print("\nWhere the first `materialize` run's time goes:\n")
        print("\n".join(stage_profile.render(profile)))
    return 1 if any(differences) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
