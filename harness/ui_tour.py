"""The Dagster UI in a real headless browser: Debian's Chromium driven by Playwright (no browser
download; `executable_path` is the system's). Used by the UI tests and by
scripts/screenshots.py, which regenerates the README's pictures."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

VIEWPORT = {"width": 1600, "height": 1000}
GROUP_LINEAGE = "/locations/addon_okrs.definitions/asset-groups/addon_okrs/lineage"
LOAD_TIMEOUT_MS = 60_000
WELCOME_DIALOG_MS = 5_000


class ChromiumNotFoundError(RuntimeError):
    pass


def chromium_path() -> str:
    """The system Chromium (ADDON_OKRS_CHROMIUM, else chromium or chromium-browser on PATH)."""
    for candidate in (
        os.environ.get("ADDON_OKRS_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate:
            return candidate
    raise ChromiumNotFoundError(
        "no Chromium found for the UI tests: `apt-get install -y chromium` (what .ci/run does), "
        "or point ADDON_OKRS_CHROMIUM at a Chromium binary."
    )


@contextmanager
def browser_page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            page.set_default_timeout(LOAD_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


@dataclass(frozen=True)
class Seen:
    """What a page showed: its visible text, and where its screenshot went."""

    text: str
    screenshot: Path


def _open(page: Page, url: str, ready_text: str) -> None:
    page.goto(url)
    page.get_by_text(ready_text, exact=True).first.wait_for()
    page.wait_for_load_state("networkidle")
    # A browser's first visit gets a newsletter dialog over the page; a user would skip it.
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=WELCOME_DIALOG_MS)
    except PlaywrightTimeoutError:
        return
    skip.click()
    skip.wait_for(state="hidden")


def asset_graph(page: Page, base_url: str, screenshot: Path, showing: str | None = None) -> Seen:
    """The addon_okrs group's lineage: every built asset as a node, the two sources upstream.
    `showing`: a text the graph fills in after its nodes (a check summary, say), waited for;
    if it never comes, the page is returned as it is, for the caller's assertion to show."""
    _open(page, base_url + GROUP_LINEAGE, "addon_aggregates")
    page.get_by_text("main_summary", exact=True).first.wait_for()
    if showing is not None:
        with suppress(PlaywrightTimeoutError):
            page.get_by_text(showing, exact=True).first.wait_for()
    page.screenshot(path=str(screenshot))
    return Seen(page.inner_text("body"), screenshot)


def asset_checks(page: Page, base_url: str, asset: str, screenshot: Path) -> Seen:
    """An asset's Checks tab: each check with the status of its latest execution."""
    _open(page, f"{base_url}/assets/{asset}?view=checks", asset)
    page.get_by_text("grain_is_unique", exact=True).first.wait_for()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screenshot), full_page=True)
    return Seen(page.inner_text("body"), screenshot)


def metadata_plots(page: Page, base_url: str, asset: str, screenshot: Path) -> Seen:
    """An asset's numeric metadata plotted over its materializations (Overview → Metadata →
    Plots → Events)."""
    _open(page, f"{base_url}/assets/{asset}", "Latest materialization")
    page.get_by_role("button", name="Plots").first.click()
    page.get_by_role("button", name="Events").first.click()
    page.wait_for_load_state("networkidle")
    page.locator("canvas").first.wait_for()
    page.screenshot(path=str(screenshot), full_page=True)
    return Seen(page.inner_text("body"), screenshot)


def markdown_image(page: Page, base_url: str, asset: str, screenshot: Path) -> dict[str, int | str]:
    """The image of the latest materialization's Markdown metadata, as the Events tab's
    "[Show Markdown]" opens it: its alt text and natural size."""
    _open(page, f"{base_url}/assets/{asset}?view=events", asset)
    page.get_by_text("[Show Markdown]").first.click()
    image = page.get_by_role("dialog").locator("img").first
    image.wait_for()
    page.wait_for_function("() => document.querySelector('[role=dialog] img').complete")
    page.screenshot(path=str(screenshot))
    found: dict[str, int | str] = image.evaluate(
        "i => ({alt: i.alt, width: i.naturalWidth, height: i.naturalHeight})"
    )
    return found


def report_page(page: Page, index_html: Path, screenshot: Path) -> Seen:
    """The OKR report's page, opened from disk as a reader opens it."""
    page.goto(index_html.as_uri())
    page.wait_for_load_state("load")
    page.screenshot(path=str(screenshot), full_page=True)
    return Seen(page.inner_text("body"), screenshot)


def asset_page(page: Page, base_url: str, asset: str, screenshot: Path) -> Seen:
    """An asset's overview: latest materialization, its checks and its metadata."""
    _open(page, f"{base_url}/assets/{asset}", "Latest materialization")
    page.get_by_text("Metadata", exact=True).first.wait_for()
    page.screenshot(path=str(screenshot), full_page=True)
    return Seen(page.inner_text("body"), screenshot)
