"""`addon-okrs`: generate sample telemetry days, and the demo that builds one day end to end."""

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence

import pyarrow.compute as pc
import pyarrow.parquet as pq

from addon_okrs.catalog import ADDON_AGGREGATES
from addon_okrs.generate import generate_days
from addon_okrs.partitions import InvalidDayError, check_day
from addon_okrs.schema import DAY_FORMAT
from addon_okrs.settings import Settings, SettingsError, markdown_table
from addon_okrs.storage import Location, S3Options, StorageConfigError, normalise_root

DEMO_DAY = "20170501"


def day_key(text: str) -> str:
    try:
        dt.datetime.strptime(text, DAY_FORMAT)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day in YYYYMMDD form") from error
    return text


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    root = normalise_root(args.root, "--root") if args.root else settings.source_root
    print(
        f"generating {args.days} day(s) from {args.date}, "
        f"{args.clients:,} clients a day, into {root}"
    )
    for day in generate_days(
        root, args.date, args.days, args.clients, seed=args.seed, samples=args.samples
    ):
        print(
            f"  {day.day}: {day.pings:,} main_summary pings, {day.addon_rows:,} addons rows, "
            f"{day.files} files, {day.seconds:.1f}s"
        )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Generate a day into the local warehouse, materialize every asset for it, summarise it."""
    started = time.monotonic()
    print(f"[1/3] generating {args.date} ({args.clients:,} clients) into {settings.source_root}")
    [day] = generate_days(
        settings.source_root, args.date, 1, args.clients, seed=args.seed, samples=args.samples
    )
    print(
        f"      {day.pings:,} main_summary pings, {day.addon_rows:,} addons rows "
        f"in {day.seconds:.1f}s"
    )

    print(f"[2/3] materializing every asset for {args.date} through Dagster (Spark in local mode)")
    from addon_okrs.runs import materialize_days  # Dagster and Spark only where a run needs them

    result = materialize_days(settings, args.date, run_config=QUIET)
    if not result.success:
        print(f"the run failed (run id {result.run_id}); see the log above", file=sys.stderr)
        return 1

    print(f"[3/3] done in {time.monotonic() - started:.0f}s, run id {result.run_id}")
    print_summary(output_day(settings, args.date))
    return 0


QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def output_day(settings: Settings, day: str) -> Location:
    root = Location.from_uri(
        settings.output_root, S3Options(settings.s3_endpoint_url, settings.s3_region)
    )
    return root.join(ADDON_AGGREGATES.day_path(day))


def cmd_materialize(args: argparse.Namespace, settings: Settings) -> int:
    """Build one day, or a range of days in one run, whose inputs exist."""
    last = args.to or args.date
    if last < args.date:
        raise InvalidDayError(f"--to {last} is before --date {args.date}")
    from addon_okrs.runs import materialize_days

    result = materialize_days(settings, args.date, last, run_config=QUIET)
    if not result.success:
        print(f"the run failed (run id {result.run_id}); see the log above", file=sys.stderr)
        return 1
    table = f"{settings.output_root}/{ADDON_AGGREGATES.path}"
    print(f"built {args.date}..{last} in run {result.run_id}: {table}")
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


def print_summary(output: Location) -> None:
    """Per-channel view of one written day, read from its files (no Spark)."""
    files = output.data_files()
    table = pq.ParquetDataset([f.path for f in files], filesystem=output.fs).read()
    print(f"\noutput: {output.uri}\n  {table.num_rows:,} rows in {len(files)} file(s)\n")
    per_channel = table.group_by("normalized_channel").aggregate(
        [
            ("client_id", "count_distinct"),
            ("n_clients", "max"),
            ("n_custom_theme_clients", "max"),
        ]
    )
    self_installers = (
        table.filter(pc.invert(table["foreign_install"]))
        .group_by("normalized_channel")
        .aggregate([("client_id", "count_distinct")])
    )
    self_by_channel = dict(
        zip(
            self_installers["normalized_channel"].to_pylist(),
            self_installers["client_id_count_distinct"].to_pylist(),
            strict=True,
        )
    )
    header = (
        f"  {'channel':<10}{'clients w/ add-ons':>20}{'self-installers':>17}"
        f"{'n_clients':>11}{'custom theme':>14}"
    )
    print(header)
    for row in sorted(per_channel.to_pylist(), key=lambda r: -r["client_id_count_distinct"]):
        channel = row["normalized_channel"]
        print(
            f"  {channel:<10}{row['client_id_count_distinct']:>20,}"
            f"{self_by_channel.get(channel, 0):>17,}"
            f"{row['n_clients_max']:>11,}{row['n_custom_theme_clients_max']:>14,}"
        )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="addon-okrs", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, clients: int) -> None:
        p.add_argument("--date", type=day_key, default=DEMO_DAY, help="first day, YYYYMMDD")
        p.add_argument("--clients", type=int, default=clients, help="clients a day")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--samples", type=int, default=100, help="sample_id folders a day")

    generate = commands.add_parser("generate", help="write synthetic addons/main_summary days")
    common(generate, 100_000)
    generate.add_argument("--days", type=int, default=1, help="how many consecutive days")
    generate.add_argument(
        "--root", help="source root URI (default: $ADDON_OKRS_SOURCE_ROOT or ./warehouse)"
    )
    generate.set_defaults(run=cmd_generate)

    demo = commands.add_parser("demo", help="generate a day and build every asset for it")
    common(demo, 100_000)
    demo.set_defaults(run=cmd_demo)

    build = commands.add_parser(
        "materialize", help="build every asset (and check) for a day, or a range in one run"
    )
    build.add_argument("--date", type=partition_day, required=True, help="day, YYYYMMDD")
    build.add_argument("--to", type=partition_day, help="last day of a range, YYYYMMDD")
    build.set_defaults(run=cmd_materialize)

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
    except (StorageConfigError, SettingsError, InvalidDayError) as error:
        print(f"addon-okrs: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
