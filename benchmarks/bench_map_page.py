"""Time the embedding map in a real browser: first load, then a colour-mode change.

Opens ``/map?name=NAME`` of an activation set in headless Chromium (Debian's, through
Playwright), waits until the page says it is drawn (``data-map-ready``), reads the page's own
timings (JSON fetched, plot drawn), loads it once more in a new page (warm server),
switches the colour mode to correct/wrong and times the
recolour, then to edit-set membership; optionally saves a screenshot for the docs. Prints JSON
with machine, commit and command; ``--out`` also writes it.

  uv run python benchmarks/bench_map_page.py --name cifar10_test10k \\
      --out benchmarks/results/map_page_10000.json
  uv run python benchmarks/bench_map_page.py --name cifar10_test --mode edit_set \\
      --edit-set misclassified --screenshot docs/embedding_map.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from editset_helpers.web.app import create_app
from editset_helpers.web.browser import VIEWPORT, chromium
from editset_helpers.web.server import BackgroundServer
from helpers.atomic_io import atomic_write_bytes, atomic_write_json
from helpers.cli import ArgumentParser, HelpFormatter, run_main
from helpers.provenance import provenance

READY = "document.body.dataset.mapReady === '1'"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                            epilog="examples:\n" + __doc__.split("\n\n")[2],
                            formatter_class=HelpFormatter)
    parser.add_argument("--name", required=True, help="activation set to open")
    parser.add_argument("--activations-dir", type=Path, default=Path("data/activations"))
    parser.add_argument("--edit-sets-dir", type=Path, default=Path("data/edit_sets"),
                        help="edit sets whose membership the map can show")
    parser.add_argument("--weights", type=Path, default=Path("artifacts/alexnet_base.pth"))
    parser.add_argument("--mode", choices=("class", "correct", "edit_set"), default="class",
                        help="colour mode of the screenshot")
    parser.add_argument("--edit-set", default=None, help="edit set shown in edit_set mode")
    parser.add_argument("--screenshot", type=Path, default=None, help="PNG to write")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    app = create_app(args.edit_sets_dir, weights=args.weights if args.weights.exists() else None,
                     activations_dir=args.activations_dir)
    with chromium() as browser, BackgroundServer(app) as url:
        page = browser.new_page(viewport=VIEWPORT)
        started = time.perf_counter()
        page.goto(f"{url}map?name={args.name}")
        page.wait_for_function(READY, timeout=300_000)
        first_load = time.perf_counter() - started
        timings = page.evaluate("window.mapTimings")
        points = page.evaluate("window.mapApp.data.count")
        # Again in a new page: the server has the set's payload now, the browser its scripts.
        page = browser.new_page(viewport=VIEWPORT)
        started = time.perf_counter()
        page.goto(f"{url}map?name={args.name}")
        page.wait_for_function(READY, timeout=300_000)
        second_load = time.perf_counter() - started

        started = time.perf_counter()
        page.select_option("#color-mode", "correct")
        page.wait_for_function("document.getElementById('plot').dataset.mode === 'correct'")
        recolour = time.perf_counter() - started
        recolour_in_page = page.evaluate("window.mapTimings.lastRecolourMs")

        page.select_option("#color-mode", args.mode)
        if args.mode == "edit_set" and args.edit_set:
            page.select_option("#edit-set", args.edit_set)
        page.wait_for_function(f"document.getElementById('plot').dataset.mode === '{args.mode}'")
        if args.screenshot:
            page.wait_for_timeout(500)
            atomic_write_bytes(args.screenshot, page.screenshot(full_page=False))
    result = {"kind": "map_page", "name": args.name, "points": points,
              "first_load_seconds": round(first_load, 3),
              "second_load_seconds": round(second_load, 3),
              "page_fetched_ms": timings.get("fetchedMs"),
              "page_plotted_ms": timings.get("plottedMs"),
              "recolour_seconds": round(recolour, 3), "recolour_in_page_ms": recolour_in_page,
              **provenance()}
    print(json.dumps(result, indent=2))
    if args.out:
        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
