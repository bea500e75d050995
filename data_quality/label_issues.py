"""Suspect labels: cleanlab's confident learning over out-of-sample probabilities.

:func:`rank_label_issues` is the whole method on arrays: ``cleanlab.filter.find_label_issues``
decides *which* labels are issues (by default ``prune_by_noise_rate``: the confident joint
estimates how many images of each given class really belong to each other class, and that many
of the least likely are flagged), and ``cleanlab.rank.get_label_quality_scores`` orders every
image from most to least suspicious. :func:`rank_by_given_probability` is the trivial baseline
with the same signature (the model's probability of the given label), which the benchmark and
the tests compare against. :func:`combine_with_influence` adds TracIn self-influence (a
training image the model had to work hard to fit is more often mislabelled) when such a result
exists; it reorders the flagged images and never adds or removes one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import NotFoundError, UserError

log = logging.getLogger(__name__)

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
           "predicted_neq_given")
RANKINGS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
INFLUENCE_KEYS = ("self_influence_normalized", "self_influence", "scores", "influence")


@dataclass
class LabelIssueRanking:
    """Every image's quality score, and the flagged images from most to least suspicious.

    ``quality`` is ``(N,)`` in [0, 1] (low = suspicious); ``issues`` the flagged indices in
    ranking order; ``order`` all indices, most suspicious first (the benchmark's ranking).
    """

    quality: np.ndarray
    issues: np.ndarray
    order: np.ndarray
    method: str
    combined: np.ndarray | None = None  # the score that ranks, when influence took part


def check_inputs(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One validator for every ranking: shapes ``(N,)`` and ``(N, K)``, finite, labels in range."""
    labels = np.asarray(labels)
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    if labels.ndim != 1 or pred_probs.ndim != 2 or len(labels) != len(pred_probs):
        raise UserError(f"labels must be (N,) and probabilities (N, K); got {labels.shape} and "
                        f"{pred_probs.shape}")
    if not np.isfinite(pred_probs).all():
        raise UserError("the predicted probabilities hold NaN or infinity; the model's output "
                        "is unusable")
    if len(labels) and (labels.min() < 0 or labels.max() >= pred_probs.shape[1]):
        raise UserError(f"labels outside 0..{pred_probs.shape[1] - 1}")
    return labels.astype(np.int64), pred_probs


def rank_label_issues(labels: np.ndarray, pred_probs: np.ndarray, *,
                      filter_by: str = "prune_by_noise_rate",
                      rank_by: str = "self_confidence") -> LabelIssueRanking:
    """cleanlab's flagged issues and quality scores (see the module docstring).

    Parameters
    ----------
    labels
        ``(N,)`` given labels.
    pred_probs
        ``(N, K)`` out-of-sample predicted probabilities.
    filter_by, rank_by
        cleanlab's ``filter_by`` and ``return_indices_ranked_by`` / ``method``.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels, pred_probs = check_inputs(labels, pred_probs)
    if filter_by not in FILTERS:
        raise UserError(f"unknown filter {filter_by!r}; use one of {', '.join(FILTERS)}")
    if rank_by not in RANKINGS:
        raise UserError(f"unknown ranking {rank_by!r}; use one of {', '.join(RANKINGS)}")
    if len(np.unique(labels)) < 2:
        raise UserError("label issues need images of at least two classes")
    quality = get_label_quality_scores(labels, pred_probs, method=rank_by)
    issues = find_label_issues(labels, pred_probs, filter_by=filter_by,
                               return_indices_ranked_by=rank_by, n_jobs=1)
    order = np.lexsort((np.arange(len(labels)), quality))  # ties: lower index first
    return LabelIssueRanking(quality, np.asarray(issues, dtype=np.int64), order,
                             f"cleanlab:{filter_by}/{rank_by}")


def rank_by_given_probability(labels: np.ndarray, pred_probs: np.ndarray, *,
                              threshold: float = 0.5) -> LabelIssueRanking:
    """Baseline: rank by the probability of the given label; flag those below ``threshold``."""
    labels, pred_probs = check_inputs(labels, pred_probs)
    quality = pred_probs[np.arange(len(labels)), labels]
    order = np.lexsort((np.arange(len(labels)), quality))
    issues = order[quality[order] < threshold]
    return LabelIssueRanking(quality, issues, order, "baseline:given_label_probability")


def combine_with_influence(ranking: LabelIssueRanking, influence: np.ndarray, *,
                           weight: float = 0.5) -> LabelIssueRanking:
    """Reorder by a blend of two rank percentiles: low quality and high self-influence.

    ``influence`` is ``(N,)``, NaN where unknown (that image keeps its quality rank alone).
    ``weight`` is the influence's share in [0, 1].
    """
    if not 0.0 <= weight <= 1.0:
        raise UserError(f"--influence-weight must lie in [0, 1], got {weight}")
    n = len(ranking.quality)
    if influence.shape != (n,):
        raise UserError(f"the influence scores cover {len(influence)} images, the split {n}")
    suspicion_quality = _percentile_rank(-ranking.quality)  # 1 = most suspicious
    known = np.isfinite(influence)
    suspicion_influence = np.where(known, _percentile_rank(np.where(known, influence, -np.inf)),
                                   suspicion_quality)
    combined = (1 - weight) * suspicion_quality + weight * suspicion_influence
    order = np.lexsort((np.arange(n), -combined))
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    issues = ranking.issues[np.argsort(position[ranking.issues], kind="stable")]
    return LabelIssueRanking(ranking.quality, issues, order,
                             f"{ranking.method}+self_influence", combined)


def _percentile_rank(values: np.ndarray) -> np.ndarray:
    """Rank of each value in [0, 1] (ties share the mean rank)."""
    from scipy.stats import rankdata

    if len(values) < 2:
        return np.ones(len(values))
    return (rankdata(values) - 1) / (len(values) - 1)


def read_influence(path: str | Path, *, num_images: int, dataset: str, split: str,
                   key: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-image self-influence from an NPZ (a TracIn result), as ``(N,)`` with NaN gaps.

    The file needs one score array (``key``, else the first of ``self_influence_normalized``,
    ``self_influence``, ``scores``, ``influence``) and, unless it covers the split in order,
    ``indices`` (or ``image_idx``); ``dataset`` and ``split`` arrays, when present, must match.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"influence file {path} not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is not a readable NPZ ({str(error)[:120]})") from None
    for name, expected in (("dataset", dataset), ("split", split)):
        if name in arrays and str(arrays[name].reshape(-1)[0]) != expected:
            raise UserError(f"{path} holds influence for {name} "
                            f"{str(arrays[name].reshape(-1)[0])!r}, not {expected!r}")
    keys = [key] if key else [k for k in INFLUENCE_KEYS if k in arrays]
    if not keys or keys[0] not in arrays:
        raise UserError(f"{path} has no score array {key or ' / '.join(INFLUENCE_KEYS)} "
                        f"(it has {', '.join(sorted(arrays)) or 'nothing'}); name one with "
                        "--influence-key")
    scores = np.asarray(arrays[keys[0]], dtype=np.float64).reshape(-1)
    indices = arrays.get("indices", arrays.get("image_idx"))
    if indices is None:
        if len(scores) != num_images:
            raise UserError(f"{path} has {len(scores)} scores and no indices, but the split has "
                            f"{num_images} images")
        indices = np.arange(num_images)
    indices = np.asarray(indices).reshape(-1)
    if len(indices) != len(scores) or not np.issubdtype(indices.dtype, np.integer):
        raise UserError(f"{path}: indices must be whole numbers, one per score")
    if len(indices) and (indices.min() < 0 or indices.max() >= num_images):
        raise UserError(f"{path}: indices outside the split (0..{num_images - 1})")
    result = np.full(num_images, np.nan)
    result[indices] = scores
    result[~np.isfinite(result)] = np.nan
    return result, {"file": str(path), "key": keys[0], "images_scored": int(np.isfinite(
        result).sum())}


def error_rows(ranking: LabelIssueRanking, labels: np.ndarray, pred_probs: np.ndarray,
               class_names: list[str], *, dataset: str, split: str,
               influence: np.ndarray | None = None) -> list[dict[str, Any]]:
    """The report's ``errors[]``: one row per flagged image, most suspicious first."""
    rows = []
    for rank, index in enumerate(ranking.issues.tolist(), 1):
        given = int(labels[index])
        suggested = int(np.argmax(pred_probs[index]))
        row = {
            "rank": rank, "dataset": dataset, "split": split, "index": index,
            "given_label": given, "given_class": class_names[given],
            "suggested_label": suggested, "suggested_class": class_names[suggested],
            "quality_score": round(float(ranking.quality[index]), 6),
            "given_probability": round(float(pred_probs[index, given]), 6),
            "suggested_probability": round(float(pred_probs[index, suggested]), 6),
            "method": ranking.method,
        }
        if influence is not None:
            value = influence[index]
            row["self_influence"] = None if not np.isfinite(value) else float(value)
        if ranking.combined is not None:
            row["combined_suspicion"] = round(float(ranking.combined[index]), 6)
        rows.append(row)
    return rows


def summary(ranking: LabelIssueRanking, labels: np.ndarray, class_names: list[str]
            ) -> dict[str, Any]:
    """Images analysed, issues found, and per class (by given label)."""
    flagged = np.bincount(labels[ranking.issues], minlength=len(class_names))
    images = np.bincount(labels, minlength=len(class_names))
    return {
        "images_analysed": len(labels),
        "issues_found": len(ranking.issues),
        "issue_fraction": round(float(len(ranking.issues) / max(len(labels), 1)), 6),
        "per_class": {name: {"images": int(images[k]), "issues": int(flagged[k])}
                      for k, name in enumerate(class_names)},
    }
