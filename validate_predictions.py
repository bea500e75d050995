"""Check a model's predictions against the labels: accuracy, misses per class, calibration.

Examples:
  uv run python validate_predictions.py                      # base model on CIFAR-10 test
  uv run python validate_predictions.py --weights artifacts/alexnet_repaired.pth
  uv run python validate_predictions.py --bins 10 --split train
  uv run python validate_predictions.py --label-overrides results/data_quality/decisions.json

Writes results/data_quality/prediction_validation_report_<UTC time>.json (unless --output)
with the accuracy, each class's misses (its images predicted as another class) and false
predictions (other classes' images predicted as it), the confusion matrix, the most confident
errors, the reliability bins and the expected calibration error (ECE, a fraction), and a
reliability diagram PNG beside it (<report>_reliability.png).
"""

from __future__ import annotations

import argparse
import sys

from helpers.cli import run_main, setup_logging


def build_parser() -> argparse.ArgumentParser:
    from data_quality.options import single_check_parser

    return single_check_parser(__doc__, "prediction_validation")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from data_quality.pipeline import run_single_check

    return run_single_check("prediction_validation", args, script="validate_predictions.py",
                            argv=argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
