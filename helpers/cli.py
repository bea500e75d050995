"""What every script shares: logging set-up, common flags, and turning UserError into exit 2."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from helpers.errors import UserError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the hand-made line breaks of the examples epilog."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # "(default: None)" and "(default: False)" say nothing; a help text that explains its
        # default itself must not get a second one.
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """Argument mistakes become one ``error: ...`` line and exit 2, like every other mistake.

    argparse's own ``error`` prints the whole usage block first; a user who mistyped one value
    needs the one line that says which, and ``--help`` for the rest.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


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


def hyphenate_flags(argv: list[str]) -> list[str]:
    """``--num_samples 5`` -> ``--num-samples 5``: both spellings of a long flag are accepted.

    The older scripts users port from spelled flags with underscores; argparse knows one
    spelling per declaration, and declaring every flag twice doubles every help line. Only the
    flag name is touched (``--name=a_b`` keeps its value), and nothing after ``--``.
    """
    out, passthrough = [], False
    for arg in argv:
        if passthrough or arg == "--":
            passthrough = True
            out.append(arg)
        elif arg.startswith("--") and not arg.startswith("---"):
            flag, eq, value = arg.partition("=")
            out.append(flag.replace("_", "-") + eq + value)
        else:
            out.append(arg)
    return out
