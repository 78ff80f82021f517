"""`addon-okrs`: generate sample telemetry days, the demo that builds days end to end, one run
over days, clean-up after dead runs, the set-up's S3 connector and Spark class archive, and the
settings in force."""

import argparse
import os
import socket
import sys
import time
from collections.abc import Sequence

from addon_okrs.dataset.days import InvalidDayError, parse_day, shift_day
from addon_okrs.dataset.schema import ALL_CHANNELS
from addon_okrs.defs.partitions import check_day
from addon_okrs.runtime.class_archive import ClassArchiveError
from addon_okrs.runtime.java import JavaNotFoundError, find_java
from addon_okrs.settings import Settings, SettingsError, markdown_table
from addon_okrs.storage.catalog import ADDON_AGGREGATES, ADDON_OKR_METRICS, ADDON_OKR_REPORT
from addon_okrs.storage.leases import LeaseHeldError
from addon_okrs.storage.locations import StorageConfigError, normalise_root
from addon_okrs.storage.s3a import ConnectorError
from addon_okrs.storage.warehouse import Warehouse
from addon_okrs.tools.generate import GeneratedDay, generate_days

DEMO_DAY = "20170501"


def day_key(text: str) -> str:
    try:
        parse_day(text)
    except InvalidDayError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return text


def generate_from_args(root: str, args: argparse.Namespace) -> list[GeneratedDay]:
    """The days `generate` and `demo` write: their --date, --days, --clients, --seed, --samples
    and --drift."""
    return generate_days(
        root,
        args.date,
        args.days,
        args.clients,
        seed=args.seed,
        samples=args.samples,
        drift_percent=args.drift,
    )


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    root = normalise_root(args.root, "--root") if args.root else settings.source_root
    drift = f", OKR drivers {args.drift:+g}% a day" if args.drift else ""
    print(
        f"generating {args.days} day(s) from {args.date}, "
        f"{args.clients:,} clients a day{drift}, into {root}"
    )
    for day in generate_from_args(root, args):
        print(
            f"  {day.day}: {day.pings:,} main_summary pings, {day.addon_rows:,} addons rows, "
            f"{day.files} files, {day.seconds:.1f}s"
        )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Generate days into the local warehouse, build every asset for them in one run, and
    summarise the last day: the per-channel table, its OKR numbers, and where the report is."""
    started = time.monotonic()
    first = args.date
    last = shift_day(first, args.days - 1)
    span = first if args.days == 1 else f"{first}..{last}"
    drift = f", OKR drivers {args.drift:+g}% a day" if args.drift and args.days > 1 else ""
    print(
        f"[1/3] generating {span} ({args.clients:,} clients a day{drift}) "
        f"into {settings.source_root}"
    )
    # Dagster and Spark are imported only where a run needs them; the run's JVM starts while
    # the days are generated.
    from addon_okrs.tools.in_process import materialize_days, start_spark_early

    spark_start = start_spark_early(settings)
    generated = generate_from_args(settings.source_root, args)
    print(
        f"      {sum(d.pings for d in generated):,} main_summary pings, "
        f"{sum(d.addon_rows for d in generated):,} addons rows "
        f"in {sum(d.seconds for d in generated):.1f}s"
    )

    print(f"[2/3] materializing every asset for {span} in one run (Spark in local mode)")
    if spark_start is not None:
        spark_start.join()
    result = materialize_days(settings, first, last, run_config=QUIET)
    if not result.success:
        print(f"the run failed (run id {result.run_id}); see the log above", file=sys.stderr)
        return 1

    print(f"[3/3] done in {time.monotonic() - started:.0f}s, run id {result.run_id}")
    print(day_summary(settings.warehouse(), last))
    return 0


QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def cmd_materialize(args: argparse.Namespace, settings: Settings) -> int:
    """Build one day, or a range of days in one run, whose inputs exist."""
    last = args.to or args.date
    if last < args.date:
        raise InvalidDayError(f"--to {last} is before --date {args.date}")
    from addon_okrs.tools.in_process import materialize_days

    result = materialize_days(settings, args.date, last, run_config=QUIET)
    if not result.success:
        print(f"the run failed (run id {result.run_id}); see the log above", file=sys.stderr)
        return 1
    table = f"{settings.output_root}/{ADDON_AGGREGATES.path}"
    print(f"built {args.date}..{last} in run {result.run_id}: {table}")
    return 0


def cmd_recover(args: argparse.Namespace, settings: Settings) -> int:
    """Clean up after runs that died while writing: every table and the report, each run
    that holds no live lease any more. A live run's staging is left alone."""
    recoverer = f"recover-{socket.gethostname()}-{os.getpid()}"
    for folders in settings.warehouse().written(settings.lease_seconds):
        leftovers = folders.leftover_runs()
        if not leftovers:
            continue
        cleaned = folders.recover(recoverer)
        still = [r for r in leftovers if r not in cleaned]
        print(
            f"{folders.what}: recovered {', '.join(cleaned) or 'nothing'}"
            + (f"; still writing (live lease): {', '.join(still)}" if still else "")
        )
    print("recover: done")
    return 0


def cmd_fetch_jars(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch and verify Spark's S3 connector (the set-up runs this); --relock pins it anew."""
    from addon_okrs.runtime.jars import fetch, relock

    repository = settings.cache_folder() / "m2"
    if args.relock:
        for jar in relock(repository):
            print(f"pinned {jar.coordinate} ({jar.size:,} bytes, sha256 {jar.sha256})")
    fetch(repository)
    return 0


def cmd_class_archive(args: argparse.Namespace, settings: Settings) -> int:
    """Make the class archive local mode's driver starts from (the set-up runs this), for the
    Java, PySpark and class path of the settings in force."""
    from addon_okrs.runtime import class_archive
    from addon_okrs.runtime.spark import run_conf, runs_locally

    if not settings.spark_class_archive:
        print("class-archive: ADDON_OKRS_SPARK_CLASS_ARCHIVE is false; nothing to make")
        return 0
    conf = run_conf(settings, make_archive=False).conf
    if not runs_locally(conf):
        print("class-archive: Spark runs outside this process tree here; nothing to make")
        return 0
    started = time.monotonic()
    archive = class_archive.make(
        class_archive.folder(settings.cache_folder()),
        find_java(settings.java_home),
        str(conf.get("spark.driver.extraClassPath", "")),
    )
    made = time.monotonic() - started
    print(f"class-archive: {archive} ({archive.stat().st_size / 1e6:.0f} MB, {made:.1f} s)")
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    """The settings in force (or, with --markdown, the README's table of them)."""
    if args.markdown:
        print(markdown_table())
        return 0
    for name, value in vars(settings).items():
        print(f"{name:<24}{value if value not in (None, {}) else '-'}")
    return 0


def partition_day(text: str) -> str:
    try:
        return check_day(text)
    except InvalidDayError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def day_summary(warehouse: Warehouse, day: str) -> str:
    """What the demo prints of a built day, read from the tables the run wrote (no Spark, no
    second computation): the addons/agg/v1 day with each channel's counts, the day's
    addons/okr/v1 rows, and where the report is."""
    aggregates_table = warehouse.table(ADDON_AGGREGATES.name)
    okr_table = warehouse.table(ADDON_OKR_METRICS.name)
    aggregates, okr_rows = aggregates_table.read_day(day), okr_table.read_day(day)
    if aggregates is None or okr_rows is None:
        missing = aggregates_table if aggregates is None else okr_table
        raise InvalidDayError(f"{missing.name} has no day {day} under {missing.location.uri}")
    okrs = okr_rows.to_pylist()
    # n_clients and n_custom_theme_clients are the channel's, on every row of it.
    theme_clients = {
        r["normalized_channel"]: (r["n_clients"], r["n_custom_theme_clients"])
        for r in aggregates.select(["normalized_channel", "n_clients", "n_custom_theme_clients"])
        .group_by(["normalized_channel", "n_clients", "n_custom_theme_clients"])
        .aggregate([])
        .to_pylist()
    }
    channels = sorted(
        (r for r in okrs if r["normalized_channel"] != ALL_CHANNELS),
        key=lambda r: (-r["n_clients_with_addons"], r["normalized_channel"]),
    )
    lines = [
        f"\noutput: {aggregates_table.day(day).uri}",
        f"  {aggregates.num_rows:,} rows in {len(aggregates_table.day(day).data_files())} file(s)",
        "",
        f"  {'channel':<10}{'clients w/ add-ons':>20}{'self-installers':>17}"
        f"{'n_clients':>11}{'custom theme':>14}",
    ]
    for r in channels:
        n_clients, custom = theme_clients[r["normalized_channel"]]
        lines.append(
            f"  {r['normalized_channel']:<10}{r['n_clients_with_addons']:>20,}"
            f"{r['self_installers']:>17,}{n_clients:>11,}{custom:>14,}"
        )
    lines += [
        f"\nOKRs: {okr_table.day(day).uri}\n",
        f"  {'channel':<10}{'n_clients':>11}{'w/ add-ons':>12}{'self-inst.':>12}{'share':>8}"
        f"{'self-inst. add-ons':>20}{'per profile':>13}{'new profiles':>14}",
    ]

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    ordered = sorted(okrs, key=lambda r: (r["normalized_channel"] == ALL_CHANNELS, -r["n_clients"]))
    for r in ordered:
        lines.append(
            f"  {r['normalized_channel']:<10}{r['n_clients']:>11,}"
            f"{r['n_clients_with_addons']:>12,}{r['self_installers']:>12,}"
            f"{ratio(r['self_installer_share']):>8}{r['self_installed_addons']:>20,}"
            f"{ratio(r['addons_per_profile']):>13}{r['new_profile_self_installers']:>14,}"
        )
    lines.append(f"\nreport: {warehouse.report_day(ADDON_OKR_REPORT, day).uri}/index.html")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="addon-okrs", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, clients: int) -> None:
        p.add_argument("--date", type=day_key, default=DEMO_DAY, help="first day, YYYYMMDD")
        p.add_argument("--clients", type=int, default=clients, help="clients a day")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--samples", type=int, default=100, help="sample_id folders a day")

    def drift(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--drift",
            type=float,
            default=0.0,
            help="percent a day by which add-ons per profile, self-installs and new-profile "
            "installs grow (negative: shrink); default 0, flat",
        )

    generate = commands.add_parser("generate", help="write synthetic addons/main_summary days")
    common(generate, 100_000)
    generate.add_argument("--days", type=int, default=1, help="how many consecutive days")
    drift(generate)
    generate.add_argument(
        "--root", help="source root URI (default: $ADDON_OKRS_SOURCE_ROOT or ./warehouse)"
    )
    generate.set_defaults(run=cmd_generate)

    demo = commands.add_parser(
        "demo", help="generate days, build every asset for them in one run, show the OKRs"
    )
    common(demo, 100_000)
    demo.add_argument("--days", type=int, default=1, help="how many consecutive days")
    drift(demo)
    demo.set_defaults(run=cmd_demo)

    build = commands.add_parser(
        "materialize", help="build every asset (and check) for a day, or a range in one run"
    )
    build.add_argument("--date", type=partition_day, required=True, help="day, YYYYMMDD")
    build.add_argument("--to", type=partition_day, help="last day of a range, YYYYMMDD")
    build.set_defaults(run=cmd_materialize)

    recover = commands.add_parser(
        "recover",
        help="clean up after runs that died while writing (those holding no live lease)",
    )
    recover.set_defaults(run=cmd_recover)

    jars = commands.add_parser(
        "fetch-jars",
        help="fetch and verify Spark's S3 connector (hadoop-aws and the AWS SDK bundle)",
    )
    jars.add_argument(
        "--relock",
        action="store_true",
        help="pin hadoop-aws at the installed PySpark's Hadoop, and its dependencies, anew",
    )
    jars.set_defaults(run=cmd_fetch_jars)

    archive = commands.add_parser(
        "class-archive",
        help="make the class archive local Spark's driver starts from (once per Java)",
    )
    archive.set_defaults(run=cmd_class_archive)

    shown = commands.add_parser("settings", help="print the settings in force")
    shown.add_argument(
        "--markdown", action="store_true", help="the table of every setting, as in the README"
    )
    shown.set_defaults(run=cmd_settings)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args, Settings.from_env()))
    except (
        StorageConfigError,
        SettingsError,
        InvalidDayError,
        LeaseHeldError,
        ConnectorError,
        JavaNotFoundError,
        ClassArchiveError,
    ) as error:
        print(f"addon-okrs: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
