"""Out-of-sample predicted probabilities, the input cleanlab needs.

Confident learning judges a label by what a model that did not learn *that* label predicts. Two
ways to get such probabilities without retraining AlexNet:

* the **model** itself on a split it was not trained on (the test split): its softmax;
* a **cross-validated probe** for the split it was trained on: a logistic regression on the
  model's frozen features (standardised, reduced by PCA), fitted on K-1 folds and predicting
  the held-out fold, so every image's probabilities come from a probe that never saw its label.
  The features still come from a network trained on those labels, so the probe is less
  independent than a retrained model; it is the cheap, standard compromise (cleanlab's own
  image tutorials do the same with pretrained embeddings).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from data_quality.features import pixel_digest
from helpers.cache import cached_tensors, source_fingerprint
from helpers.errors import UserError
from helpers.inference import predict_logits
from model_classes.checkpoints import LoadedModel

log = logging.getLogger(__name__)


def model_probabilities(loaded: LoadedModel, images: torch.Tensor, num_classes: int, *,
                        batch_size: int = 250, cache: bool = True) -> np.ndarray:
    """Softmax ``(N, K)`` float64 of ``loaded`` on uint8 ``images`` (cached by model and pixels).

    Raises
    ------
    UserError
        The model predicts another number of classes than the data set has.
    """
    def compute() -> dict[str, torch.Tensor]:
        return {"logits": predict_logits(loaded.model, images, batch_size=batch_size,
                                         progress="predicting")}

    if cache and loaded.path is not None:
        fingerprint = source_fingerprint([Path(loaded.path)], "dq-logits-v1",
                                         pixel_digest(images))
        logits = cached_tensors("dq-logits", fingerprint, compute)["logits"]
    else:
        logits = compute()["logits"]
    if len(images) and logits.shape[1] != num_classes:
        raise UserError(f"the model predicts {logits.shape[1]} classes but the data set has "
                        f"{num_classes}; use weights trained on this data set")
    return torch.softmax(logits.double(), dim=1).numpy()


def cross_validated_probe(features: np.ndarray, labels: np.ndarray, num_classes: int, *,
                          folds: int = 5, pca_dim: int | None = 256, seed: int = 0,
                          regularisation: float = 1.0, progress: bool = True) -> np.ndarray:
    """Held-out probabilities ``(N, K)`` from a K-fold logistic-regression probe.

    Parameters
    ----------
    features
        ``(N, D)`` frozen features.
    labels
        ``(N,)`` given labels in ``0..num_classes-1``.
    folds
        Number of folds (stratified by the given label, shuffled with ``seed``).
    pca_dim
        Components kept after standardising (``None`` or 0: all). Standardising and PCA see
        no label, so they are fitted once on all images (on a 20,000-image sample); only the
        logistic regression is fitted per fold.
    regularisation
        Inverse regularisation strength ``C`` of the logistic regression.

    Raises
    ------
    UserError
        Fewer than two folds, or a class with fewer images than folds.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels, dtype=np.int64)
    if folds < 2:
        raise UserError(f"--folds must be at least 2, got {folds}")
    counts = np.bincount(labels, minlength=num_classes)
    present = counts[counts > 0]
    if len(present) < 2:
        raise UserError("the probe needs images of at least two classes")
    if present.min() < folds:
        rare = int(np.flatnonzero((counts > 0) & (counts < folds))[0])
        raise UserError(f"class {rare} has only {counts[rare]} images, fewer than --folds "
                        f"{folds}; lower --folds")
    reduced = _reduce(features, pca_dim, seed)
    result = np.zeros((len(labels), num_classes), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held_out in tqdm(splitter.split(reduced, labels), total=folds,
                                desc="cross-validated probe", unit="fold", disable=not progress):
        probe = LogisticRegression(C=regularisation, max_iter=500)
        probe.fit(reduced[train], labels[train])
        result[np.ix_(held_out, probe.classes_)] = probe.predict_proba(reduced[held_out])
    return result


def _reduce(features: np.ndarray, pca_dim: int | None, seed: int) -> np.ndarray:
    """Standardised features, projected on ``pca_dim`` principal components (label-free)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, dtype=np.float32)
    scaled = StandardScaler().fit_transform(features).astype(np.float32)
    if not pca_dim or pca_dim >= min(scaled.shape):
        return scaled.astype(np.float64)
    rng = np.random.default_rng(seed)
    sample = scaled[rng.choice(len(scaled), min(len(scaled), 20_000), replace=False)]
    pca = PCA(n_components=pca_dim, random_state=seed).fit(sample)
    return pca.transform(scaled).astype(np.float64)  # probabilities in float64
