"""The benchmark's non-Dagster contenders, each run in a fresh process:

    python -m benchmarks.children CONTENDER --source-root URI --out URI --days D...

where CONTENDER is one of:

`fused`: the project's transformation functions composed into one Spark plan, read and written
through the same TableStore as the assets, no Dagster and no persisted intermediates (the two
per-source aggregates are cached, so each source is read once, as in the asset graph).
`floor`: start Spark and read the columns the job needs from both source days once, into
Spark's no-op sink: the least any Spark implementation of the job pays.
`notebook`: the 2017 notebook's plan (benchmarks/notebook.py), one day after the other.
`reference`: the DuckDB implementation the differential tests use, on one machine.
"""

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import SparkSession

from addon_okrs.dataset import transforms
from addon_okrs.dataset.schema import SOURCE_CONTRACTS
from addon_okrs.defs.resources.spark import spark_resource
from addon_okrs.settings import Settings
from addon_okrs.storage import catalog
from addon_okrs.storage.source_days import read_schema
from addon_okrs.storage.table_store import TableStore
from benchmarks.notebook import run_notebook


def spark_session(settings: Settings) -> SparkSession:
    return spark_resource(settings).process_config_and_initialize().get_session()


def run_fused(settings: Settings, days: list[str]) -> int:
    spark = spark_session(settings)
    store = TableStore(spark, settings.warehouse(), settings.target_file_mb)
    output = transforms.addon_aggregates_from_sources(
        store.read(catalog.ADDONS.name, days),
        store.read(catalog.MAIN_SUMMARY.name, days),
        cache=True,
    )
    written = store.write(catalog.ADDON_AGGREGATES.name, days, output, run_id="fused")
    spark.catalog.clearCache()  # so that a next round computes the cached aggregates again
    return sum(w.rows for w in written)


def run_floor(settings: Settings, days: list[str]) -> None:
    spark = spark_session(settings)
    for table in catalog.SOURCES:
        folders = [f"{settings.source_root}/{table.day_path(day)}" for day in days]
        # The contract's columns, given as the read schema: what the pipeline reads, without
        # any schema inference (the least a Spark implementation of the job must read).
        frame = spark.read.schema(read_schema(SOURCE_CONTRACTS[table.name])).parquet(*folders)
        frame.write.format("noop").mode("overwrite").save()


def run_reference(source_root: str, out: str, days: list[str]) -> int:
    from harness.reference import write_reference_addon_aggregates

    target = Path(urlparse(out).path)
    target.mkdir(parents=True, exist_ok=True)
    return write_reference_addon_aggregates(
        Path(urlparse(source_root).path), days, target / "reference.parquet"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.children")
    parser.add_argument("contender", choices=["fused", "floor", "notebook", "reference"])
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
    settings = dataclasses.replace(
        Settings.from_env(),
        source_root=args.source_root,
        output_root=args.out,
        intermediate_root=args.out + "/intermediate",
    )
    if args.contender == "floor":
        run_floor(settings, args.days)  # writes nothing
        return 0
    if args.contender == "fused":
        for round_ in range(1, args.rounds + 1):
            started = time.monotonic()
            out = args.out if args.rounds == 1 else f"{args.out}/round{round_}"
            round_settings = dataclasses.replace(
                settings, output_root=out, intermediate_root=out + "/intermediate"
            )
            rows = run_fused(round_settings, args.days)
            if args.rounds > 1:
                print(f"BENCH_ROUND {round_}: {time.monotonic() - started:.1f} s", flush=True)
    elif args.contender == "notebook":
        spark = spark_session(settings)
        rows = sum(run_notebook(spark, args.source_root, args.out, day) for day in args.days)
    else:
        rows = run_reference(args.source_root, args.out, args.days)
    print(f"BENCH_ROWS={rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
