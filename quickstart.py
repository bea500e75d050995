"""Quick start: data, a base model, a misclassified edit set, a verified repair, one table.

Examples:
  uv run python quickstart.py                      # outputs in artifacts/quickstart/
  uv run python quickstart.py --data-root /data    # CIFAR-10 already at /data/cifar-10-batches-py
  uv run python quickstart.py --force              # redo every step

CIFAR-10 is downloaded through torchvision when absent; on a machine without a network it is
built from ../shared/datasets/cifar10 when that folder exists. With no artifacts/alexnet_base.pth,
a base model is trained for --epochs epochs on --train-subset images (about 6 minutes on 2
CPU cores). Finished steps are skipped on the next run. Exit code 0 when the repair verified,
1 when it did not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.cli import ArgumentParser, HelpFormatter, run_main, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("data"),
                        help="folder holding (or receiving) cifar-10-batches-py/")
    parser.add_argument("--folder", type=Path, default=Path("artifacts/quickstart"),
                        help="where the quick start keeps its outputs")
    parser.add_argument("--base-model", type=Path, default=Path("artifacts/alexnet_base.pth"),
                        help="used when it exists, instead of training a quick one")
    parser.add_argument("--epochs", type=int, default=2, help="quick training schedule")
    parser.add_argument("--train-subset", type=int, default=30_000,
                        help="training images the quick schedule uses")
    parser.add_argument("--edit-set-size", type=int, default=100,
                        help="misclassified test images to repair")
    parser.add_argument("--force", action="store_true", help="redo every step")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from edits.quickstart import QuickstartSettings, run_quickstart, summary

    report = run_quickstart(QuickstartSettings(
        data_root=args.data_root, folder=args.folder, base_model=args.base_model,
        epochs=args.epochs, train_subset=args.train_subset, edit_set_size=args.edit_set_size,
        force=args.force))
    print(summary(report))
    print(f"outputs: {args.folder}/ (repaired model, report, edit set)")
    return 0 if report.get("verified") else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
