"""What every script shares: logging, argument types, options declared once, and exit code 2.

Argument types here are strict on purpose: a value argparse accepts is one the code can use.
Integers are ASCII digits only (``int`` also reads other scripts' digits, and ``"²".isdigit()``
is true, so such text would otherwise reach the code or fail with a traceback) and bounded (a
5,001-digit number is an argparse error, not Python's digit-limit ``ValueError``); floats
refuse NaN and infinity, which pass every ``<``/``>`` check.

Options that several scripts take are declared once, as dataclass fields carrying an
:class:`Option` in their metadata (see :func:`option`); :func:`add_dataclass_arguments` turns
those fields into flags and :func:`dataclass_values` reads them back, so a default or a help
text is written in one place only.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from helpers.errors import UserError, is_user_error

MAX_DIGITS = 18  # every count or id this project takes fits; int64 holds 18 digits
MAX_NUMBER_CHARS = 64  # longest accepted text of a float ("1e-4", "0.000123", ...)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


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


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a script's body; a user's mistake becomes one line on stderr and exit code 2.

    A mistake is a :class:`UserError` or any exception marked ``is_user_error`` (sytorch's own
    type, see :func:`helpers.errors.is_user_error`); anything else is a bug and keeps its
    traceback.
    """
    try:
        return main(argv)
    except Exception as error:
        if not is_user_error(error):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# --- argument types ------------------------------------------------------------------------


def parse_integer(text: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``text`` as an int within the bounds, or :class:`argparse.ArgumentTypeError`."""
    stripped = text.strip()
    digits = stripped.lstrip("+-")
    if not _INTEGER.fullmatch(stripped) or not stripped.isascii():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (digits 0-9 only)")
    if len(digits) > MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{text[:20]}... ({len(digits)} digits) is too large; "
                                         f"at most {MAX_DIGITS} digits")
    value = int(stripped)
    _check_range(text, value, minimum, maximum)
    return value


def parse_number(text: str, *, minimum: float | None = None, maximum: float | None = None,
                 exclusive_minimum: bool = False) -> float:
    """``text`` as a finite float within the bounds, or :class:`argparse.ArgumentTypeError`."""
    stripped = text.strip()
    if (len(stripped) > MAX_NUMBER_CHARS or not stripped.isascii()
            or not _FLOAT.fullmatch(stripped)):
        shown = text if len(text) <= 24 else f"{text[:20]}..."
        raise argparse.ArgumentTypeError(f"{shown!r} is not a number (like 2, 0.5 or 1e-4)")
    value = float(stripped)
    if not math.isfinite(value):  # "1e999" overflows to infinity
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    if exclusive_minimum and minimum is not None and value <= minimum:
        raise argparse.ArgumentTypeError(f"must be greater than {minimum:g}, got {text}")
    _check_range(text, value, None if exclusive_minimum else minimum, maximum)
    return value


def _check_range(text: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {text}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum:g}, got {text}")


def integer_type(minimum: int | None = None, maximum: int | None = None,
                 name: str = "whole number") -> Callable[[str], int]:
    """An argparse ``type=`` for bounded integers; ``name`` shows in error messages."""

    def convert(text: str) -> int:
        return parse_integer(text, minimum=minimum, maximum=maximum)

    convert.__name__ = name
    return convert


def number_type(minimum: float | None = None, maximum: float | None = None, *,
                exclusive_minimum: bool = False, name: str = "number") -> Callable[[str], float]:
    """An argparse ``type=`` for finite floats within bounds."""

    def convert(text: str) -> float:
        return parse_number(text, minimum=minimum, maximum=maximum,
                            exclusive_minimum=exclusive_minimum)

    convert.__name__ = name
    return convert


whole_number = integer_type(name="whole number")
positive_int = integer_type(minimum=1, name="positive whole number")
non_negative_int = integer_type(minimum=0, name="non-negative whole number")
number = number_type(name="number")
positive_number = number_type(minimum=0.0, exclusive_minimum=True, name="positive number")
non_negative_number = number_type(minimum=0.0, name="non-negative number")
fraction = number_type(minimum=0.0, maximum=1.0, name="fraction in [0, 1]")


def max_samples(text: str) -> int:
    """A positive count, or -1 for "all" (the seed scripts' convention)."""
    value = parse_integer(text, minimum=-1)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive number of images, or -1 for all")
    return value


def class_ids(text: str) -> list[int]:
    """``"3"`` or the seed's comma list ``"0,1,2"``: class ids, each >= 0."""
    parts = text.split(",")
    if not text.strip() or any(not part.strip() for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a class id or a comma list like 0,1,2")
    return [parse_integer(part, minimum=0) for part in parts]


class ExtendFlat(argparse.Action):
    """``nargs="+"`` whose items may be comma lists: ``--x 0 1,2 --x 3`` gives ``[0, 1, 2, 3]``."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        current = getattr(namespace, self.dest, None)
        items = list(current) if current is not None else []
        for value in values:
            items.extend(value if isinstance(value, list) else [value])
        setattr(namespace, self.dest, items)


def add_class_list_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                            flag: str, *, help: str, metavar: str = "C") -> None:
    """A class-id list flag that takes ``0 1 2`` and the seed scripts' ``0,1,2`` alike."""
    parser.add_argument(flag, type=class_ids, nargs="+", action=ExtendFlat, default=None,
                        metavar=metavar, help=f"{help} (space- or comma-separated ids)")


# --- options declared once -----------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """How a dataclass field appears on the command line.

    ``to_field`` turns the parsed value into the field's value (``0`` -> ``None`` for "no
    bound"); ``choices`` and ``help`` may be functions, so registries are read when the parser
    is built and a new registry entry shows up in every script's ``--help``.
    """

    help: str | Callable[[], str]
    type: Callable[[str], Any] | None = None
    choices: Callable[[], Iterable[str]] | Iterable[str] | None = None
    nargs: str | None = None
    metavar: str | None = None
    flag: str | None = None  # default: --field-name
    cli_default: Any = None  # when the flag spells the default differently (with has_cli_default)
    has_cli_default: bool = False
    to_field: Callable[[Any], Any] | None = None


def option(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
           **spec: Any) -> Any:
    """A dataclass field that is also a command-line option (see :class:`Option`)."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"option": Option(**spec)})


def option_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a dataclass that are command-line options, in declaration order."""
    return [f for f in dataclasses.fields(cls) if "option" in f.metadata]


def flag_of(f: dataclasses.Field) -> str:
    spec: Option = f.metadata["option"]
    return spec.flag or "--" + f.name.replace("_", "-")


def field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def add_dataclass_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                            cls: type, *, exclude: Sequence[str] = (),
                            axes: Sequence[str] = ()) -> None:
    """One flag per option field of ``cls``, its default and help taken from the field.

    ``axes`` become lists (``nargs="+"``, default ``[default]``): a sweep takes several values.
    """
    for f in option_fields(cls):
        if f.name in exclude:
            continue
        spec: Option = f.metadata["option"]
        default = spec.cli_default if spec.has_cli_default else field_default(f)
        text = spec.help() if callable(spec.help) else spec.help
        kwargs: dict[str, Any] = {"dest": f.name, "help": text, "default": default}
        if isinstance(default, bool) and spec.type is None:
            kwargs["action"] = "store_false" if default else "store_true"
        else:
            if spec.type is not None:
                kwargs["type"] = spec.type
            if spec.choices is not None:
                choices = spec.choices() if callable(spec.choices) else spec.choices
                kwargs["choices"] = list(choices)
            if spec.metavar is not None:
                kwargs["metavar"] = spec.metavar
            if f.name in axes:
                kwargs["nargs"] = "+"
                kwargs["default"] = [default]
            elif spec.nargs is not None:
                kwargs["nargs"] = spec.nargs
        parser.add_argument(flag_of(f), **kwargs)


def dataclass_values(cls: type, args: argparse.Namespace, *, exclude: Sequence[str] = ()
                     ) -> dict[str, Any]:
    """The option fields of ``cls`` read back from parsed ``args`` (absent ones skipped)."""
    values: dict[str, Any] = {}
    for f in option_fields(cls):
        if f.name in exclude or not hasattr(args, f.name):
            continue
        spec: Option = f.metadata["option"]
        value = getattr(args, f.name)
        values[f.name] = spec.to_field(value) if spec.to_field is not None else value
    return values


# --- options every script shares -----------------------------------------------------------

DEVICES = ("auto", "cpu", "cuda", "mps")


def add_data_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--dataset``, ``--data-root`` and ``--label-overrides``: which images, with whose labels.

    Every script that loads images takes these three and passes ``args.label_overrides`` to
    :func:`helpers.datasets.load_split`, so corrected labels reach every tool.
    """
    parser.add_argument("--dataset", default="cifar10",
                        help="cifar10, imagefolder:<path> or npz:<dir>")
    parser.add_argument("--data-root", default="data",
                        help="folder holding cifar-10-batches-py/ (downloaded there when absent)")
    add_label_overrides_argument(parser)


def add_label_overrides_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup
                                 ) -> None:
    """``--label-overrides FILE``: the relabel decisions exported by the review page."""
    parser.add_argument("--label-overrides", default=None, metavar="FILE",
                        help=LABEL_OVERRIDES_HELP)


LABEL_OVERRIDES_HELP = ("corrected labels: the decisions exported by the review page "
                        "(/error-review, .json or .csv); its relabel rows replace the labels "
                        "of those images for this run")


def add_exclude_flagged_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup
                                 ) -> None:
    """``--exclude-flagged FILE``: images no edit set may take (edit-set generators, sweeps)."""
    parser.add_argument("--exclude-flagged", default=None, metavar="FILE",
                        help="keep the images this file flags out of every edit set: a "
                             "label_issues or near_duplicates report, or the review page's "
                             "decisions export (images marked fixed or relabel)")


def add_device_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--device``: where the model's forward passes run (the solvers always use the CPU)."""
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="where the model runs: auto takes CUDA, then Apple MPS, then the "
                             "CPU; the LP/QP solvers always run on the CPU")


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
