"""Regenerate the README's pictures: `make screenshots`.

Starts `dagster dev` on a temporary home and warehouse (loopback, a free port), generates four
weeks of sample days whose OKR drivers drift up 1% a day, backfills them the way the UI's
dialog does (one run), and has a headless Chromium photograph the asset graph, the
addon_aggregates page, the OKR metrics plotted day by day and the OKR report's page. Stops the
server by its process id whatever happens.

    python scripts/screenshots.py OUT_DIR
"""

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from addon_okrs.defs.graph import built_asset_names
from addon_okrs.storage.catalog import ADDON_OKR_REPORT
from addon_okrs.tools.generate import generate_days
from harness.dagster_dev import DagsterDev, launch_backfill
from harness.ui_tour import asset_graph, asset_page, browser_page, metadata_plots, report_page

FIRST_DAY = dt.date(2017, 5, 1)
DAYS = 28
CLIENTS = 5_000
DRIFT_PERCENT = 1.0


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    days = [(FIRST_DAY + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(DAYS)]
    with tempfile.TemporaryDirectory(prefix="addon-okrs-screenshots-") as base:
        server = DagsterDev(Path(base), env={"ADDON_OKRS_BACKFILL_DAYS_PER_RUN": "0"})
        print(f"generating {days[0]}..{days[-1]} ({CLIENTS:,} clients a day, +1%/day)", flush=True)
        generate_days(
            server.sources.as_uri(), days[0], DAYS, CLIENTS, samples=4, drift_percent=DRIFT_PERCENT
        )
        try:
            server.start()
            print(f"backfilling them as the UI's dialog does ({server.url})", flush=True)
            backfill = launch_backfill(server, built_asset_names, days)
            [run] = server.wait_for_runs({"dagster/backfill": backfill}, 1, timeout=1200)
            if run["status"] != "SUCCESS":
                print(f"the backfill ended {run['status']}; see {base}/dagster-dev.log")
                return 1
            report = server.output / ADDON_OKR_REPORT.day_path(days[-1]) / "index.html"
            with browser_page() as page:
                for seen in (
                    asset_graph(page, server.url, out_dir / "asset-graph.png"),
                    asset_page(
                        page, server.url, "addon_aggregates", out_dir / "addon-aggregates.png"
                    ),
                    metadata_plots(
                        page, server.url, "addon_okr_metrics", out_dir / "okr-metrics-plots.png"
                    ),
                    report_page(page, report, out_dir / "okr-report.png"),
                ):
                    print(f"wrote {seen.screenshot}")
        finally:
            server.stop()
    print(f"done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
