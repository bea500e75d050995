"""Run every data-quality check with one set of options: label issues, duplicates, predictions.

Examples:
  uv run python run_error_detection.py                       # CIFAR-10 test, base model
  uv run python run_error_detection.py --split train --against test --embedding model
  uv run python run_error_detection.py --checks label_issues near_duplicates
  uv run python run_error_detection.py --label-overrides results/data_quality/decisions.json \\
      --output-dir results/data_quality/after_review

The model and each split are loaded once and shared by the checks. Reports go to --output-dir
(default results/data_quality/) under one UTC time stamp: label_issues_report_<time>.json,
near_duplicates_report_<time>.json, prediction_validation_report_<time>.json (+ its
reliability diagram). Then review them in the browser: uv run python edit_set_visualizer.py
and open /error-review; decisions are kept in results/data_quality/decisions.sqlite, and their
export is what --label-overrides and --exclude-flagged read.
"""

from __future__ import annotations

import argparse
import sys

from helpers.cli import ArgumentParser, HelpFormatter, run_main, setup_logging

CHECK_NAMES = ("label_issues", "near_duplicates", "prediction_validation")


def build_parser() -> argparse.ArgumentParser:
    from data_quality.options import add_options

    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    parser.add_argument("--checks", nargs="+", choices=CHECK_NAMES, default=list(CHECK_NAMES),
                        metavar="CHECK", help=f"which checks to run, from {', '.join(CHECK_NAMES)}")
    add_options(parser, *CHECK_NAMES)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from data_quality.pipeline import run_checks, summary_lines

    kinds = tuple(dict.fromkeys(args.checks))
    written = run_checks(args, kinds, script="run_error_detection.py", argv=argv)
    for kind, (path, report) in written.items():
        print("\n".join(summary_lines(kind, path, report)))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
