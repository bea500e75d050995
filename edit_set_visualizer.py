"""Look at edit sets in a browser: overview, gallery and image detail, before and after a repair.

A thin front end over :func:`editset_helpers.web.app.create_app`; see the README section
"Edit-set visualizer" for the pages and the JSON API.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from editset_helpers.io import DEFAULT_EDIT_SET_DIR
from editset_helpers.web.app import NO_MODEL_NOTE, create_app
from editset_helpers.web.server import bind, url_of
from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_device_argument,
    integer_type,
    run_main,
    setup_logging,
)

log = logging.getLogger("edit_set_visualizer")

DEFAULT_WEIGHTS = Path("artifacts/alexnet_base.pth")

EXAMPLES = """\
examples:
  # every edit set in data/edit_sets, judged by the base model
  uv run python edit_set_visualizer.py

  # before and after a repair: verdicts (fixed / still wrong / broken / still right)
  uv run python edit_set_visualizer.py --repaired artifacts/alexnet_repaired.pth

  # another folder, reachable from other machines on port 8080 (no authentication!)
  uv run python edit_set_visualizer.py --edit-sets-dir results/sets --host 0.0.0.0 --port 8080

The page is at the printed URL; the JSON API starts at /api/sets; the embedding map of
activation sets (extract_activations.py, process_embeddings.py) is at /map?name=NAME; the
data review page (reports of run_error_detection.py, decisions kept in SQLite) is at
/error-review.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.splitlines()[0], epilog=EXAMPLES,
                            formatter_class=HelpFormatter)
    parser.add_argument("--edit-sets-dir", type=Path, default=DEFAULT_EDIT_SET_DIR,
                        help="folder holding the *_edit_dataset.pt files")
    parser.add_argument("--weights", type=Path, default=None,
                        help=f"base model checkpoint (default: {DEFAULT_WEIGHTS} when it exists; "
                             "without one the pages show the sets' own records only)")
    parser.add_argument("--repaired", type=Path, default=None,
                        help="repaired model checkpoint, compared with the base model per image")
    add_device_argument(parser)
    parser.add_argument("--activations-dir", type=Path, default=Path("data/activations"),
                        help="folder of activation sets for the embedding map at /map")
    review = parser.add_argument_group("data review page (/error-review)")
    review.add_argument("--data-quality-dir", type=Path, default=Path("results/data_quality"),
                        help="folder of the data-quality reports (run_error_detection.py)")
    review.add_argument("--decisions", type=Path, default=None, metavar="FILE",
                        help="SQLite file of review decisions (default: "
                             "<data-quality-dir>/decisions.sqlite)")
    review.add_argument("--data-root", default="data",
                        help="folder holding the data sets the reports name (for the images)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 exposes the page to the network")
    parser.add_argument("--influence-dir", default="results/tracin",
                        help="TracIn results (compute_tracin_influence.py): an edit image's page "
                             "lists its proponents and opponents when its set has one")
    parser.add_argument("--port", type=integer_type(0, 65535, name="port"), default=5000,
                        help="port to listen on; 0 picks a free one")
    parser.add_argument("--verbose", action="store_true",
                        help="log every request, not only loads, model passes and errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    weights = args.weights
    if weights is None and DEFAULT_WEIGHTS.exists():
        weights = DEFAULT_WEIGHTS
    app = create_app(args.edit_sets_dir, weights=weights, repaired=args.repaired,
                     device=args.device, activations_dir=args.activations_dir,
                     review={"data_quality_dir": args.data_quality_dir,
                             "decisions": args.decisions, "data_root": args.data_root},
                     influence_dir=args.influence_dir)
    if weights is None:
        log.warning(NO_MODEL_NOTE)
    catalog = app.extensions["edit_set_visualizer"].catalog
    entries = catalog.scan()
    broken = [e for e in entries if not e.ok]
    log.info("%d edit sets in %s%s", len(entries) - len(broken), args.edit_sets_dir,
             f" ({len(broken)} files do not load; see the overview page)" if broken else "")
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = bind(app, args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: anyone who can reach this machine can see the edit sets",
                    args.host)
    print(f"Edit-set visualizer at {url_of(server)} (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # the normal way to stop a local server, not a failure
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
