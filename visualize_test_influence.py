"""Plot TracIn test influence: which training images explain each edit image's answer.

Examples:
  uv run python visualize_test_influence.py results/tracin/influence_misclassified.npz
  uv run python visualize_test_influence.py results/tracin/influence_misclassified.npz \\
      --edit-set data/edit_sets/misclassified_edit_dataset.pt --strips-per-figure 6

Writes PNGs to --output-dir (default: results/tracin/figures/<result name>/): the
distributions of proponent and opponent scores; per edit image a strip of it, its top
proponents (pushed the model towards its label) and top opponents (away from it) with
thumbnails, labels and scores, normalised and raw; a heatmap of edit-image class x proponent
class; and how often the strongest opponent carries the edit image's true label. Edit images
are drawn from --edit-set when given, else from their (data set, split, index).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.cli import positive_int, run_main, setup_logging


def build_parser() -> argparse.ArgumentParser:
    from influence.options import figure_parser

    parser = figure_parser(__doc__, "a test-influence .npz of compute_tracin_influence.py")
    parser.add_argument("--edit-set", default=None, help="the edit set explained (its pixels)")
    parser.add_argument("--strips-per-figure", type=positive_int, default=8)
    parser.add_argument("--max-strips", type=positive_int, default=48,
                        help="edit images drawn as strips (the first N)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from influence.plots import save_figures, test_figure_set
    from influence.results import TestInfluenceFile

    result = TestInfluenceFile.read(args.result)
    edit_images = None
    if args.edit_set:
        from editset_helpers.io import load_edit_set

        edit_images = load_edit_set(args.edit_set).images.numpy()
    out_dir = Path(args.output_dir or Path("results/tracin/figures") / result.path.stem)
    figures = test_figure_set(result, data_root=args.data_root, edit_images=edit_images,
                              strips=args.strips_per_figure, max_strips=args.max_strips)
    written = save_figures(figures, out_dir, force=args.force)
    print(f"{len(written)} figures written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
