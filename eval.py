"""Evaluate a classifier: overall and per-class accuracy and the confusion matrix on a split.

Examples:
  uv run python eval.py                                # artifacts/alexnet_base.pth, CIFAR-10 test
  uv run python eval.py --edit-set data/edit_sets/misclassified_edit_dataset.pt
  uv run python eval.py --weights results/repaired.pth --edit-set data/edit_sets/x_edit_dataset.pt
  uv run python eval.py --json results/base_eval.json  # the same numbers for machines
  uv run python eval.py --split train --data-root /data/cifar
  uv run python eval.py --dataset npz:/data/imagenet64 --split val --weights artifacts/in64.pth

With --edit-set, the drawdown set is the evaluated split minus the edit set's images (matched
by data set, split and image index): accuracy on images the repair was not asked to change.
Accuracies in the JSON report are fractions in [0, 1]; the terminal shows percent.
The inputs of the model's last Linear layer (of the repaired layer, for a repaired checkpoint)
are cached in data/cache/layer_inputs/, so judging a repair of that layer runs only the top.
An edit set of a distribution shift (editset_generator.py corrupted ...) also gets the accuracy
on its generalisation set: the held-out half of the split under the same corruption.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime

from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_data_args,
    add_device_argument,
    positive_int,
    run_main,
    setup_logging,
)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    parser.add_argument("--weights", default="artifacts/alexnet_base.pth",
                        help="model checkpoint (ours or a plain torchvision AlexNet state_dict)")
    add_data_args(parser)
    parser.add_argument("--split", default="test", help="split to evaluate on")
    parser.add_argument("--edit-set", default=None, metavar="PATH",
                        help="an *_edit_dataset.pt: also report edit-set and drawdown accuracy")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the report as JSON to PATH")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    parser.add_argument("--batch-size", type=positive_int, default=500,
                        help="images per forward pass")
    parser.add_argument("--no-cache", action="store_true",
                        help="run the whole model on every image instead of reading the cached "
                             "inputs of its last (or repaired) layer from data/cache/layer_inputs")
    add_device_argument(parser)
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from editset_helpers.evaluation import (
        evaluate_model,
        format_accuracy_summary,
        format_accuracy_table,
    )
    from editset_helpers.io import load_edit_set
    from helpers.atomic_io import atomic_write_json, check_writable
    from helpers.datasets import load_split
    from helpers.devices import resolve_device
    from helpers.errors import UserError
    from model_classes.checkpoints import load_checkpoint

    if args.json:  # refuse before the slow part, not after it
        check_writable(args.json, force=args.force)
    # Cheap checks first: a wrong path should not wait for a data set to load.
    loaded = load_checkpoint(args.weights, device=resolve_device(args.device))
    edit_set = load_edit_set(args.edit_set) if args.edit_set else None
    if edit_set is not None and len(edit_set) == 0:
        raise UserError(f"{args.edit_set} holds no images; there is nothing to evaluate on it")
    split = load_split(args.dataset, args.split, data_root=args.data_root,
                       label_overrides=args.label_overrides)

    predicted = None if args.no_cache else _cached_predictions(loaded, split)
    report = evaluate_model(loaded, split, edit_set, predicted=predicted,
                            batch_size=args.batch_size)
    generalisation = _generalisation(loaded, edit_set, split)
    print(f"model: {args.weights} ({loaded.metadata.architecture}, "
          f"{loaded.metadata.num_classes} classes)")
    print(f"data: {split.dataset}/{split.split}, {len(split)} images")
    if split.label_overrides:
        print(f"label overrides: {split.label_overrides['file']} "
              f"({split.label_overrides['applied']} images relabelled)")
    print(format_accuracy_table(report.test))
    if report.edit is not None and report.drawdown is not None:
        print(f"edit set file: {args.edit_set} ({len(edit_set)} images)")
        print(format_accuracy_summary(report.edit))
        print(format_accuracy_summary(report.drawdown)
              + f" [{split.split} minus {report.excluded} edit-set images]")
    if generalisation is not None:
        gset, accuracy = generalisation
        print(format_accuracy_summary(accuracy) + f" [{gset.describe()}]")

    if args.json:
        document = {**report.to_dict(),
                    **({"generalisation": {**generalisation[1].to_dict(),
                                           **generalisation[0].to_dict()}}
                       if generalisation else {}),
                    "label_overrides": split.label_overrides,
                    "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "command": shlex.join(["eval.py", *(sys.argv[1:] if argv is None else argv)])}
        atomic_write_json(args.json, document)
        print(f"report written to {args.json}")
    return 0


def _cached_predictions(loaded, split):
    """Predictions on ``split`` from the cached inputs of the repaired layer (a repaired
    checkpoint names it) or of the last Linear layer: a repaired model then costs only the
    layers from its changed one upwards. None for a model that is not an nn.Sequential."""
    from edits.head import cached_layer_inputs, head_predictions, supports_head
    from edits.layer_choice import choose_layer

    if not supports_head(loaded.model):
        return None
    repair = loaded.metadata.extra.get("repair")  # metadata checks extra is a dict
    layer = repair.get("layer") if isinstance(repair, dict) else None
    if layer not in dict(loaded.model.named_modules()):
        layer = choose_layer(loaded.model, "last")
    return head_predictions(loaded.model, layer, cached_layer_inputs(loaded.model, layer, split))


def _generalisation(loaded, edit_set, split):
    """(set, accuracy) when the edit set names a generalisation set drawn from ``split``."""
    from edits.generalisation import GeneralisationSet, generalisation_accuracy

    gset = GeneralisationSet.from_edit_set(edit_set) if edit_set is not None else None
    if gset is None or (gset.dataset, gset.split) != (split.dataset, split.split):
        return None
    return gset, generalisation_accuracy(loaded, gset, split)


if __name__ == "__main__":
    sys.exit(run_main(main))
