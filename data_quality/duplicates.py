"""Near-duplicate images: exact nearest neighbours with faiss, within a split and across two.

At CIFAR sizes an exact search is affordable (``faiss.IndexFlatIP`` over unit rows: every
inner product is computed, in BLAS), so no approximate index and no recall trade-off. Within a
split each image asks for its ``k`` nearest others; across splits each image of the query split
(the test split) asks the reference split (training) for its ``k`` nearest. Pairs are kept once
(``a < b`` within a split), ranked by cosine similarity; the report keeps those at or above the
threshold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from helpers.errors import UserError

log = logging.getLogger(__name__)
# faiss logs at INFO which CPU build it tried (AVX512, AVX2, ...) on every import: not news.
logging.getLogger("faiss.loader").setLevel(logging.WARNING)

QUERY_BATCH = 2048


@dataclass
class PairList:
    """Candidate pairs, most similar first: positions in set A and set B, and similarity."""

    a: np.ndarray
    b: np.ndarray
    similarity: np.ndarray

    def __len__(self) -> int:
        return len(self.similarity)

    def above(self, threshold: float) -> PairList:
        keep = self.similarity >= threshold
        return PairList(self.a[keep], self.b[keep], self.similarity[keep])

    def top(self, count: int | None) -> PairList:
        return self if count is None else PairList(self.a[:count], self.b[:count],
                                                   self.similarity[:count])


def nearest_neighbours(queries: np.ndarray, reference: np.ndarray, k: int, *,
                       progress: bool = True, desc: str = "neighbours"
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``(similarities, indices)`` of shape ``(Q, k)``: each query's ``k`` most similar rows
    of ``reference`` by inner product (exact), most similar first."""
    import faiss

    if queries.ndim != 2 or reference.ndim != 2 or queries.shape[1] != reference.shape[1]:
        raise UserError(f"embeddings differ in width: {queries.shape} and {reference.shape}")
    k = min(k, len(reference))
    if k < 1 or len(queries) == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    index = faiss.IndexFlatIP(reference.shape[1])
    index.add(np.ascontiguousarray(reference, dtype=np.float32))
    similarities = np.empty((len(queries), k), dtype=np.float32)
    indices = np.empty((len(queries), k), dtype=np.int64)
    for start in tqdm(range(0, len(queries), QUERY_BATCH), desc=desc, unit="batch",
                      disable=not progress, leave=False):
        stop = start + QUERY_BATCH
        similarities[start:stop], indices[start:stop] = index.search(
            np.ascontiguousarray(queries[start:stop], dtype=np.float32), k)
    return similarities, indices


def pairs_within(embeddings: np.ndarray, *, k: int = 5, progress: bool = True) -> PairList:
    """Each image's ``k`` nearest others in the same set, each pair once, most similar first."""
    similarities, indices = nearest_neighbours(embeddings, embeddings, k + 1, progress=progress,
                                               desc="within-split search")
    rows = np.repeat(np.arange(len(embeddings)), similarities.shape[1])
    cols, sims = indices.reshape(-1), similarities.reshape(-1)
    keep = (cols >= 0) & (cols != rows)
    a, b = np.minimum(rows, cols)[keep], np.maximum(rows, cols)[keep]
    return _ranked_unique(a, b, sims[keep])


def pairs_across(queries: np.ndarray, reference: np.ndarray, *, k: int = 1,
                 progress: bool = True) -> PairList:
    """Each query's ``k`` nearest reference images, most similar first (a: query position)."""
    similarities, indices = nearest_neighbours(queries, reference, k, progress=progress,
                                               desc="cross-split search")
    rows = np.repeat(np.arange(len(queries)), similarities.shape[1])
    cols, sims = indices.reshape(-1), similarities.reshape(-1)
    keep = cols >= 0
    return _ranked_unique(rows[keep], cols[keep], sims[keep])


def _ranked_unique(a: np.ndarray, b: np.ndarray, similarity: np.ndarray) -> PairList:
    if len(a) == 0:
        return PairList(a.astype(np.int64), b.astype(np.int64), similarity.astype(np.float32))
    order = np.lexsort((b, a, -similarity))  # most similar first, then by position
    a, b, similarity = a[order], b[order], similarity[order]
    _, first = np.unique(np.stack([a, b], axis=1), axis=0, return_index=True)
    first.sort()
    return PairList(a[first].astype(np.int64), b[first].astype(np.int64),
                    np.clip(similarity[first], -1.0, 1.0))


def pair_rows(pairs: PairList, *, dataset: str, split_a: str, split_b: str,
              labels_a: np.ndarray, labels_b: np.ndarray, class_names: list[str]
              ) -> list[dict[str, Any]]:
    """The report's ``similar_pairs[]``: both images' keys and labels, similarity, agreement."""
    relation = f"within {split_a}" if split_a == split_b else f"{split_a} vs {split_b}"
    rows = []
    for rank, (i, j, s) in enumerate(zip(pairs.a.tolist(), pairs.b.tolist(),
                                         pairs.similarity.tolist(), strict=True), 1):
        la, lb = int(labels_a[i]), int(labels_b[j])
        rows.append({
            "rank": rank,
            "relation": relation,
            "a": {"dataset": dataset, "split": split_a, "index": i, "label": la,
                  "class": class_names[la]},
            "b": {"dataset": dataset, "split": split_b, "index": j, "label": lb,
                  "class": class_names[lb]},
            "similarity": round(float(s), 6),
            "labels_agree": la == lb,
        })
    return rows
