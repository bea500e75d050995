"""Record a model's layer activations on a class-balanced draw of real images.

A thin front end over :func:`activations.extract.extract_activations`; the set is written to
``data/activations/<name>/`` (see the README section "Activations and the embedding map").
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from activations.extract import ExtractionSettings, extract_activations
from activations.layers import PENULTIMATE
from activations.sources import parse_class_list
from activations.store import DEFAULT_ROOT
from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_data_args,
    add_device_argument,
    hyphenate_flags,
    non_negative_int,
    positive_int,
    run_main,
    setup_logging,
)

log = logging.getLogger("extract_activations")

EXAMPLES = """\
examples:
  # 5,000 CIFAR-10 test images (500 per class), the base model's penultimate layer
  uv run python extract_activations.py --weights artifacts/alexnet_base.pth \\
      --dataset cifar10 --split test --num-samples 5000 --layer penultimate --name cifar10_test

  # ImageNet64-style batches: 100 random classes x 100 images, two layers, float16 on disk
  uv run python extract_activations.py --weights model.pth --dataset npz:data/in64 \\
      --split train --num-samples 10000 --num-classes 100 --layer classifier.2 \\
      --layer classifier.5 --float16 --name in64_100

  # three named classes (ids or names; comma lists), replacing an earlier set of that name
  uv run python extract_activations.py --weights artifacts/alexnet_base.pth \\
      --target-classes cat,dog,3 --num-samples 600 --name pets --force

Underscore spellings (--num_samples, --target_classes, ...) are accepted too.
Next: uv run python process_embeddings.py --name NAME --layer LAYER
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="extract_activations.py", description=__doc__.splitlines()[0],
                            epilog=EXAMPLES, formatter_class=HelpFormatter)
    parser.add_argument("--weights", type=Path, required=True, help="model checkpoint (.pth)")
    add_data_args(parser)
    add_device_argument(parser)
    parser.add_argument("--split", default="test",
                        help="split to draw from (cifar10: train|test; npz: train|val)")
    parser.add_argument("--num-samples", type=positive_int, default=5000,
                        help="images in total; each class gets num_samples // K")
    classes = parser.add_mutually_exclusive_group()
    classes.add_argument("--num-classes", type=positive_int, default=None,
                         help="draw from K classes picked at random with --seed "
                              "(default: every class)")
    classes.add_argument("--target-classes", action="append", default=None,
                         help="class ids or names, comma-separated or repeated")
    parser.add_argument("--layer", action="append", default=None,
                        help=f"layer to record (module name such as classifier.5, or "
                             f"{PENULTIMATE}); comma-separated or repeated "
                             f"(default: {PENULTIMATE})")
    parser.add_argument("--batch-size", type=positive_int, default=250,
                        help="images per forward pass")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seeds the class pick and the order images are drawn in")
    parser.add_argument("--float16", action="store_true",
                        help="store activations as float16 (half the disk)")
    parser.add_argument("--name", required=True,
                        help="set name: a plain folder name under --out-dir")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_ROOT,
                        help="folder holding the activation sets")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing set of this name (atomically)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(hyphenate_flags(sys.argv[1:] if argv is None else argv))
    setup_logging(args.verbose)
    settings = ExtractionSettings(
        weights=args.weights, name=args.name, dataset=args.dataset, split=args.split,
        num_samples=args.num_samples, num_classes=args.num_classes,
        target_classes=parse_class_list(args.target_classes),
        layers=parse_class_list(args.layer) or [PENULTIMATE], batch_size=args.batch_size,
        seed=args.seed, float16=args.float16, data_root=Path(args.data_root),
        root=args.out_dir, force=args.force, device=args.device,
        label_overrides=args.label_overrides)
    written = extract_activations(settings)
    manifest = written.manifest
    stream = manifest.get("stream")
    layers = ", ".join(f"{k} {v['shape'][1]}-d" for k, v in manifest["layers"].items())
    print(f"wrote {args.out_dir / written.name}: {manifest['num_images']} images, layers "
          f"{layers}, "
          f"model accuracy on them {100 * manifest['accuracy']:.1f}%"
          + (f"; read {stream['files_scanned']} of {stream['files_total']} batch files"
             if stream else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
