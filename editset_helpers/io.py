"""The edit-set file format, written and read in one place.

An edit set is two files side by side:

* ``<name>_edit_dataset.pt``: ``{"images": (N, C, H, W) float32 in [0, 1], "labels": (N,) int64,
  "metadata": [one dict per image]}``;
* ``<name>_edit_metadata.json``: the same per-image ``metadata`` plus how the set was made
  (generation parameters, model and data set identity, creation time).

Per-image metadata always has ``image_idx`` (index in the source split), ``true_label``,
``predicted_label``, ``true_class``, ``predicted_class`` and ``type``; sets written here also
carry ``dataset`` and ``split``, so an image can be found again from the ``.pt`` file alone.
Images are stored as plain pixels, not normalised: the model's checkpoint carries its own
input transform, so any model can be evaluated on any edit set.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from helpers.atomic_io import atomic_torch_save
from helpers.errors import UserError
from helpers.file_pairs import check_pair, write_pair
from helpers.torch_files import load_weights_only

log = logging.getLogger(__name__)

FORMAT = "alexnet-repair-edit-set/1"
DATASET_SUFFIX = "_edit_dataset.pt"
METADATA_SUFFIX = "_edit_metadata.json"
DEFAULT_EDIT_SET_DIR = Path("data/edit_sets")
REQUIRED_SAMPLE_KEYS = ("image_idx", "true_label", "predicted_label", "true_class",
                        "predicted_class", "type")


@dataclass
class EditSet:
    """Images to repair, their correct labels, one metadata dict per image, and provenance."""

    images: torch.Tensor
    labels: torch.Tensor
    metadata: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        validate_edit_set(self.images, self.labels, self.metadata, where="edit set")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def name(self) -> str:
        return edit_set_name(self.path) if self.path else str(self.info.get("name", "edit_set"))

    @property
    def image_indices(self) -> list[int]:
        return [int(m["image_idx"]) for m in self.metadata if m.get("image_idx") is not None]

    def source_split(self) -> tuple[str, str] | None:
        """(data set, split) the images come from, when every record says the same."""
        pairs = {(m.get("dataset", self.info.get("dataset")),
                  m.get("split", self.info.get("split"))) for m in self.metadata}
        if len(pairs) == 1:
            (pair,) = pairs
            if None not in pair:
                return pair  # type: ignore[return-value]
        return None

    def class_name(self, label: int) -> str:
        """A class name from the records themselves, falling back to the set's class list."""
        for record in self.metadata:
            if int(record.get("true_label", -1)) == label and record.get("true_class"):
                return str(record["true_class"])
            if int(record.get("predicted_label", -1)) == label and record.get("predicted_class"):
                return str(record["predicted_class"])
        names = self.info.get("class_names") or []
        return names[label] if 0 <= label < len(names) else str(label)

    def subset(self, positions: list[int]) -> EditSet:
        index = torch.as_tensor(positions, dtype=torch.long)
        return EditSet(self.images[index], self.labels[index],
                       [self.metadata[i] for i in positions], dict(self.info), None)


def edit_set_paths(directory: str | Path, name: str) -> tuple[Path, Path]:
    """``(<dir>/<name>_edit_dataset.pt, <dir>/<name>_edit_metadata.json)``."""
    directory = Path(directory)
    return directory / f"{name}{DATASET_SUFFIX}", directory / f"{name}{METADATA_SUFFIX}"


def class_set_name(target_class: int, class_name: str, *, focus: str = "incorrect") -> str:
    """``class_3_cat`` (images the model gets wrong) or ``class_3_cat_correct``.

    The names researchers already know; a class name that is not a safe file-name part
    (ImageNet's ``great white shark``) has its other characters replaced by ``_``.
    """
    safe = re.sub(r"[^A-Za-z0-9-]+", "_", class_name).strip("_") or "class"
    name = f"class_{target_class}_{safe}"
    return name if focus == "incorrect" else f"{name}_{focus}"


def edit_set_name(path: str | Path) -> str:
    name = Path(path).name
    return name[: -len(DATASET_SUFFIX)] if name.endswith(DATASET_SUFFIX) else Path(name).stem


def metadata_path_for(pt_path: str | Path) -> Path:
    pt_path = Path(pt_path)
    return pt_path.with_name(f"{edit_set_name(pt_path)}{METADATA_SUFFIX}")


def save_edit_set(edit_set: EditSet, pt_path: str | Path, *, force: bool = False,
                  parameters: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write the ``.pt``, then its metadata JSON (a JSON means a whole set); see file_pairs.

    Refuses to overwrite unless ``force``; a pair a killed run left half-written (or a lone
    JSON) is replaced without it.
    """
    pt_path = Path(pt_path)
    json_path = metadata_path_for(pt_path)
    check_pair(pt_path, json_path, force=force, lone_json_is_partial=is_edit_set_metadata)
    info = dict(edit_set.info)
    info.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
    if parameters:
        info["parameters"] = {**info.get("parameters", {}), **parameters}
    info.update(format=FORMAT, name=edit_set_name(pt_path), num_samples=len(edit_set),
                image_shape=list(edit_set.images.shape[1:]))
    payload = {"images": edit_set.images.float().contiguous(),
               "labels": edit_set.labels.long().contiguous(), "metadata": edit_set.metadata}
    write_pair(pt_path, lambda path: atomic_torch_save(payload, path), json_path,
               {**info, "metadata": edit_set.metadata}, force=True)
    edit_set.info, edit_set.path = info, pt_path
    log.info("wrote %d images to %s (+ %s)", len(edit_set), pt_path, json_path.name)
    return pt_path, json_path


def is_edit_set_metadata(json_path: str | Path) -> bool:
    """Is this JSON one of ours (an edit set's metadata), whatever state its ``.pt`` is in?"""
    try:
        document = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and document.get("format") == FORMAT


def load_edit_set(path: str | Path) -> EditSet:
    """Read an edit set ``.pt`` (and its JSON when present), with a clear error for bad files."""
    path = Path(path)
    payload = load_weights_only(path, what="edit set", missing_hint="make one with `uv run "
                                "python editset_generator.py misclassified` or check the path")
    if not isinstance(payload, dict) or "images" not in payload or "labels" not in payload:
        raise UserError(f"{path} is not an edit set: expected a dict with 'images', 'labels' and "
                        "'metadata'")
    images, labels = payload["images"], payload["labels"]
    metadata = payload.get("metadata")
    if metadata is None:  # a bare images + labels file; labels of another shape fail below
        metadata = ([{"image_idx": None, "true_label": int(y), "type": "unknown"}
                     for y in labels.tolist()]
                    if isinstance(labels, torch.Tensor) and labels.ndim == 1 else [])
    validate_edit_set(images, labels, metadata, where=str(path))
    info: dict[str, Any] = {}
    json_path = metadata_path_for(path)
    if json_path.exists():
        try:
            sidecar = json.loads(json_path.read_text())
        except (OSError, ValueError) as error:  # a folder, unreadable bytes, not JSON
            log.warning("ignoring unreadable %s (%s)", json_path, error)
            sidecar = {}
        if isinstance(sidecar, dict):
            info = {k: v for k, v in sidecar.items() if k != "metadata"}
        else:
            log.warning("ignoring %s: it holds no JSON object", json_path)
    return EditSet(images.float(), labels.long(), list(metadata), info, path)


def validate_edit_set(images: Any, labels: Any, metadata: Any, *, where: str) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise UserError(f"{where}: 'images' must be a (N, C, H, W) tensor, got {shape}")
    if not images.is_floating_point():
        raise UserError(f"{where}: 'images' must be float in [0, 1], got {images.dtype}")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or len(labels) != len(images):
        raise UserError(f"{where}: 'labels' must be a (N,) tensor with one label per image")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise UserError(f"{where}: 'labels' must be integer class ids, got {labels.dtype}")
    if len(labels) and int(labels.min()) < 0:
        raise UserError(f"{where}: 'labels' must be class ids >= 0, got {int(labels.min())}")
    if not isinstance(metadata, list) or len(metadata) != len(images):
        raise UserError(f"{where}: 'metadata' must be a list with one dict per image")
    if not all(isinstance(record, dict) for record in metadata):
        raise UserError(f"{where}: every 'metadata' entry must be a dict (one per image)")
    if len(images) and not bool(torch.isfinite(images).all()):
        bad = int((~torch.isfinite(images)).flatten(1).any(dim=1).nonzero()[0])
        raise UserError(f"{where}: 'images' holds NaN or infinite pixels (first in image {bad}); "
                        "the set is damaged: make it again")
    if len(images) and (float(images.min()) < -1e-6 or float(images.max()) > 1 + 1e-6):
        raise UserError(f"{where}: image values must lie in [0, 1] (plain pixels, not normalised)")
    _check_image_indices(metadata, where)


def _check_image_indices(metadata: list[dict[str, Any]], where: str) -> None:
    """``image_idx`` is an index into the source split: a whole number >= 0, each one once."""
    seen: dict[tuple[Any, Any, int], int] = {}
    for position, record in enumerate(metadata):
        index = record.get("image_idx")
        if index is None:
            continue
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise UserError(f"{where}: metadata[{position}]['image_idx'] must be a whole number "
                            f">= 0 (an index into the split), got {index!r}")
        key = (record.get("dataset"), record.get("split"), index)
        if key in seen:
            raise UserError(f"{where}: metadata[{position}] and metadata[{seen[key]}] name the "
                            f"same image (image_idx {index}); each image may appear once")
        seen[key] = position


def standard_edit_set_name(set_type: str, *, target_class: int | None = None,
                           class_name: str | None = None, confidence_threshold: float = 0.8,
                           min_true_prob: float = 0.1, max_margin: float = 0.3) -> str:
    """The file stem researchers know each kind of set by (``class_3_cat``, ...)."""
    if set_type == "misclassified":
        return "misclassified"
    if set_type in ("class_homogeneous_incorrect", "class_homogeneous_correct"):
        stem = f"class_{target_class}_{class_name}" if class_name else f"class_{target_class}"
        return stem if set_type == "class_homogeneous_incorrect" else f"{stem}_correct"
    if set_type == "confident_wrong":
        return f"confident_wrong_{confidence_threshold:.2f}"
    if set_type == "closest":
        return f"closest_{min_true_prob:.2f}_{max_margin:.2f}"
    return set_type
