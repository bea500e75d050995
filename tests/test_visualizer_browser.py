"""The visualizer in a real headless Chromium: what a researcher clicks through, end to end.

Skips, saying what is missing, when the system Chromium (``apt-get install -y chromium``) or
Playwright is not there; no browser is ever downloaded.
"""

from __future__ import annotations

import pytest

from editset_helpers.io import load_edit_set
from editset_helpers.web.app import create_app
from editset_helpers.web.browser import (
    ALL_IMAGES_LOADED,
    BrowserUnavailable,
    chromium,
    open_page,
    save_screenshots,
)
from editset_helpers.web.server import BackgroundServer
from helpers.errors import UserError


@pytest.fixture(scope="module")
def browser():
    try:
        with chromium() as launched:
            yield launched
    except BrowserUnavailable as error:
        pytest.skip(f"no headless browser: {error}")


def test_browse_overview_switch_set_gallery_and_detail(browser, visualizer_sets,
                                                       tiny_model_path, repaired_model_path,
                                                       tmp_path):
    app = create_app(visualizer_sets, weights=tiny_model_path, repaired=repaired_model_path)
    misclassified = load_edit_set(visualizer_sets / "misclassified_edit_dataset.pt")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    with BackgroundServer(app) as url:
        open_page(page, url)  # redirected to the first set
        assert page.url == f"{url}?set=class_3_cat"
        page.screenshot(path=tmp_path / "first.png", full_page=True)

        page.select_option("#set-select", "misclassified")
        page.click("form.switcher button[type=submit]")
        page.wait_for_url(f"{url}?set=misclassified")
        page.wait_for_function(ALL_IMAGES_LOADED)
        assert page.inner_text("h1") == "misclassified"
        assert page.inner_text("[data-testid=stat-images]") == str(len(misclassified))
        chart_widths = page.eval_on_selector_all(".charts img",
                                                 "els => els.map(e => e.naturalWidth)")
        assert len(chart_widths) == 2 and min(chart_widths) > 300
        page.screenshot(path=tmp_path / "overview.png", full_page=True)

        page.click("nav.tabs >> text=Gallery")
        page.wait_for_url(f"{url}gallery?set=misclassified")
        page.wait_for_function(ALL_IMAGES_LOADED)
        widths = page.eval_on_selector_all(".grid img", "els => els.map(e => e.naturalWidth)")
        assert len(widths) == min(60, len(misclassified)) and set(widths) == {96}
        cards = page.eval_on_selector_all(".card", """cards => cards.map(c => [
            Number(c.dataset.index),
            c.querySelector('[data-field=true_class]').textContent,
            c.querySelector('[data-field=predicted_class]').textContent])""")
        assert cards == [[i, misclassified.metadata[i]["true_class"],
                          misclassified.metadata[i]["predicted_class"]] for i in range(len(cards))]
        rendering = page.eval_on_selector(".grid img", "e => getComputedStyle(e).imageRendering")
        assert rendering == "pixelated"
        page.screenshot(path=tmp_path / "gallery.png", full_page=True)

        page.click(".card[data-index='1'] a.thumb")
        page.wait_for_url(f"{url}image?set=misclassified&index=1")
        page.wait_for_function(ALL_IMAGES_LOADED)
        assert page.inner_text("[data-testid=detail-true-class]") == \
            misclassified.metadata[1]["true_class"]
        assert page.eval_on_selector("[data-testid=detail-image]", "e => e.naturalWidth") == 288
        assert page.eval_on_selector("[data-testid=probabilities]", "e => e.naturalWidth") > 500
        assert page.inner_text("[data-testid=verdict]").split(":")[0] in (
            "fixed", "still wrong", "broken (was right, now wrong)", "still right")
        page.screenshot(path=tmp_path / "detail.png", full_page=True)

        page.keyboard.press("Tab")  # the skip link is the first stop for keyboard users
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for name in ("first", "overview", "gallery", "detail"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_save_screenshots_writes_both_docs_images(browser, visualizer_sets, tiny_model_path,
                                                  tmp_path):
    app = create_app(visualizer_sets, weights=tiny_model_path)
    written = save_screenshots(app, tmp_path, overview_set="misclassified",
                               gallery_set="class_3_cat", browser=browser)
    assert [p.name for p in written] == ["visualizer_overview.png", "visualizer_gallery.png"]
    assert all(p.stat().st_size > 10_000 for p in written)

    with pytest.raises(UserError, match="already exists"):
        save_screenshots(app, tmp_path, overview_set="misclassified", gallery_set="class_3_cat",
                         browser=browser)


def test_a_missing_browser_is_named_with_its_install_line(tmp_path):
    with pytest.raises(BrowserUnavailable, match=r"apt-get install -y chromium"), \
            chromium(tmp_path / "no-chromium"):
        pass
