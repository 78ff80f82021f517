"""The benchmark's non-Dagster contenders, each run in a fresh process:

    python -m benchmarks.children fused|floor|reference --source-root URI --out URI --days D...

`fused`: the project's transformation functions composed into one Spark plan, read and written
through the same TableStore as the assets, no Dagster and no persisted intermediates (the two
per-source aggregates are cached, so each source is read once, as in the asset graph).
`floor`: start Spark and read the columns the job needs from both source days once, into
Spark's no-op sink: the least any Spark implementation of the job pays.
`reference`: the DuckDB implementation the differential tests use, on one machine.
"""

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.parquet as pq

from addon_okrs import transforms
from addon_okrs.contracts import read_schema
from addon_okrs.io_manager import SOURCE_TABLES, TableStore
from addon_okrs.resources.spark import spark_resource_from_env
from addon_okrs.schema import SOURCE_CONTRACTS


def run_fused(source_root: str, out: str, days: list[str]) -> int:
    store = TableStore(
        spark_resource_from_env().process_config_and_initialize().get_session(),
        source_root,
        out,
        out + "/intermediate",
    )
    addons = store.read("addons", days)
    main_summary = store.read("main_summary", days)
    # Kept in Spark's cache: each feeds two branches of the plan, which prune their columns
    # differently, so without it Spark scans each source twice.
    counts = transforms.count_by_client_day(addons).persist()
    themes = transforms.ms_has_theme(main_summary).persist()
    output = transforms.addon_aggregates(
        counts,
        transforms.user_types(counts),
        transforms.ms_install_days(themes),
        themes,
        transforms.channel_counts(themes),
    )
    written = store.write("addon_aggregates", days, output, run_id="fused")
    counts.unpersist()
    themes.unpersist()  # so that a next round computes them again
    return sum(w.rows for w in written)


def run_floor(source_root: str, days: list[str]) -> None:
    spark = spark_resource_from_env().process_config_and_initialize().get_session()
    for table, path in SOURCE_TABLES.items():
        folders = [f"{source_root}/{path}/submission_date_s3={day}" for day in days]
        # The contract's columns, given as the read schema: what the pipeline reads, without
        # any schema inference (the least a Spark implementation of the job must read).
        frame = spark.read.schema(read_schema(SOURCE_CONTRACTS[table])).parquet(*folders)
        frame.write.format("noop").mode("overwrite").save()


def run_reference(source_root: str, out: str, days: list[str]) -> int:
    from addon_okrs_tests.reference import reference_addon_aggregates

    table = reference_addon_aggregates(Path(urlparse(source_root).path), days)
    target = Path(urlparse(out).path)
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target / "reference.parquet")
    return table.num_rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.children")
    parser.add_argument("contender", choices=["fused", "floor", "reference"])
    parser.add_argument("--source-root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--days", nargs="+", required=True)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="fused only: run the plan this many times in the same process and print each "
        "round's seconds (round 2 onwards shows the work in a warm JVM)",
    )
    args = parser.parse_args(argv)
    if args.contender == "floor":
        run_floor(args.source_root, args.days)  # writes nothing
        return 0
    if args.contender == "fused":
        for round_ in range(1, args.rounds + 1):
            started = time.monotonic()
            out = args.out if args.rounds == 1 else f"{args.out}/round{round_}"
            rows = run_fused(args.source_root, out, args.days)
            if args.rounds > 1:
                print(f"BENCH_ROUND {round_}: {time.monotonic() - started:.1f} s", flush=True)
    else:
        rows = run_reference(args.source_root, args.out, args.days)
    print(f"BENCH_ROWS={rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
