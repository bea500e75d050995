"""Drive the visualizer in a real headless browser: the end-to-end test and the docs screenshots.

Only the system's Chromium is used (Debian: ``apt-get install -y chromium``), through Playwright
for Python; no browser is ever downloaded. Playwright is a dev dependency, imported only here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask

from editset_helpers.web.server import BackgroundServer
from helpers.atomic_io import atomic_write_bytes, check_writable
from helpers.errors import UserError

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
ALL_IMAGES_LOADED = ("() => Array.from(document.images).every("
                     "img => img.complete && img.naturalWidth > 0)")
SCREENSHOTS = ("visualizer_overview.png", "visualizer_gallery.png")


class BrowserUnavailable(UserError):
    """No headless browser can be started here (the message says what is missing)."""


@contextlib.contextmanager
def chromium(executable: Path = CHROMIUM) -> Iterator[Any]:
    """A headless Chromium ``Browser`` from Playwright, closed on exit."""
    if not executable.exists():
        raise BrowserUnavailable(f"{executable} not found; install it with "
                                 "`apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserUnavailable("playwright is not installed; run `uv sync` (it is a dev "
                                 "dependency)") from None
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(executable),
                                                 args=CHROMIUM_ARGS)
        except Exception as error:  # a broken install shows up as any of several errors
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise BrowserUnavailable(f"{executable} did not start: {first[:200]}") from None
        try:
            yield browser
        finally:
            browser.close()


def open_page(page: Any, url: str, *, timeout_ms: int = 60_000) -> None:
    """Go to ``url`` and wait until every image on it has loaded (charts are drawn lazily)."""
    page.goto(url, wait_until="load", timeout=timeout_ms)
    page.wait_for_function(ALL_IMAGES_LOADED, timeout=timeout_ms)


def save_screenshots(app: Flask, out_dir: str | Path, *, overview_set: str, gallery_set: str,
                     force: bool = False, browser: Any | None = None) -> list[Path]:
    """``visualizer_overview.png`` (whole page) and ``visualizer_gallery.png`` (first screen).

    Uses ``browser`` when given (Playwright allows one sync session per thread), else starts
    Chromium. Written atomically; existing files are kept unless ``force``.
    """
    out_dir = Path(out_dir)
    targets = [check_writable(out_dir / name, force=force) for name in SCREENSHOTS]
    with contextlib.ExitStack() as stack:
        if browser is None:
            browser = stack.enter_context(chromium())
        url = stack.enter_context(BackgroundServer(app))
        page = browser.new_page(viewport=VIEWPORT)
        open_page(page, f"{url}?{urlencode({'set': overview_set})}")
        overview = page.screenshot(full_page=True)
        open_page(page, f"{url}gallery?{urlencode({'set': gallery_set})}")
        gallery = page.screenshot(full_page=False)
        page.close()
    for target, data in zip(targets, (overview, gallery), strict=True):
        atomic_write_bytes(target, data)
    return targets
