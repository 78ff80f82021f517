"""Regenerate the README's pictures of the Dagster UI: `make screenshots`.

Starts `dagster dev` on a temporary home and warehouse (loopback, a free port), generates one
sample day, materializes it the way the UI's Materialize button does, and has a headless
Chromium photograph the asset graph and the addon_aggregates page. Stops the server by its
process id whatever happens.

    python scripts/screenshots.py OUT_DIR
"""

import sys
import tempfile
import time
from pathlib import Path

from addon_okrs.assets import built_asset_names
from addon_okrs.generate import generate_day
from harness.dagster_dev import DagsterDev, materialize_day_as_the_ui_does, wait_for_run
from harness.ui_tour import asset_graph, asset_page, browser_page

DAY = "20170501"
CLIENTS = 20_000


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="addon-okrs-screenshots-") as base:
        server = DagsterDev(Path(base))
        print(f"generating {DAY} ({CLIENTS:,} clients) and starting dagster dev", flush=True)
        generate_day(server.sources.as_uri(), DAY, CLIENTS, samples=10)
        try:
            server.start()
            print(f"materializing {DAY} as the UI's Materialize button does ({server.url})")
            run_id = materialize_day_as_the_ui_does(server, built_asset_names, DAY)
            status = wait_for_run(server, run_id, timeout=600)
            if status != "SUCCESS":
                print(f"run {run_id} ended {status}; see {base}/dagster-dev.log", file=sys.stderr)
                return 1
            with browser_page() as page:
                for seen in (
                    asset_graph(page, server.url, out_dir / "asset-graph.png"),
                    asset_page(
                        page, server.url, "addon_aggregates", out_dir / "addon-aggregates.png"
                    ),
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
