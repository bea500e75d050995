"""Find near-duplicate images within a split and across two splits (train/test leakage).

Examples:
  uv run python find_near_duplicates.py                      # test within, and test vs train
  uv run python find_near_duplicates.py --embedding model    # the base model's penultimate layer
  uv run python find_near_duplicates.py --embedding pixels --threshold 0.98
  uv run python find_near_duplicates.py --split train --against none      # within train only
  uv run python find_near_duplicates.py --threshold 0.9 --max-pairs 200 --output /tmp/dups.json

Each image becomes an L2-normalised embedding (pixels; a mirror-averaged, per-channel
standardised 8x8 thumbnail; or a model layer), and faiss's exact inner-product search finds
each image's nearest neighbours, so similarity is the cosine. Pairs at or above --threshold go
into results/data_quality/near_duplicates_report_<UTC time>.json (unless --output) with both
images' keys and labels and whether the labels agree. benchmarks/results/near_duplicates.json
measures which embedding finds flipped, shifted, colour-jittered and JPEG-re-encoded copies.
"""

from __future__ import annotations

import argparse
import sys

from helpers.cli import ArgumentParser, HelpFormatter, run_main, setup_logging


def build_parser() -> argparse.ArgumentParser:
    from data_quality.options import add_options

    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    add_options(parser, "near_duplicates")
    parser.add_argument("--output", default=None, metavar="PATH", help="report file (default: "
                        "<output-dir>/near_duplicates_report_<time>.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from data_quality.pipeline import run_checks, summary_lines

    written = run_checks(args, ("near_duplicates",), script="find_near_duplicates.py",
                         argv=argv, outputs={"near_duplicates": args.output})
    path, report = written["near_duplicates"]
    print("\n".join(summary_lines("near_duplicates", path, report)))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
