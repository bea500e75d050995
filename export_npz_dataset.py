"""Write a data set in ImageNet64's NPZ layout (numbered train batches, val_data.npz).

A thin front end over :func:`activations.npz_export.export_npz`; read the result back with
``--dataset npz:DIR`` in every tool.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from activations.npz_export import export_npz
from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    add_data_args,
    hyphenate_flags,
    positive_int,
    run_main,
    setup_logging,
)

EXAMPLES = """\
examples:
  # CIFAR-10 as 13 training batch files of 4,000 images and val_data.npz (the test split)
  uv run python export_npz_dataset.py --dataset cifar10 --out data/cifar10_npz

  # an ImageFolder tree, 1,000 images per file, training split only
  uv run python export_npz_dataset.py --dataset imagefolder:data/pets --out data/pets_npz \\
      --per-file 1000 --val-split ""
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="export_npz_dataset.py", description=__doc__.splitlines()[0],
                            epilog=EXAMPLES, formatter_class=HelpFormatter)
    add_data_args(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--train-split", default="train",
                        help="split written as train_data_batch_<n>.npz ('' to skip)")
    parser.add_argument("--val-split", default="test",
                        help="split written as val_data.npz ('' to skip)")
    parser.add_argument("--per-file", type=positive_int, default=4000, help="images per batch file")
    parser.add_argument("--force", action="store_true",
                        help="replace .npz files already in --out")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(hyphenate_flags(sys.argv[1:] if argv is None else argv))
    setup_logging()
    result = export_npz(args.dataset, args.out, train_split=args.train_split or None,
                        val_split=args.val_split or None, per_file=args.per_file,
                        data_root=args.data_root, force=args.force,
                        label_overrides=args.label_overrides)
    print(f"wrote {len(result.files)} files to {args.out} ("
          + ", ".join(f"{n} {k} images" for k, n in result.images.items()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
