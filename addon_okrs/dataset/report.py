"""The OKR report as of one day: for each OKR the daily value, its 7-day rolling mean, the
baseline and the target over the last 90 days of addons/okr/v1, drawn as one PNG (three
panels) and laid out as one self-contained HTML page. Plain Python: no Spark, no Dagster."""

import base64
import datetime as dt
import html
import io
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from addon_okrs.dataset.days import format_day, parse_day
from addon_okrs.dataset.schema import ALL_CHANNELS

WINDOW_DAYS = 90
ROLLING_DAYS = 7
DEFAULT_BASELINE_DAYS = 28
FIGURE_INCHES = (12.0, 10.0)
DPI = 100  # okrs.png is FIGURE_INCHES x DPI: 1200 x 1000 pixels


@dataclass(frozen=True)
class Okr:
    metric: str  # the addons/okr/v1 column, on the `all` row
    title: str
    unit: str
    target_factor: float


OKRS: tuple[Okr, ...] = (
    Okr("self_installers", "OKR 1: users who self-install an add-on", "clients", 1.05),
    Okr(
        "addons_per_profile",
        "OKR 2: self-installed add-ons per profile",
        "add-ons per client",
        1.03,
    ),
    Okr(
        "new_profile_self_installers",
        "OKR 3: new profiles (at most 14 days old) that self-install",
        "clients",
        1.25,
    ),
)


class ReportError(ValueError):
    pass


@dataclass(frozen=True)
class Trend:
    """One OKR over the report's days (None where a day has no data or no value)."""

    okr: Okr
    values: list[float | None]
    rolling: list[float | None]
    baseline: float | None
    target: float | None
    latest_day: str | None
    latest_rolling: float | None

    @property
    def percent_of_target(self) -> float | None:
        if self.latest_rolling is None or not self.target:
            return None
        return 100.0 * self.latest_rolling / self.target


@dataclass(frozen=True)
class Report:
    as_of: str
    days: list[str]  # every calendar day shown, oldest first
    missing: list[str]  # days of `days` without data: gaps
    baseline_days: list[str]  # days with data the baseline is the mean of
    baseline_label: str
    trends: list[Trend]
    channels: list[dict[str, Any]]  # addons/okr/v1 rows of the latest day with data


def window(as_of: str) -> list[str]:
    """The WINDOW_DAYS calendar days ending with `as_of`, oldest first."""
    end = parse_day(as_of)
    return [format_day(end - dt.timedelta(days=i)) for i in range(WINDOW_DAYS - 1, -1, -1)]


def rolling_means(values: Sequence[float | None], width: int = ROLLING_DAYS) -> list[float | None]:
    """At each day, the mean of the values present in the `width` days ending there."""
    means: list[float | None] = []
    for i in range(len(values)):
        present = [v for v in values[max(0, i - width + 1) : i + 1] if v is not None]
        means.append(statistics.fmean(present) if present else None)
    return means


def build_report(
    as_of: str,
    all_rows: Mapping[str, Mapping[str, Any]],
    channels: Sequence[Mapping[str, Any]],
    baseline: tuple[str, str] | None = None,
) -> Report:
    """The report as of `as_of`, from the `all` rows of addons/okr/v1 by day (any days; those
    outside the 90-day window are ignored) and the channel rows of the latest day."""
    shown = window(as_of)
    with_data = [d for d in shown if d in all_rows]
    if not with_data:
        raise ReportError(
            f"no addons/okr/v1 day between {shown[0]} and {as_of}: build addon_okr_metrics "
            "for at least one of those days first"
        )
    days = shown[shown.index(with_data[0]) :]
    missing = [d for d in days if d not in all_rows]
    if baseline is None:
        baseline_days = with_data[:DEFAULT_BASELINE_DAYS]
        label = (
            f"mean of the first {len(baseline_days)} day(s) with data, "
            f"{baseline_days[0]} to {baseline_days[-1]}"
        )
    else:
        baseline_days = [d for d in sorted(all_rows) if baseline[0] <= d <= baseline[1]]
        label = f"mean of {baseline[0]} to {baseline[1]} (ADDON_OKRS_OKR_BASELINE)"
        if not baseline_days:
            label += ": no day with data in that range, so no baseline"
    trends = []
    latest_day = with_data[-1]
    for okr in OKRS:
        values = [_number(all_rows[d][okr.metric]) if d in all_rows else None for d in days]
        rolling = rolling_means(values)
        base_values = [
            v for d in baseline_days if (v := _number(all_rows[d][okr.metric])) is not None
        ]
        base = statistics.fmean(base_values) if base_values else None
        trends.append(
            Trend(
                okr=okr,
                values=values,
                rolling=rolling,
                baseline=base,
                target=None if base is None else base * okr.target_factor,
                latest_day=latest_day,
                latest_rolling=rolling[days.index(latest_day)],
            )
        )
    # Channels in one order whatever order the day's files were read in: by name, `all` last.
    ordered = sorted(
        (dict(r) for r in channels),
        key=lambda r: (r["normalized_channel"] == ALL_CHANNELS, str(r["normalized_channel"])),
    )
    return Report(as_of, days, missing, baseline_days, label, trends, ordered)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def render_png(report: Report, dpi: int = DPI) -> bytes:
    """Three panels, one per OKR: daily values, 7-day mean, baseline and target lines
    (FIGURE_INCHES at `dpi`: 1200 x 1000 pixels at the default)."""
    # A Figure of its own, not pyplot: no backend or global state is chosen, and importing this
    # module does not import matplotlib.
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    x = [parse_day(d) for d in report.days]
    figure = Figure(figsize=FIGURE_INCHES, dpi=dpi)
    axes = figure.subplots(3, 1, sharex=True)
    for axis, trend in zip(axes, report.trends, strict=True):
        daily = [float("nan") if v is None else v for v in trend.values]
        rolling = [float("nan") if v is None else v for v in trend.rolling]
        axis.plot(x, daily, marker="o", markersize=3, linewidth=1, color="#9aa5b1", label="daily")
        axis.plot(
            x,
            rolling,
            marker="o" if len(x) < ROLLING_DAYS else None,
            markersize=4,
            linewidth=2.2,
            color="#1f5fbf",
            label=f"{ROLLING_DAYS}-day mean",
        )
        if trend.baseline is not None and trend.target is not None:
            axis.axhline(trend.baseline, color="#555555", linestyle=":", label="baseline")
            axis.axhline(
                trend.target,
                color="#c0392b",
                linestyle="--",
                label=f"target (baseline x {trend.okr.target_factor:.2f})",
            )
        percent = trend.percent_of_target
        status = f" - latest 7-day mean {percent:.1f}% of target" if percent is not None else ""
        axis.set_title(trend.okr.title + status, loc="left", fontsize=11)
        axis.set_ylabel(trend.okr.unit)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper left", fontsize=8, ncol=4)
    axes[-1].set_xlim(x[0] - dt.timedelta(days=1), x[-1] + dt.timedelta(days=1))
    axes[-1].xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=10))
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    axes[-1].set_xlabel("day (UTC)")
    figure.suptitle(
        f"Add-on OKRs as of {report.as_of} - baseline: {report.baseline_label}", fontsize=12
    )
    figure.autofmt_xdate()
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


def preview_png(png: bytes, dpi: int) -> bytes:
    """A smaller copy of render_png's chart, FIGURE_INCHES at `dpi`: the full-size PNG scaled
    down (Pillow, which matplotlib brings) instead of drawn again, which costs as much as the
    first drawing (about 0.6 s a day)."""
    from PIL import Image

    size = (round(FIGURE_INCHES[0] * dpi), round(FIGURE_INCHES[1] * dpi))
    with Image.open(io.BytesIO(png)) as image:
        small = image.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="png", optimize=False)
    return out.getvalue()


def _cell(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def render_html(report: Report, png: bytes) -> str:
    """The page: the chart (embedded), the numbers, the latest day per channel, the gaps."""
    image = base64.b64encode(png).decode("ascii")
    okr_rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                html.escape(t.okr.title),
                _cell(t.values[-1] if report.days[-1] == t.latest_day else None),
                _cell(t.latest_rolling),
                _cell(t.baseline),
                _cell(t.target),
                "-" if t.percent_of_target is None else f"{t.percent_of_target:.1f}%",
            )
        )
        + "</tr>"
        for t in report.trends
    )
    columns = list(report.channels[0]) if report.channels else []
    channel_rows = "\n".join(
        "<tr>" + "".join(f"<td>{_cell(row[c])}</td>" for c in columns) + "</tr>"
        for row in report.channels
    )
    gaps = ", ".join(report.missing) if report.missing else "none"
    latest = report.trends[0].latest_day if report.trends else report.as_of
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Add-on OKRs as of {report.as_of}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
</style></head>
<body>
<h1>Add-on OKRs as of {report.as_of}</h1>
<p>From addons/okr/v1, the <code>all</code> row of each day, {report.days[0]} to
{report.days[-1]}. Baseline: {html.escape(report.baseline_label)}.
Missing days (gaps in the chart): {gaps}.</p>
<img src="data:image/png;base64,{image}" alt="The three OKRs, day by day, against their targets">
<h2>The OKRs</h2>
<table id="okrs">
<tr><th>OKR</th><th>{report.days[-1]}</th><th>latest {ROLLING_DAYS}-day mean</th>
<th>baseline</th><th>target</th><th>7-day mean / target</th></tr>
{okr_rows}
</table>
<h2>By channel, {latest}</h2>
<table id="channels">
<tr>{"".join(f"<th>{html.escape(c)}</th>" for c in columns)}</tr>
{channel_rows}
</table>
</body></html>
"""
