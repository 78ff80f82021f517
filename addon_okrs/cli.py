"""`addon-okrs`: generate sample telemetry days, the demo that builds days end to end, one run
over days, and the settings in force."""

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence

import pyarrow.compute as pc

from addon_okrs.catalog import ADDON_AGGREGATES, ADDON_OKR_METRICS, ADDON_OKR_REPORT
from addon_okrs.generate import generate_days
from addon_okrs.partitions import InvalidDayError, check_day
from addon_okrs.schema import ALL_CHANNELS, DAY_FORMAT
from addon_okrs.settings import Settings, SettingsError, markdown_table
from addon_okrs.storage import StorageConfigError, normalise_root
from addon_okrs.tables import Table, Warehouse

DEMO_DAY = "20170501"


def day_key(text: str) -> str:
    try:
        dt.datetime.strptime(text, DAY_FORMAT)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day in YYYYMMDD form") from error
    return text


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    root = normalise_root(args.root, "--root") if args.root else settings.source_root
    drift = f", OKR drivers {args.drift:+g}% a day" if args.drift else ""
    print(
        f"generating {args.days} day(s) from {args.date}, "
        f"{args.clients:,} clients a day{drift}, into {root}"
    )
    for day in generate_days(
        root,
        args.date,
        args.days,
        args.clients,
        seed=args.seed,
        samples=args.samples,
        drift_percent=args.drift,
    ):
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
    last = (parse_day(first) + dt.timedelta(days=args.days - 1)).strftime(DAY_FORMAT)
    span = first if args.days == 1 else f"{first}..{last}"
    drift = f", OKR drivers {args.drift:+g}% a day" if args.drift and args.days > 1 else ""
    print(
        f"[1/3] generating {span} ({args.clients:,} clients a day{drift}) "
        f"into {settings.source_root}"
    )
    generated = generate_days(
        settings.source_root,
        first,
        args.days,
        args.clients,
        seed=args.seed,
        samples=args.samples,
        drift_percent=args.drift,
    )
    print(
        f"      {sum(d.pings for d in generated):,} main_summary pings, "
        f"{sum(d.addon_rows for d in generated):,} addons rows "
        f"in {sum(d.seconds for d in generated):.1f}s"
    )

    print(f"[2/3] materializing every asset for {span} in one run (Spark in local mode)")
    from addon_okrs.runs import materialize_days  # Dagster and Spark only where a run needs them

    result = materialize_days(settings, first, last, run_config=QUIET)
    if not result.success:
        print(f"the run failed (run id {result.run_id}); see the log above", file=sys.stderr)
        return 1

    print(f"[3/3] done in {time.monotonic() - started:.0f}s, run id {result.run_id}")
    warehouse = Warehouse.from_settings(settings)
    print_summary(warehouse.table(ADDON_AGGREGATES.name), last)
    print_okrs(warehouse.table(ADDON_OKR_METRICS.name), last)
    print(f"\nreport: {warehouse.report_day(ADDON_OKR_REPORT, last).uri}/index.html")
    return 0


def parse_day(text: str) -> dt.date:
    return dt.datetime.strptime(text, DAY_FORMAT).date()


QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


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


def print_summary(table: Table, day: str) -> None:
    """Per-channel view of one written day of addons/agg/v1, read from its files (no Spark)."""
    rows = table.read_day(day)
    assert rows is not None, f"{table.name} has no day {day}"
    files = table.day(day).data_files()
    print(f"\noutput: {table.day(day).uri}\n  {rows.num_rows:,} rows in {len(files)} file(s)\n")
    per_channel = rows.group_by("normalized_channel").aggregate(
        [
            ("client_id", "count_distinct"),
            ("n_clients", "max"),
            ("n_custom_theme_clients", "max"),
        ]
    )
    self_installers = (
        rows.filter(pc.invert(rows["foreign_install"]))
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


def print_okrs(table: Table, day: str) -> None:
    """The day's addons/okr/v1 rows, `all` last."""
    rows = table.read_day(day)
    assert rows is not None, f"{table.name} has no day {day}"
    print(f"\nOKRs: {table.day(day).uri}\n")
    print(
        f"  {'channel':<10}{'n_clients':>11}{'w/ add-ons':>12}{'self-inst.':>12}{'share':>8}"
        f"{'self-inst. add-ons':>20}{'per profile':>13}{'new profiles':>14}"
    )

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    ordered = sorted(
        rows.to_pylist(), key=lambda r: (r["normalized_channel"] == ALL_CHANNELS, -r["n_clients"])
    )
    for r in ordered:
        print(
            f"  {r['normalized_channel']:<10}{r['n_clients']:>11,}"
            f"{r['n_clients_with_addons']:>12,}{r['self_installers']:>12,}"
            f"{ratio(r['self_installer_share']):>8}{r['self_installed_addons']:>20,}"
            f"{ratio(r['addons_per_profile']):>13}{r['new_profile_self_installers']:>14,}"
        )


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
