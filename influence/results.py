"""TracIn results on disk: an NPZ of arrays and a JSON summary beside it, written atomically.

Self-influence NPZ arrays (names shared with :func:`data_quality.label_issues.read_influence`,
which ranks label issues with them): ``self_influence`` and ``self_influence_normalized``
(M,), ``indices`` (M,) positions in the split, ``dataset`` and ``split`` (1-element strings),
``labels``, ``predicted``, ``loss``, ``margin`` (M,) at the last checkpoint,
``per_checkpoint`` (C, M), ``epochs`` and ``learning_rates`` (C,), ``class_names`` (K,).

Test-influence NPZ arrays: ``test_labels``, ``test_predicted``, ``test_loss`` and
``test_indices`` (T,) (-1 where the image has no index), ``test_dataset``/``test_split``
(T,) strings, ``train_indices`` (M,), ``train_labels`` (M,), and for each score in (raw,
normalized) and kind in (proponents, opponents): ``<kind>_<score>_index`` (T, k) training
*indices in the split* and ``<kind>_<score>_score`` (T, k), strongest first.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from helpers.atomic_io import atomic_write_bytes, atomic_write_json
from helpers.errors import NotFoundError, UserError
from influence.tracin import SelfInfluence, TestInfluence

SELF_FORMAT = "alexnet-repair-tracin-self-influence/1"
TEST_FORMAT = "alexnet-repair-tracin-test-influence/1"
SCORES = ("raw", "normalized")
KINDS = ("proponents", "opponents")
_COMMON = ("dataset", "split", "class_names")
REQUIRED = {
    SELF_FORMAT: ("self_influence", "self_influence_normalized", "indices", "labels",
                  "predicted", "loss", "margin", *_COMMON),
    TEST_FORMAT: ("test_labels", "test_predicted", "test_loss", "test_indices", "test_dataset",
                  "test_split", "train_indices", "train_labels", *_COMMON,
                  *(f"{kind}_{score}_{part}" for kind in KINDS for score in SCORES
                    for part in ("index", "score"))),
}


def json_path_for(npz_path: str | Path) -> Path:
    return Path(npz_path).with_suffix(".json")


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def write_self_influence(result: SelfInfluence, path: str | Path, *, class_names: list[str],
                         settings: dict[str, Any]) -> tuple[Path, Path]:
    """The NPZ, then the JSON summary (the JSON's presence means the pair is whole)."""
    path = Path(path)
    _write_npz(path, {
        "self_influence": result.raw.numpy(),
        "self_influence_normalized": result.normalized.numpy(),
        "indices": result.indices.numpy().astype(np.int64),
        "dataset": np.array([result.dataset]), "split": np.array([result.split]),
        "labels": result.labels.numpy(), "predicted": result.predicted.numpy(),
        "loss": result.loss.numpy(), "margin": result.margin.numpy(),
        "per_checkpoint": result.per_checkpoint.numpy(),
        "epochs": np.array([c.epoch for c in result.checkpoints]),
        "learning_rates": np.array([c.learning_rate for c in result.checkpoints]),
        "class_names": np.array(class_names),
    })
    summary = {"format": SELF_FORMAT, "npz": path.name, "dataset": result.dataset,
               "split": result.split, "images": len(result.indices),
               "checkpoints": [c.describe() for c in result.checkpoints],
               "settings": settings, "timings_seconds": _rounded(result.timings),
               "top": {score: _top_images(result, score, class_names) for score in SCORES},
               "mean_by_class": _mean_by_class(result, class_names)}
    json_path = atomic_write_json(json_path_for(path), summary)
    return path, json_path


def write_test_influence(result: TestInfluence, path: str | Path, *, records: list[dict],
                         class_names: list[str], settings: dict[str, Any]) -> tuple[Path, Path]:
    """``records`` (T dicts): each explained image's identity (``dataset``, ``split``,
    ``image_idx``, ``true_label``...), e.g. an edit set's metadata."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        "test_labels": result.test_labels.numpy(), "test_predicted": result.test_predicted.numpy(),
        "test_loss": result.test_loss.numpy(),
        "test_indices": np.array([_index(r) for r in records], dtype=np.int64),
        "test_dataset": np.array([str(r.get("dataset", "")) for r in records]),
        "test_split": np.array([str(r.get("split", "")) for r in records]),
        "train_indices": result.train_indices.numpy(), "train_labels": result.train_labels.numpy(),
        "dataset": np.array([result.train_dataset]), "split": np.array([result.train_split]),
        "epochs": np.array([c.epoch for c in result.checkpoints]),
        "learning_rates": np.array([c.learning_rate for c in result.checkpoints]),
        "class_names": np.array(class_names),
    }
    for (score, kind), (positions, values) in result.top.items():
        arrays[f"{kind}_{score}_index"] = result.train_indices[positions].numpy()
        arrays[f"{kind}_{score}_score"] = values.numpy()
    _write_npz(path, arrays)
    loaded = TestInfluenceFile(arrays, {}, path)
    summary = {"format": TEST_FORMAT, "npz": path.name, "train_dataset": result.train_dataset,
               "train_split": result.train_split, "train_images": len(result.train_indices),
               "test_images": len(records), "top_k": int(result.top[("raw", "proponents")][0]
                                                         .shape[1]),
               "checkpoints": [c.describe() for c in result.checkpoints],
               "settings": settings, "timings_seconds": _rounded(result.timings),
               "images": [loaded.explain(t, limit=5) for t in range(len(records))]}
    json_path = atomic_write_json(json_path_for(path), summary)
    return path, json_path


def _index(record: dict) -> int:
    value = record.get("image_idx")
    return int(value) if isinstance(value, int | np.integer) else -1


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 3) for k, v in timings.items()}


def _top_images(result: SelfInfluence, score: str, class_names: list[str], n: int = 20
                ) -> list[dict[str, Any]]:
    values = (result.raw if score == "raw" else result.normalized).numpy()
    rows = []
    for position in np.argsort(-values, kind="stable")[:n]:
        label, predicted = int(result.labels[position]), int(result.predicted[position])
        rows.append({"dataset": result.dataset, "split": result.split,
                     "image_idx": int(result.indices[position]), "true_label": label,
                     "true_class": class_names[label], "predicted_label": predicted,
                     "predicted_class": class_names[predicted],
                     "self_influence": float(result.raw[position]),
                     "self_influence_normalized": float(result.normalized[position])})
    return rows


def _mean_by_class(result: SelfInfluence, class_names: list[str]) -> dict[str, dict]:
    labels = result.labels.numpy()
    return {name: {"images": int((labels == k).sum()),
                   "mean_self_influence": float(result.raw.numpy()[labels == k].mean())
                   if (labels == k).any() else None,
                   "mean_self_influence_normalized": float(
                       result.normalized.numpy()[labels == k].mean())
                   if (labels == k).any() else None}
            for k, name in enumerate(class_names)}


# -- reading ------------------------------------------------------------------------------


def _load_npz(path: str | Path, expected: str) -> tuple[dict[str, np.ndarray], dict]:
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"influence result {path} not found; make it with "
                            "compute_tracin_influence.py")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is not a readable NPZ ({str(error)[:120]})") from None
    summary: dict = {}
    if json_path_for(path).is_file():
        try:
            summary = json.loads(json_path_for(path).read_text())
        except ValueError:
            summary = {}
    needed = REQUIRED[expected]
    missing = [name for name in needed if name not in arrays]
    if missing:
        kind = "self-influence" if expected == SELF_FORMAT else "test-influence (edit set)"
        raise UserError(f"{path} is not a {kind} result of compute_tracin_influence.py (it "
                        f"lacks {', '.join(missing[:4])}); make one with "
                        f"compute_tracin_influence.py")
    return arrays, summary


@dataclass
class _ResultFile:
    """A result read back: its arrays, its JSON summary (empty when absent) and its path."""

    arrays: dict[str, np.ndarray]
    summary: dict
    path: Path
    FORMAT: ClassVar[str] = ""

    @classmethod
    def read(cls, path: str | Path):
        arrays, summary = _load_npz(path, cls.FORMAT)
        return cls(arrays, summary, Path(path))

    @property
    def class_names(self) -> list[str]:
        return [str(n) for n in self.arrays["class_names"]]

    @property
    def dataset(self) -> str:
        """The training data set (the split scored, for self-influence)."""
        return str(self.arrays["dataset"][0])

    @property
    def split(self) -> str:
        return str(self.arrays["split"][0])


@dataclass
class SelfInfluenceFile(_ResultFile):
    FORMAT: ClassVar[str] = SELF_FORMAT

    def scores(self, score: str) -> np.ndarray:
        return self.arrays["self_influence" if score == "raw" else "self_influence_normalized"]


@dataclass
class TestInfluenceFile(_ResultFile):
    FORMAT: ClassVar[str] = TEST_FORMAT

    def __len__(self) -> int:
        return len(self.arrays["test_labels"])

    def train_label_of(self, indices: np.ndarray) -> np.ndarray:
        """Labels of training images given by their indices in the split."""
        lookup = dict(zip(self.arrays["train_indices"].tolist(),
                          self.arrays["train_labels"].tolist(), strict=True))
        return np.array([lookup[int(i)] for i in np.asarray(indices).reshape(-1)]).reshape(
            np.shape(indices))

    def explain(self, t: int, *, limit: int | None = None, score: str | None = None
                ) -> dict[str, Any]:
        """One explained image with its proponents and opponents, as records with class names."""
        names = self.class_names
        label = int(self.arrays["test_labels"][t])
        predicted = int(self.arrays["test_predicted"][t])
        entry: dict[str, Any] = {
            "position": t, "dataset": str(self.arrays["test_dataset"][t]),
            "split": str(self.arrays["test_split"][t]),
            "image_idx": int(self.arrays["test_indices"][t]), "true_label": label,
            "true_class": names[label], "predicted_label": predicted,
            "predicted_class": names[predicted], "loss": float(self.arrays["test_loss"][t])}
        for s in ((score,) if score else SCORES):
            for kind in KINDS:
                indices = self.arrays[f"{kind}_{s}_index"][t][:limit]
                values = self.arrays[f"{kind}_{s}_score"][t][:limit]
                labels = self.train_label_of(indices)
                entry[f"{kind}_{s}"] = [
                    {"dataset": self.dataset, "split": self.split,
                     "image_idx": int(i), "true_label": int(y), "true_class": names[int(y)],
                     "score": float(v)} for i, y, v in zip(indices, labels, values, strict=True)]
        return entry

    def find(self, dataset: str, split: str, image_idx: int) -> int | None:
        """Position of an explained image by its identity, or None."""
        for t in range(len(self)):
            if (int(self.arrays["test_indices"][t]) == image_idx
                    and str(self.arrays["test_split"][t]) == split
                    and str(self.arrays["test_dataset"][t]) == dataset):
                return t
        return None
