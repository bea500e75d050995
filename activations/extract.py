"""Draw balanced images, record the model's layers on them, and write the activation set.

The one function a notebook calls is :func:`extract_activations`; ``extract_activations.py`` is
its command line. Everything the map later shows is decided here and written down: the class
name of each image comes from the data set's own metadata, the prediction and confidence from
the model, and the manifest names the model by its file hash.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from activations import store
from activations.layers import PENULTIMATE, record_layers, resolve_layers
from activations.sources import DrawnImages, draw_balanced
from helpers.atomic_io import atomic_write_json
from helpers.devices import resolve_device
from helpers.errors import UserError
from helpers.paths import check_location
from model_classes.checkpoints import load_checkpoint

log = logging.getLogger(__name__)


@dataclass
class ExtractionSettings:
    """What to extract; mirrors the command line (see ``extract_activations.py --help``)."""

    weights: Path
    name: str
    dataset: str = "cifar10"
    split: str = "test"
    num_samples: int = 5000
    num_classes: int | None = None
    target_classes: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=lambda: [PENULTIMATE])
    batch_size: int = 250
    seed: int = 0
    float16: bool = False
    data_root: Path = Path("data")
    root: Path = store.DEFAULT_ROOT
    force: bool = False
    progress: bool = True
    device: str = "auto"  # where the model runs (helpers.devices); never changes the result
    label_overrides: Path | str | None = None  # corrected labels (helpers.label_overrides)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def extract_activations(settings: ExtractionSettings) -> store.ActivationSet:
    """Run the whole extraction; returns the written set (already switched in).

    Raises
    ------
    UserError
        Bad name, an existing set without ``force``, an unknown layer or class, a data set that
        cannot give the requested balance, or a model that does not fit the images.
    """
    store.check_name(settings.name)
    check_location(settings.root, folder=True)  # before an hour of forward passes
    if store.existing(settings.name, settings.root) and not settings.force:
        raise UserError(f"activation set {Path(settings.root) / settings.name} already exists; "
                        "pass --force to replace it or choose another --name")
    if settings.num_samples < 1:
        raise UserError(f"--num-samples must be at least 1, got {settings.num_samples}")
    if settings.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {settings.batch_size}")
    loaded = load_checkpoint(settings.weights, device=resolve_device(settings.device))
    layers = resolve_layers(loaded.model, settings.layers)  # before reading any data
    drawn = draw_balanced(settings.dataset, settings.split, num_samples=settings.num_samples,
                          num_classes=settings.num_classes,
                          target_classes=settings.target_classes or None, seed=settings.seed,
                          data_root=settings.data_root, progress=settings.progress,
                          label_overrides=settings.label_overrides)
    log.info("recording %s on %d images of %s (%s)", ", ".join(layers), len(drawn.labels),
             drawn.dataset, drawn.split)
    dtype = np.float16 if settings.float16 else np.float32
    try:
        outputs = record_layers(loaded.model, drawn.images, layers,
                                batch_size=settings.batch_size, dtype=dtype,
                                progress=settings.progress)
    except RuntimeError as error:
        first = (str(error).splitlines() or [""])[0][:200]
        raise UserError(f"the model {settings.weights} cannot run on {drawn.dataset} images of "
                        f"shape {tuple(drawn.images.shape[1:])} ({first})") from None
    model_names = loaded.class_names
    rows = metadata_rows(drawn, outputs.logits, model_names)
    manifest = _manifest(settings, loaded, layers, drawn, outputs.activations, rows)
    with store.staged_set(settings.name, settings.root, force=settings.force) as folder:
        np.save(folder / "images.npy", drawn.images.numpy())
        for layer, values in outputs.activations.items():
            np.save(folder / store.layer_file(layer), values)
        store.write_metadata(folder, rows)
        atomic_write_json(folder / "manifest.json", manifest)  # last: marks the folder complete
    written = store.ActivationSet.open(settings.name, settings.root)
    log.info("accuracy of the model on the drawn images: %.1f%%",
             100 * float(rows["correct"].mean()) if len(rows) else float("nan"))
    return written


def metadata_rows(drawn: DrawnImages, logits: torch.Tensor,
                  model_names: Sequence[str]) -> pd.DataFrame:
    """One row per image: its identity from the data set, its prediction from the model."""
    probabilities = torch.softmax(logits.double(), dim=1)
    confidence, prediction = probabilities.max(dim=1)
    labels = drawn.labels.tolist()
    predicted = prediction.tolist()
    if len(model_names) != len(drawn.class_names):
        log.warning("the model predicts %d classes but %s has %d: 'correct' compares class ids",
                    len(model_names), drawn.dataset, len(drawn.class_names))
    return pd.DataFrame({
        "position": np.arange(len(labels)),
        "index": drawn.indices.numpy(),
        "class_id": labels,
        "class_name": [drawn.class_names[c] for c in labels],
        "dataset": drawn.dataset,
        "split": drawn.split,
        "prediction": predicted,
        "prediction_name": [model_names[p] if p < len(model_names) else f"class_{p}"
                            for p in predicted],
        "confidence": confidence.float().numpy().round(6),
        "correct": [int(p == c) for p, c in zip(predicted, labels, strict=True)],
    })


def _manifest(settings: ExtractionSettings, loaded: Any, layers: list[str], drawn: DrawnImages,
              activations: dict[str, np.ndarray], rows: pd.DataFrame) -> dict[str, Any]:
    metadata = loaded.metadata
    return {
        "format": store.FORMAT,
        "name": settings.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"path": str(settings.weights), "sha256": file_sha256(Path(settings.weights)),
                  "architecture": metadata.architecture, "num_classes": metadata.num_classes,
                  "class_names": loaded.class_names, "test_accuracy": metadata.test_accuracy},
        "dataset": drawn.dataset,
        "split": drawn.split,
        "class_names": drawn.class_names,
        "classes": drawn.classes,
        "per_class": drawn.per_class,
        "num_images": len(rows),
        "accuracy": float(rows["correct"].mean()) if len(rows) else None,
        "settings": {"num_samples": settings.num_samples, "num_classes": settings.num_classes,
                     "target_classes": settings.target_classes,
                     "layers_requested": settings.layers, "batch_size": settings.batch_size,
                     "seed": settings.seed, "float16": settings.float16,
                     "label_overrides": (str(settings.label_overrides)
                                         if settings.label_overrides else None)},
        "layers": {layer: {"file": store.layer_file(layer), "shape": list(values.shape),
                           "dtype": str(values.dtype)} for layer, values in activations.items()},
        "images": {"file": "images.npy", "shape": list(drawn.images.shape), "dtype": "uint8"},
        "stream": drawn.stream.to_dict() if drawn.stream is not None else None,
        "embeddings": {},
    }
