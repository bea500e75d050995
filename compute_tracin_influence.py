"""Compute TracIn influence from a training run's epoch checkpoints.

Examples:
  # self-influence of all 50,000 training images (high = mislabelled or atypical)
  uv run python compute_tracin_influence.py --checkpoint-dir artifacts/checkpoints/alexnet_base \\
      --compute-self-influence
  # the training images that pushed each edit image towards / away from its label
  uv run python compute_tracin_influence.py --checkpoint-dir artifacts/checkpoints/alexnet_base \\
      --compute-influence --edit-set data/edit_sets/misclassified_edit_dataset.pt --top-k 20
  # test images by index; every 3rd checkpoint only (about a third of the time)
  uv run python compute_tracin_influence.py --checkpoint-dir artifacts/checkpoints/alexnet_base \\
      --compute-influence --split test --indices 3 17 42 --checkpoints every:3
  # Captum's TracInCP over two layers (slow; for a few thousand training images)
  uv run python compute_tracin_influence.py --checkpoint-dir artifacts/checkpoints/alexnet_base \\
      --compute-self-influence --method captum --layers classifier.4 classifier.6 --limit 2000

Each checkpoint is weighed by the mean learning rate of its epoch, which train.py stores in it.
Two scores are written: the raw TracIn sum and a normalised one (cosines of the gradients per
checkpoint for test influence; each checkpoint's self-influence divided by its mean for
self-influence). Results: results/tracin/self_influence_<run>_<split>.npz or
results/tracin/influence_<edit set>.npz, each with a .json summary (--output to choose).
The training side's gradient factors are cached per checkpoint (data/cache/tracin/), so a
killed run resumes at the checkpoint it was on and a second edit set costs little.
Visualise with visualize_influence.py / visualize_test_influence.py, or write the PDF with
generate_tracin_report.py; find_label_issues.py --influence takes the self-influence NPZ.
"""

from __future__ import annotations

import argparse
import sys

from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_data_args,
    non_negative_int,
    positive_int,
    run_main,
    setup_logging,
)


def build_parser() -> argparse.ArgumentParser:
    from influence.pipeline import METHODS

    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--compute-self-influence", action="store_true",
                      help="self-influence of every image of --split")
    mode.add_argument("--compute-influence", action="store_true",
                      help="proponents and opponents of the --edit-set images (or --split "
                           "--indices) among the training images")
    parser.add_argument("--checkpoint-dir", required=True,
                        help="the run's folder of epoch_*.pt files (artifacts/checkpoints/<run>)")
    parser.add_argument("--checkpoints", default="all",
                        help="all, last:K, every:K (ending with the last) or epochs like 2,5,10")
    add_data_args(parser)
    parser.add_argument("--split", default=None,
                        help="self-influence: the split scored (default: train); influence: "
                             "the split --indices refer to (default: test)")
    parser.add_argument("--edit-set", default=None, metavar="PATH",
                        help="influence: the edit set whose images are explained (their "
                             "correct labels)")
    parser.add_argument("--indices", type=non_negative_int, nargs="+", default=None,
                        help="influence: image indices in --split to explain (instead of "
                             "--edit-set)")
    parser.add_argument("--top-k", type=positive_int, default=20,
                        help="proponents and opponents kept per image")
    parser.add_argument("--method", choices=METHODS, default="factored",
                        help="factored: last Linear layer from cached factors (fast, exact); "
                             "captum-fast: Captum's TracInCPFast (last layer, no bias); captum: "
                             "Captum's TracInCP over --layers (slow)")
    parser.add_argument("--layers", nargs="+", default=None, metavar="NAME",
                        help="with --method captum: the layers whose gradients count "
                             "(default: all)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use only the first N images of the training split")
    parser.add_argument("--batch-size", type=positive_int, default=500)
    parser.add_argument("--cache-dir", default=None,
                        help="where the training side is cached (default: data/cache/tracin)")
    parser.add_argument("--output", default=None, help="the result's .npz (a .json goes beside)")
    parser.add_argument("--force", action="store_true", help="overwrite --output")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from influence.pipeline import InfluenceOptions, run_self_influence, run_test_influence

    options = InfluenceOptions(
        checkpoint_dir=args.checkpoint_dir, checkpoints=args.checkpoints, dataset=args.dataset,
        data_root=args.data_root, label_overrides=args.label_overrides, method=args.method,
        layers=args.layers, limit=args.limit, batch_size=args.batch_size, top_k=args.top_k,
        cache_dir=args.cache_dir, output=args.output, force=args.force)
    if args.compute_self_influence:
        if args.edit_set or args.indices:
            raise_usage("--edit-set and --indices belong to --compute-influence")
        result, npz, summary = run_self_influence(options, split_name=args.split or "train")
        top = int(result.raw.argmax())
        print(f"self-influence of {len(result.indices)} images written to {npz} (+ "
              f"{summary.name}); highest: index {int(result.indices[top])}, "
              f"{result.raw[top]:.4g} raw")
        return 0
    images, labels, records, name, where = explained_images(args)
    result, npz, summary = run_test_influence(options, images, labels, records, name=name,
                                              where=where)
    print(f"top {options.top_k} proponents and opponents of {len(labels)} images among "
          f"{len(result.train_indices)} training images written to {npz} (+ {summary.name})")
    return 0


def raise_usage(message: str) -> None:
    from helpers.errors import UserError

    raise UserError(message)


def explained_images(args: argparse.Namespace):
    """(images, labels, records, output name, description) of the images to explain."""
    if bool(args.edit_set) == bool(args.indices):
        raise_usage("--compute-influence needs exactly one of --edit-set PATH or --indices "
                    "N [N ...] (with --split, default test)")
    if args.edit_set:
        from editset_helpers.io import load_edit_set

        edit_set = load_edit_set(args.edit_set)
        records = [dict(r) for r in edit_set.metadata]
        for record in records:
            record.setdefault("dataset", edit_set.info.get("dataset"))
        return edit_set.images, edit_set.labels, records, edit_set.name, str(args.edit_set)
    from helpers.datasets import load_split

    split = load_split(args.dataset, args.split or "test", data_root=args.data_root,
                       label_overrides=args.label_overrides)
    indices = split.check_indices(args.indices)
    records = [split.record(int(i)).as_dict() for i in indices]
    name = f"{split.split}_{len(indices)}_images"
    return split.unit_images(indices), split.labels[indices], records, name, \
        f"{split.dataset}/{split.split} indices"


if __name__ == "__main__":
    sys.exit(run_main(main))
