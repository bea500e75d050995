"""Project a stored activation set's layer to 2-D with UMAP (after PCA to 50 dimensions).

A thin front end over :func:`activations.embedding.embed_set`; the coordinates are saved beside
the activations and the settings in the set's manifest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from activations.embedding import METRICS, EmbeddingSettings, embed_set
from activations.store import DEFAULT_ROOT, ActivationSet
from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    hyphenate_flags,
    integer_type,
    non_negative_int,
    non_negative_number,
    run_main,
    setup_logging,
)

EXAMPLES = """\
examples:
  uv run python process_embeddings.py --name cifar10_test --layer classifier.5
  uv run python process_embeddings.py --name cifar10_test --layer classifier.5 \\
      --n-neighbors 50 --min-dist 0.3 --metric euclidean --seed 1

Without --layer the set's first (often only) layer is embedded.
Then open the map: uv run python edit_set_visualizer.py, page /map?name=NAME
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="process_embeddings.py", description=__doc__.splitlines()[0],
                            epilog=EXAMPLES, formatter_class=HelpFormatter)
    parser.add_argument("--name", required=True, help="activation set name")
    parser.add_argument("--layer", default=None,
                        help="layer to embed (default: the set's first layer)")
    parser.add_argument("--n-neighbors", type=integer_type(minimum=2, name="neighbour count"),
                        default=25, help="UMAP neighbourhood size")
    parser.add_argument("--min-dist", type=non_negative_number, default=0.1,
                        help="UMAP minimum distance")
    parser.add_argument("--metric", default="cosine", choices=METRICS, help="UMAP metric")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="makes the layout reproducible")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_ROOT,
                        help="folder holding the activation sets")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(hyphenate_flags(sys.argv[1:] if argv is None else argv))
    setup_logging(args.verbose)
    layer = args.layer or ActivationSet.open(args.name, args.out_dir).layers[0]
    settings = EmbeddingSettings(n_neighbors=args.n_neighbors, min_dist=args.min_dist,
                                 metric=args.metric, seed=args.seed)
    activation_set, coordinates = embed_set(args.name, layer, settings, root=args.out_dir)
    record = activation_set.manifest["embeddings"][layer]
    print(f"embedded {args.name}/{layer}: {len(coordinates)} points in {record['seconds']:.1f} s "
          f"-> {activation_set.path.name}/embedding_{layer}.npy")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
