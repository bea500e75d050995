"""Edit sets built by hand from a split, independent of the generator they are used to test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from editset_helpers.io import EditSet
from helpers.datasets import ImageSplit


def edit_set_from(split: ImageSplit, indices: Sequence[int], *,
                  predicted: torch.Tensor | None = None, with_source: bool = True) -> EditSet:
    """An edit set of ``split``'s images at ``indices`` with the standard per-image records."""
    index = torch.as_tensor(list(indices), dtype=torch.long)
    guesses = predicted[index] if predicted is not None else split.labels[index]
    metadata = []
    for i, guess in zip(index.tolist(), guesses.tolist(), strict=True):
        label = int(split.labels[i])
        record = {"image_idx": i, "true_label": label, "predicted_label": int(guess),
                  "true_class": split.class_names[label],
                  "predicted_class": split.class_names[int(guess)], "type": "hand_made"}
        if with_source:
            record.update(dataset=split.dataset, split=split.split)
        metadata.append(record)
    return EditSet(split.unit_images(index), split.labels[index].clone(), metadata,
                   {"type": "hand_made", "class_names": list(split.class_names)})


def write_hand_made_set(path: Path, source, count: int = 12) -> None:
    """Images, labels and metadata only: no JSON, no predictions, names on some records only."""
    images = source.split.unit_images(torch.arange(count))
    labels = source.split.labels[:count].clone()
    metadata = []
    for i, label in enumerate(labels.tolist()):
        record = {"true_label": label, "note": f"picked by hand #{i}"}
        if i % 2 == 0:
            record["true_class"] = f"my-{source.split.class_names[label]}"
        metadata.append(record)
    torch.save({"images": images, "labels": labels, "metadata": metadata}, path)
