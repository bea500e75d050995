"""Activations to 2-D map coordinates: PCA to 50 dimensions when wider, then UMAP.

UMAP's neighbour search on 4,096-wide activations is slow and no better than on their first 50
principal components (the usual practice, and what umap-learn's own documentation suggests), so
wider inputs are reduced first. A seed makes the result reproducible; umap-learn then runs its
layout on one thread (measured in ``benchmarks/results/umap_10000x4096.json``).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from activations.store import DEFAULT_ROOT, ActivationSet
from helpers.errors import UserError

log = logging.getLogger(__name__)

PCA_DIMENSIONS = 50
METRICS = ("cosine", "euclidean", "correlation", "manhattan")


@dataclass(frozen=True)
class EmbeddingSettings:
    n_neighbors: int = 25
    min_dist: float = 0.1
    metric: str = "cosine"
    seed: int = 0
    pca_dimensions: int = PCA_DIMENSIONS

    def check(self) -> EmbeddingSettings:
        if self.n_neighbors < 2:
            raise UserError(f"--n-neighbors must be at least 2, got {self.n_neighbors}")
        if not 0.0 <= self.min_dist <= 1.0:
            raise UserError(f"--min-dist must be in [0, 1], got {self.min_dist}")
        if self.metric not in METRICS:
            raise UserError(f"--metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        return self


def embed(activations: np.ndarray, settings: EmbeddingSettings = EmbeddingSettings(),
          ) -> tuple[np.ndarray, dict[str, Any]]:
    """``(N, D)`` activations -> ``(N, 2)`` float32 coordinates, and what was done.

    Raises UserError for fewer than 4 rows or non-finite values.
    """
    settings.check()
    values = np.asarray(activations, dtype=np.float32)
    if values.ndim != 2 or len(values) < 4:
        raise UserError(f"an embedding needs at least 4 images with flat activations, got "
                        f"shape {values.shape}")
    if not np.isfinite(values).all():
        raise UserError("the activations hold NaN or infinite values; re-extract them "
                        "(float16 overflows for very large activations: drop --float16)")
    report: dict[str, Any] = {"input_shape": list(values.shape)}
    start = time.perf_counter()
    if values.shape[1] > settings.pca_dimensions:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=min(settings.pca_dimensions, len(values)),
                  random_state=settings.seed)
        values = pca.fit_transform(values).astype(np.float32)
        report["pca_explained_variance"] = float(pca.explained_variance_ratio_.sum())
        report["pca_seconds"] = round(time.perf_counter() - start, 3)
        log.info("PCA to %d dimensions keeps %.1f%% of the variance", values.shape[1],
                 100 * report["pca_explained_variance"])
    neighbours = min(settings.n_neighbors, len(values) - 1)
    from umap import UMAP  # imported here: numba compiles on first import, seconds

    reducer = UMAP(n_neighbors=neighbours, min_dist=settings.min_dist, metric=settings.metric,
                   random_state=settings.seed, n_components=2)
    umap_start = time.perf_counter()
    with warnings.catch_warnings():  # a seed makes umap-learn single-threaded; that is the point
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
        coordinates = reducer.fit_transform(values)
    report["umap_seconds"] = round(time.perf_counter() - umap_start, 3)
    report["n_neighbors_used"] = neighbours
    return np.asarray(coordinates, dtype=np.float32), report


def embed_set(name: str, layer: str, settings: EmbeddingSettings = EmbeddingSettings(), *,
              root=DEFAULT_ROOT) -> tuple[ActivationSet, np.ndarray]:
    """Embed one layer of a stored set and save the coordinates beside its activations."""
    settings.check()
    activation_set = ActivationSet.open(name, root)
    activation_set.check_layer(layer)
    start = time.perf_counter()
    coordinates, report = embed(activation_set.activations(layer), settings)
    record = asdict(settings) | report | {"seconds": round(time.perf_counter() - start, 3),
                                          "method": "pca+umap"}
    activation_set.save_embedding(layer, coordinates, record)
    log.info("embedded %s/%s (%d points) in %.1f s", name, layer, len(coordinates),
             record["seconds"])
    return activation_set, coordinates
