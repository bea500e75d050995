"""Make an edit set: images of a split that a model gets wrong (or right), ready for repair.

Examples:
  uv run python editset_generator.py misclassified
  uv run python editset_generator.py misclassified --max-samples 100 --seed 1
  uv run python editset_generator.py misclassified --per-class 10 --num-classes 5
  uv run python editset_generator.py misclassified --per-class 20 --target-classes 0 3 5
  uv run python editset_generator.py misclassified --per-class 20 --target-classes 0,3,5
  uv run python editset_generator.py by-class --target-class 3 --focus incorrect
  uv run python editset_generator.py by-class --target-class 3 --focus correct --max-samples 50
  uv run python editset_generator.py misclassified --output /tmp/sets/wrong_edit_dataset.pt
  uv run python editset_generator.py corrupted --corruption fog --severity 3 --max-samples 100
  uv run python editset_generator.py by-class --target-class 3 --corruption contrast

Files (in --output-dir, default data/edit_sets/):
  misclassified            -> misclassified_edit_dataset.pt + misclassified_edit_metadata.json
  by-class 3 (incorrect)   -> class_3_cat_edit_dataset.pt + class_3_cat_edit_metadata.json
  by-class 3 --focus correct -> class_3_cat_correct_edit_dataset.pt (+ its _edit_metadata.json)
  corrupted --corruption fog --severity 3 -> corrupted_fog3_edit_dataset.pt (+ metadata)
  misclassified --corruption fog -> misclassified_fog3_edit_dataset.pt (any type takes a shift)
With --corruption the test split is cut into two halves by a seeded draw (--seed): edit images
come from the corrupted first half, and the second half is recorded in the metadata as the
generalisation set (eval.py and run_repair.py report accuracy on it).
An existing file is kept unless --force is given. When no image meets the criterion, nothing
is written and the exit code is still 0.
"""

from __future__ import annotations

import argparse
import sys

from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    max_samples,
    non_negative_int,
    run_main,
    setup_logging,
)
from helpers.corruptions import add_corruption_arguments

SET_TYPES = {  # subcommand (and --focus) -> registered selector name
    "misclassified": "misclassified",
    "incorrect": "class_homogeneous_incorrect",
    "correct": "class_homogeneous_correct",
}


def build_parser() -> argparse.ArgumentParser:
    from editset_helpers.options import add_generation_arguments

    common = argparse.ArgumentParser(add_help=False)
    add_generation_arguments(common, seed_help="seed of the random subset")
    common.add_argument("--max-samples", type=max_samples, default=None,
                        help="keep at most this many (a seeded random subset, nested across "
                             "sizes; -1 or unset: all)")
    common.add_argument("--output", default=None, metavar="PATH",
                        help="write the .pt here instead (the JSON goes beside it)")
    add_corruption_arguments(common)

    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("misclassified", parents=[common], formatter_class=HelpFormatter,
                        help="every image whose predicted class differs from its label",
                        description="Images the model gets wrong, optionally class-balanced by "
                                    "their true class.")
    commands.add_parser("corrupted", parents=[common], formatter_class=HelpFormatter,
                        help="misclassified images of a corruption, with a held-out half",
                        description="Images the model gets wrong under --corruption at "
                                    "--severity, drawn from one half of the split; the other "
                                    "half is recorded as the generalisation set.")
    by_class = commands.add_parser("by-class", parents=[common], formatter_class=HelpFormatter,
                                   help="images of one true class, wrong or right",
                                   description="Images of one true class that the model gets "
                                               "wrong (--focus incorrect) or right (correct).")
    by_class.add_argument("--target-class", type=non_negative_int, required=True, metavar="N",
                          help="true class id (0-based)")
    by_class.add_argument("--focus", choices=("incorrect", "correct"), default="incorrect",
                          help="images the model gets wrong, or those it gets right")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.command == "corrupted" and args.corruption is None:  # before the heavy imports
        from helpers.errors import UserError

        raise UserError("corrupted needs --corruption NAME (see `editset_generator.py corrupted "
                        "--help` for the names)")
    from data_quality.flagged import FlaggedImages
    from editset_helpers.corrupted import Shift, generate_shift_edit_set, shifted_source
    from editset_helpers.generation import Source, generate_edit_set
    from editset_helpers.io import (
        class_set_name,
        edit_set_paths,
        is_edit_set_metadata,
        metadata_path_for,
    )
    from editset_helpers.options import balance_from
    from editset_helpers.predictions import split_predictions
    from helpers.datasets import load_split
    from helpers.devices import resolve_device
    from helpers.errors import UserError
    from helpers.file_pairs import check_pair
    from helpers.sampling import resolve_classes
    from model_classes.checkpoints import load_checkpoint

    balance = balance_from(args)
    shift = (Shift(args.corruption, args.severity, halves_seed=args.seed,
                   corruption_seed=args.corruption_seed) if args.corruption else None)
    if shift is not None and balance is not None:
        raise UserError("--per-class cannot be combined with --corruption; use --max-samples")
    device = resolve_device(args.device)
    flagged = FlaggedImages.read(args.exclude_flagged) if args.exclude_flagged else None
    loaded = load_checkpoint(args.weights, device=device)  # fails before the data set loads
    split = load_split(args.dataset, args.split, data_root=args.data_root,
                       label_overrides=args.label_overrides)
    if flagged is not None:  # a report for another data set fails before the forward pass
        flagged.indices_for(split.dataset, split.split, len(split))

    if args.command in ("misclassified", "corrupted"):
        set_type, name, parameters = SET_TYPES["misclassified"], args.command, {}
        criterion = "misclassified"
    else:
        k = args.target_class
        if not 0 <= k < split.num_classes:
            listed = ", ".join(f"{i} {n}" for i, n in enumerate(split.class_names[:20]))
            more = ", ..." if split.num_classes > 20 else ""
            raise UserError(f"unknown class {k}; --target-class must be 0..{split.num_classes - 1}"
                            f" ({listed}{more})")
        set_type = SET_TYPES[args.focus]
        name = class_set_name(k, split.class_names[k], focus=args.focus)
        parameters = {"target_class": k}
        criterion = f"class {k} {split.class_names[k]}, {args.focus}ly classified"
    if balance is not None:  # an unknown class id fails now, not after the forward pass
        resolve_classes(split.num_classes, num_classes=balance.num_classes,
                        target_classes=balance.target_classes)
    if shift is not None:
        name = f"{name}_{shift.label}"
        criterion = f"{criterion} under {shift.corruption} (severity {shift.severity})"
    output = args.output or edit_set_paths(args.output_dir, name)[0]
    # both files, before the slow part; a pair a killed run left half-written is no obstacle
    check_pair(output, metadata_path_for(output), force=args.force,
               lone_json_is_partial=is_edit_set_metadata)

    if loaded.metadata.class_names is None:
        loaded.metadata.class_names = list(split.class_names)
    source = Source(loaded, split, split_predictions(loaded, split))
    if flagged is not None:
        source = source.excluding(flagged)
        print(f"excluded {len(source.excluded)} flagged images of {split.dataset}/{split.split} "
              f"({args.exclude_flagged})")
    if shift is not None:
        shifted = shifted_source(source, shift)
        result = generate_shift_edit_set(source, set_type, output, shift, parameters=parameters,
                                         max_samples=args.max_samples, seed=args.seed,
                                         force=args.force, shifted=shifted)
        print(f"{split.dataset}/{split.split} under {shift.corruption} (severity "
              f"{shift.severity}): model accuracy {100 * shifted.predictions.accuracy:.2f}% "
              f"(clean {100 * source.predictions.accuracy:.2f}%); edit images from one half "
              f"({len(split) // 2} images), the other {len(split) - len(split) // 2} held out "
              "as the generalisation set")
        source = shifted
        split_size = len(split) // 2
    else:
        result = generate_edit_set(source, set_type, output, parameters=parameters,
                                   max_samples=args.max_samples, seed=args.seed, balance=balance,
                                   force=args.force)
        split_size = len(split)

    where = f"{split.dataset}/{split.split}"
    print(f"{criterion}: {result.available} of {split_size} {where} images meet the criterion "
          f"(model accuracy {100 * source.predictions.accuracy:.2f}%)")
    if result.balance is not None:
        print(f"balanced: {result.balance.summary(split.class_names)}")
    if result.paths is None:
        print("no image meets the criterion; nothing written")
        return 0
    pt_path, json_path = result.paths
    print(f"wrote {len(result.edit_set)} images to {pt_path} (metadata: {json_path})")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
