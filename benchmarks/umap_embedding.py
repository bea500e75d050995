"""Time PCA + UMAP on N x D activations (default 10,000 x 4,096, AlexNet's penultimate width).

The activations are synthetic but shaped like real ones: non-negative (post-ReLU), sparse, in
100 classes with their own mean directions. Prints JSON with machine, commit and command;
``--out`` also writes it (benchmarks/results/umap_10000x4096.json).

  uv run python benchmarks/umap_embedding.py --out benchmarks/results/umap_10000x4096.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activations.embedding import EmbeddingSettings, embed
from helpers.atomic_io import atomic_write_json
from helpers.cli import ArgumentParser, HelpFormatter, positive_int
from helpers.provenance import peak_memory_mb, provenance


def synthetic_activations(n: int, width: int, classes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.maximum(rng.normal(0, 1, size=(classes, width)), 0).astype(np.float32)
    labels = np.arange(n) % classes
    values = centres[labels] + rng.normal(0, 0.8, size=(n, width)).astype(np.float32)
    return np.maximum(values, 0, out=values)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                            epilog="examples:\n" + __doc__.split("\n\n")[2],
                            formatter_class=HelpFormatter)
    parser.add_argument("--n", type=positive_int, default=10_000, help="activation rows")
    parser.add_argument("--width", type=positive_int, default=4096, help="activation columns")
    parser.add_argument("--classes", type=positive_int, default=100)
    parser.add_argument("--activation-set", default=None, metavar="NAME",
                        help="embed this stored set's first layer (data/activations/NAME) "
                             "instead of synthetic activations")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.activation_set:
        from activations.store import ActivationSet

        stored = ActivationSet.open(args.activation_set)
        values = stored.activations(stored.layers[0])
    else:
        values = synthetic_activations(args.n, args.width, args.classes, 0)
    import umap  # noqa: F401  (numba compiles on import and first call: timed separately)

    warm_start = time.perf_counter()
    embed(values[:300], EmbeddingSettings(seed=0))
    warm = time.perf_counter() - warm_start
    start = time.perf_counter()
    _, report = embed(values, EmbeddingSettings(seed=0))
    seconds = time.perf_counter() - start
    result = {"benchmark": "umap_embedding", "shape": list(values.shape),
              "data": (f"activation set {args.activation_set}" if args.activation_set
                       else "synthetic"),
              "settings": {"n_neighbors": 25, "min_dist": 0.1, "metric": "cosine", "seed": 0,
                           "pca_dimensions": 50},
              "seconds_total": round(seconds, 2), "pca_seconds": report.get("pca_seconds"),
              "umap_seconds": report["umap_seconds"], "warmup_seconds_300_points": round(warm, 2),
              "goal_seconds": 120, "goal_met": seconds < 120,
              "peak_memory_mb": round(peak_memory_mb(), 1)} | provenance()
    print(json.dumps(result, indent=2))
    if args.out:
        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
