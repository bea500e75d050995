"""Small, learnable image data written in the real on-disk formats, for fast tests.

Each class gets its own colour and stripe direction plus noise, so a tiny model learns most of
it in a second and still gets some images wrong: exactly what edit sets and repairs need.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]


def make_images(n: int, num_classes: int = 10, *, side: int = 32, seed: int = 0,
                noise: float = 130.0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, side, side) uint8 images and (n,) labels cycling through the classes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    palette = np.random.default_rng(1234).uniform(40, 215, size=(num_classes, 3))  # fixed per class
    ramp = np.linspace(-1, 1, side)
    images = np.empty((n, 3, side, side), dtype=np.float64)
    for i, label in enumerate(labels):
        angle = np.pi * label / num_classes
        stripes = np.sin(4 * (np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]))
        images[i] = palette[label][:, None, None] + 30 * stripes[None]
    images += rng.normal(0, noise, size=images.shape)
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def write_cifar_batches(root: Path, *, train_per_batch: int = 60, test: int = 200,
                        seed: int = 0) -> Path:
    """``root/cifar-10-batches-py`` in the official python-pickle layout (5 train batches)."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        n = test if name == "test_batch" else train_per_batch
        images, labels = make_images(n, seed=seed + k)
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": images.reshape(n, -1), "labels": labels.tolist()}, handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": CLASS_NAMES, "num_cases_per_batch": train_per_batch}, handle)
    return Path(root)
