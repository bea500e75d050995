"""The options both edit-set generators take, declared once.

``editset_generator.py`` (misclassified, by class) and ``generate_specialized_repairsets.py``
(confidently wrong, almost right) read the same model, data and split, write to the same folder
and balance classes the same way; their flags, defaults, help texts and messages come from here.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from helpers.cli import (
    add_class_list_argument,
    add_data_args,
    add_device_argument,
    add_exclude_flagged_argument,
    non_negative_int,
    positive_int,
)
from helpers.errors import UserError

if TYPE_CHECKING:  # generation imports torch; --help should not wait for it
    from editset_helpers.generation import Balance

DEFAULT_WEIGHTS = "artifacts/alexnet_base.pth"
DEFAULT_OUTPUT_DIR = "data/edit_sets"


def add_generation_arguments(parser: argparse.ArgumentParser, *, seed_help: str) -> None:
    """Model, data, split, seed, output folder, --force, -v and the class-balance group."""
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS,
                        help="model whose predictions decide what goes into the set")
    add_data_args(parser)
    add_exclude_flagged_argument(parser)
    add_device_argument(parser)
    parser.add_argument("--split", default="test", help="split the images come from")
    parser.add_argument("--seed", type=non_negative_int, default=0, help=seed_help)
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR,
                        help="folder for <name>_edit_dataset.pt and <name>_edit_metadata.json")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument("-v", "--verbose", action="store_true")
    balance = parser.add_argument_group(
        "class balance", "keep the same number of images from each chosen true class: every "
        "class, the first --num-classes, or the --target-classes")
    balance.add_argument("--per-class", type=positive_int, default=None, metavar="K",
                         help="images per class (default: no balancing)")
    which = balance.add_mutually_exclusive_group()
    which.add_argument("--num-classes", type=positive_int, default=None, metavar="N",
                       help="balance over classes 0..N-1 (default: every class)")
    add_class_list_argument(which, "--target-classes", help="balance over these class ids")


def balance_from(args: argparse.Namespace) -> Balance | None:
    """``Balance`` when --per-class is given; choosing classes without it is a mistake."""
    from editset_helpers.generation import Balance

    if args.per_class is None:
        if args.num_classes is not None or args.target_classes:
            raise UserError("--num-classes and --target-classes choose the classes to balance "
                            "over; give --per-class K as well (images per class)")
        return None
    return Balance(args.per_class, num_classes=args.num_classes,
                   target_classes=args.target_classes)
