"""Make docs/visualizer_overview.png and docs/visualizer_gallery.png from real edit sets.

Needs the system Chromium (``apt-get install -y chromium``) and the dev dependencies (Playwright).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from editset_helpers.io import DEFAULT_EDIT_SET_DIR
from editset_helpers.web.app import create_app
from editset_helpers.web.browser import save_screenshots
from helpers.cli import ArgumentParser, HelpFormatter, run_main, setup_logging

EXAMPLES = """\
examples:
  # after training and `editset_generator.py` made misclassified and class_3_cat
  uv run python docs/make_screenshots.py --force

  # screenshots of a repair: verdicts on the overview and colour-coded gallery cards
  uv run python docs/make_screenshots.py --repaired artifacts/alexnet_repaired.pth --force
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.splitlines()[0], epilog=EXAMPLES,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--edit-sets-dir", type=Path, default=DEFAULT_EDIT_SET_DIR,
                        help="folder holding the edit sets")
    parser.add_argument("--weights", type=Path, default=Path("artifacts/alexnet_base.pth"),
                        help="base model checkpoint")
    parser.add_argument("--repaired", type=Path, default=None, help="repaired model checkpoint")
    parser.add_argument("--overview-set", default="misclassified",
                        help="set shown in visualizer_overview.png")
    parser.add_argument("--gallery-set", default="class_3_cat",
                        help="set shown in visualizer_gallery.png")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="output folder")
    parser.add_argument("--force", action="store_true", help="replace existing screenshots")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per thumbnail
    app = create_app(args.edit_sets_dir, weights=args.weights, repaired=args.repaired)
    catalog = app.extensions["edit_set_visualizer"].catalog
    for name in (args.overview_set, args.gallery_set):
        catalog.open(name)  # a missing or unreadable set fails here, in one line
    for path in save_screenshots(app, args.out, overview_set=args.overview_set,
                                 gallery_set=args.gallery_set, force=args.force):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
