"""Rank the suspect labels of a split with cleanlab (confident learning) and write a report.

Examples:
  uv run python find_label_issues.py                         # CIFAR-10 test, the base model
  uv run python find_label_issues.py --split train           # 5-fold probe on frozen features
  uv run python find_label_issues.py --split train --folds 10 --layer classifier.4
  uv run python find_label_issues.py --split train --influence results/tracin/self_influence.npz
  uv run python find_label_issues.py --label-overrides results/data_quality/decisions.json
  uv run python find_label_issues.py --output /tmp/issues.json --force

Probabilities are out of sample: on the test split the model's own softmax; on the training
split (which the model learnt) a logistic-regression probe on the model's frozen features,
fitted on K-1 folds and predicting the held-out one, so no AlexNet is retrained. cleanlab's
find_label_issues flags the issues and get_label_quality_scores orders them. The report,
results/data_quality/label_issues_report_<UTC time>.json unless --output, lists each flagged
image's index, given and suggested class and quality score (low = suspicious). Look at them
on the review page: uv run python edit_set_visualizer.py, then /error-review.
"""

from __future__ import annotations

import argparse
import sys

from helpers.cli import run_main, setup_logging


def build_parser() -> argparse.ArgumentParser:
    from data_quality.options import single_check_parser

    return single_check_parser(__doc__, "label_issues")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from data_quality.pipeline import run_single_check

    return run_single_check("label_issues", args, script="find_label_issues.py", argv=argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
