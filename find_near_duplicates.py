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

from helpers.cli import run_main, setup_logging


def build_parser() -> argparse.ArgumentParser:
    from data_quality.options import single_check_parser

    return single_check_parser(__doc__, "near_duplicates")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from data_quality.pipeline import run_single_check

    return run_single_check("near_duplicates", args, script="find_near_duplicates.py", argv=argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
