"""The OKR report over days of addons/okr/v1 with a known drift: its baseline, rolling means
and percentages of target equal values computed here independently; a missing day is a named
gap; okrs.png is a PNG of the stated size; the page opens from disk in a headless browser."""

import datetime as dt
import io
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from addon_okrs.dataset import report
from addon_okrs.dataset.schema import ADDON_OKR_METRICS_SCHEMA
from addon_okrs.defs.resources.storage import ReportStoreResource, WarehouseResource
from addon_okrs.storage.catalog import ADDON_OKR_METRICS, ADDON_OKR_REPORT
from harness.ui_tour import browser_page, report_page

FIRST = dt.date(2017, 5, 1)
DAYS = [(FIRST + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(30)]
MISSING = "20170510"
AS_OF = DAYS[-1]
DRIFT = 1.01  # every OKR number grows 1% a day
START = {"self_installers": 10_000, "addons_per_profile": 1.2, "new_profile_self_installers": 300}
ARROW_SCHEMA = pa.schema(
    [
        (f.name, {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64()}[
            f.dataType.simpleString()
        ])
        for f in ADDON_OKR_METRICS_SCHEMA.fields
    ]
)  # fmt: skip


def okr_day(i: int) -> list[dict[str, object]]:
    """The day's rows: a `release` row and the `all` row, the OKR numbers drifting."""
    growth = DRIFT**i
    everything = {
        "normalized_channel": "all",
        "n_clients": 20_000,
        "n_clients_with_addons": 15_000,
        "self_installers": round(START["self_installers"] * growth),
        "self_installer_share": round(START["self_installers"] * growth) / 20_000,
        "self_installed_addons": round(START["addons_per_profile"] * growth * 20_000),
        "addons_per_profile": round(START["addons_per_profile"] * growth * 20_000) / 20_000,
        "new_profile_self_installers": round(START["new_profile_self_installers"] * growth),
    }
    return [{**everything, "normalized_channel": "release"}, everything]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("okr-report")
    for i, day in enumerate(DAYS):
        if day == MISSING:
            continue
        folder = root / ADDON_OKR_METRICS.day_path(day)
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(okr_day(i), ARROW_SCHEMA), folder / "part-0.parquet")
        (folder / "_SUCCESS").touch()
    return root


def resource(root: Path, baseline: tuple[str, str] | None = None) -> ReportStoreResource:
    uri = root.as_uri()
    return ReportStoreResource(
        warehouse=WarehouseResource(
            source_root=uri, output_root=uri, intermediate_root=f"{uri}/intermediate"
        ),
        baseline_first_day=baseline[0] if baseline else None,
        baseline_last_day=baseline[1] if baseline else None,
    )


def independent(metric: str) -> dict[str, float]:
    """The values the report should show, computed here from the drift."""
    values = {
        day: row[metric]
        for i, day in enumerate(DAYS)
        if day != MISSING
        for row in okr_day(i)
        if row["normalized_channel"] == "all"
    }
    present = [d for d in DAYS if d != MISSING]
    baseline = sum(values[d] for d in present[:28]) / 28
    last_week = [values[d] for d in DAYS[-7:] if d in values]
    return {"baseline": baseline, "latest_mean": sum(last_week) / len(last_week)}


def test_baseline_rolling_means_and_percent_of_target_match_an_independent_computation(
    warehouse: Path,
) -> None:
    built = resource(warehouse).build(AS_OF)

    assert built.days == DAYS
    assert built.missing == [MISSING]
    assert built.baseline_days == [d for d in DAYS if d != MISSING][:28]
    assert built.baseline_label == "mean of the first 28 day(s) with data, 20170501 to 20170529"
    for trend, factor in zip(built.trends, (1.05, 1.03, 1.25), strict=True):
        expected = independent(trend.okr.metric)
        assert trend.baseline == pytest.approx(expected["baseline"], rel=1e-12)
        assert trend.target == pytest.approx(expected["baseline"] * factor, rel=1e-12)
        assert trend.latest_rolling == pytest.approx(expected["latest_mean"], rel=1e-12)
        assert trend.percent_of_target == pytest.approx(
            100 * expected["latest_mean"] / (expected["baseline"] * factor), rel=1e-12
        )
        # The gap: no value that day, and the rolling mean over the days around it.
        gap = DAYS.index(MISSING)
        assert trend.values[gap] is None
        neighbours = [v for v in trend.values[gap - 6 : gap + 1] if v is not None]
        assert trend.rolling[gap] == pytest.approx(sum(neighbours) / 6, rel=1e-12)


def test_an_explicit_baseline_is_the_mean_of_its_days(warehouse: Path) -> None:
    built = resource(warehouse, ("20170501", "20170507")).build(AS_OF)

    [okr1, _, _] = built.trends
    week = [okr_day(i)[1]["self_installers"] for i in range(7)]
    assert okr1.baseline == pytest.approx(sum(week) / 7, rel=1e-12)
    assert built.baseline_label == "mean of 20170501 to 20170507 (ADDON_OKRS_OKR_BASELINE)"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.ui
def test_the_report_files_are_a_png_of_the_stated_size_and_a_page_that_opens_from_disk(
    warehouse: Path, tmp_path: Path
) -> None:
    reports = resource(warehouse)
    built = reports.build(AS_OF)
    png = report.render_png(built)

    folder = reports.publish(
        AS_OF, {"okrs.png": png, "index.html": report.render_html(built, png).encode()}, "r1"
    )

    assert folder == f"{warehouse.as_uri()}/{ADDON_OKR_REPORT.day_path(AS_OF)}"
    on_disk = warehouse / ADDON_OKR_REPORT.day_path(AS_OF)
    assert sorted(p.name for p in on_disk.iterdir()) == ["index.html", "okrs.png"]
    assert png_size((on_disk / "okrs.png").read_bytes()) == (1200, 1000)
    assert not (warehouse / ADDON_OKR_REPORT.path / "_staging").exists()
    with browser_page() as page:
        seen = report_page(page, on_disk / "index.html", tmp_path / "report.png")
        image_width = page.eval_on_selector("img", "i => i.naturalWidth")
        okr_rows = page.locator("#okrs tr").count()
        channel_rows = page.locator("#channels tr").count()
    text = seen.text
    for okr in report.OKRS:
        assert okr.title in text
    assert f"Missing days (gaps in the chart): {MISSING}." in text
    assert image_width == 1200
    assert (okr_rows, channel_rows) == (4, 3)  # headers and three OKRs; headers, release, all


def test_the_preview_is_the_chart_scaled_down_to_its_dpi_not_drawn_again(warehouse: Path) -> None:
    from PIL import Image, ImageChops

    png = report.render_png(resource(warehouse).build(AS_OF))

    preview = report.preview_png(png, 55)
    # FIGURE_INCHES (12 x 10) at 55 dpi, and the very chart: the full size scaled down.
    assert png_size(preview) == (660, 550)
    with Image.open(io.BytesIO(png)) as full, Image.open(io.BytesIO(preview)) as small:
        again = full.resize((660, 550), Image.Resampling.LANCZOS)
        assert ImageChops.difference(again, small).getbbox() is None
