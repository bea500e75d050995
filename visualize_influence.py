"""Plot TracIn self-influence: which training images were hardest to learn, and why.

Examples:
  uv run python visualize_influence.py results/tracin/self_influence_alexnet_base_train.npz
  uv run python visualize_influence.py results/tracin/self_influence_alexnet_base_train.npz \\
      --output-dir results/tracin/figures --force

Writes PNGs to --output-dir (default: results/tracin/figures/<result name>/): the score
distribution, the mean by class, a class x class heatmap of (given label, predicted label)
for the 5% most self-influential images, grids of the highest (normalised and raw) and lowest
images with their labels and predictions, and self-influence against loss and margin. Every
figure shows both scores: raw TracIn and normalised (see compute_tracin_influence.py --help).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.cli import add_label_overrides_argument, run_main, setup_logging


def build_parser() -> argparse.ArgumentParser:
    from influence.options import figure_parser

    parser = figure_parser(__doc__, "a self-influence .npz of compute_tracin_influence.py")
    add_label_overrides_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from influence.plots import save_figures, self_figures, split_images
    from influence.results import SelfInfluenceFile

    result = SelfInfluenceFile.read(args.result)
    out_dir = Path(args.output_dir or Path("results/tracin/figures") / result.path.stem)
    images = split_images(result.dataset, result.split, data_root=args.data_root,
                          label_overrides=args.label_overrides)
    written = save_figures(self_figures(result, images), out_dir, force=args.force)
    print(f"{len(written)} figures written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
