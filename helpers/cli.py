"""What every script shares: logging set-up, common flags, and turning UserError into exit 2."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from helpers.errors import UserError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the hand-made line breaks of the examples epilog."""


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="cifar10",
                        help="cifar10, imagefolder:<path> or npz:<dir>")
    parser.add_argument("--data-root", default="data",
                        help="folder holding cifar-10-batches-py/ (downloaded there when absent)")


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a script's body; a UserError becomes one line on stderr and exit code 2."""
    try:
        return main(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
