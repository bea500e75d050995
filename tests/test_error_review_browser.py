"""The review page in a real headless Chromium: filter, mark, reload, and see the decision.

Skips, saying what is missing, when the system Chromium (``apt-get install -y chromium``) or
Playwright is not there; no browser is ever downloaded.
"""

from __future__ import annotations

from editset_helpers.web.app import create_app
from editset_helpers.web.browser import ALL_IMAGES_LOADED, open_page
from editset_helpers.web.server import BackgroundServer


def test_filter_mark_reload_and_see_the_decision(chromium_browser, review_folder,
                                                 visualizer_sets, tmp_path):
    folder, flipped = review_folder
    database = tmp_path / "decisions.sqlite"
    app = create_app(visualizer_sets, review={"data_quality_dir": folder / "dq",
                                              "decisions": database,
                                              "data_root": folder / "data"})
    page = chromium_browser.new_page(viewport={"width": 1280, "height": 900})
    with BackgroundServer(app) as url:
        open_page(page, f"{url}error-review")
        assert page.locator("[data-testid=finding]").count() == len(flipped) + 1  # + the pair
        widths = page.eval_on_selector_all("[data-testid=finding] img",
                                           "els => els.map(e => e.naturalWidth)")
        assert set(widths) == {96}  # 32 px images served at 3x

        page.select_option("#f-type", "label")
        page.click("[data-testid=apply-filters]")
        page.wait_for_url("**/error-review?type=label**")
        page.wait_for_function(ALL_IMAGES_LOADED)
        cards = page.locator("[data-testid=finding]")
        assert cards.count() == len(flipped)
        target = page.locator(f"[data-testid=finding][data-index='{flipped[0]}']")
        target.locator("button[data-decision=relabel]").click()
        suggested = target.locator("[data-field=suggested_class]").inner_text()
        decided = target.locator("[data-field=decision]")
        decided.filter(has_text="relabel").wait_for()
        assert decided.inner_text() == f"relabel as {suggested}"
        other = page.locator(f"[data-testid=finding][data-index='{flipped[1]}']")
        other.locator("button[data-decision=fixed]").click()
        other.locator("[data-field=decision]").filter(has_text="fixed").wait_for()

        page.reload()
        page.wait_for_function(ALL_IMAGES_LOADED)
        assert page.locator(f"[data-testid=finding][data-index='{flipped[0]}'] "
                            "[data-field=decision]").inner_text() == f"relabel as {suggested}"
        assert "decided-fixed" in page.locator(
            f"[data-testid=finding][data-index='{flipped[1]}']").get_attribute("class")
        assert "1 fixed" in page.inner_text("[data-testid=stat-label]")

        page.select_option("#f-status", "open")
        page.click("[data-testid=apply-filters]")
        page.wait_for_url("**status=open**")
        assert page.locator("[data-testid=finding]").count() == len(flipped) - 2
        page.screenshot(path=tmp_path / "review.png", full_page=True)
    assert (tmp_path / "review.png").stat().st_size > 10_000
