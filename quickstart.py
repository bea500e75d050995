"""Quick start: data, a base model, a misclassified edit set, a verified repair, one table.

Examples:
  uv run python quickstart.py                      # outputs in artifacts/quickstart/
  uv run python quickstart.py --data-root /data    # CIFAR-10 already at /data/cifar-10-batches-py
  uv run python quickstart.py --force              # redo every step

CIFAR-10 is downloaded through torchvision when absent; on a machine without a network it is
built from ../shared/datasets/cifar10 when that folder exists. With no artifacts/alexnet_base.pth,
a base model is trained for --epochs epochs on --train-subset images (README.md gives the time
it takes). Finished steps are skipped on the next run. Exit code 0 when the repair verified,
1 when it did not.
"""

from __future__ import annotations

import argparse
import sys

from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_dataclass_arguments,
    add_device_argument,
    dataclass_values,
    run_main,
    setup_logging,
)


def build_parser() -> argparse.ArgumentParser:
    from edits.config import add_repair_arguments
    from edits.quickstart import QuickstartSettings

    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    add_dataclass_arguments(parser, QuickstartSettings)
    add_device_argument(parser)
    add_repair_arguments(parser.add_argument_group("repair"))
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from edits.config import RepairConfig
    from edits.quickstart import QuickstartSettings, run_quickstart, summary

    settings = QuickstartSettings(**dataclass_values(QuickstartSettings, args),
                                  device=args.device, repair=RepairConfig.from_args(args))
    report = run_quickstart(settings)
    print(summary(report))
    print(f"outputs: {settings.folder}/ (repaired model, report, edit set)")
    return 0 if report.get("verified") else 1


if __name__ == "__main__":
    from helpers.allocator import reexec_with_tuned_malloc

    reexec_with_tuned_malloc()  # before torch allocates anything: see helpers/allocator.py
    sys.exit(run_main(main))
