"""A data-quality folder for the review-page tests: real reports of the tiny model on tiny
data with planted label flips and a leaked training copy, made by the real scripts."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import find_label_issues
import find_near_duplicates

LEAKED = ((17, 65),)  # (test index, training index): an exact copy put into training


def confident_right(tiny_cifar_root: Path, tiny_model_path: Path, count: int) -> list[int]:
    """The test images the model gets right most confidently: a flipped label there is what
    a real mislabelling looks like to the model."""
    import torch

    from helpers.datasets import load_split
    from model_classes.checkpoints import load_checkpoint

    split = load_split("cifar10", "test", data_root=tiny_cifar_root, download=False)
    with torch.no_grad():
        probs = torch.softmax(load_checkpoint(tiny_model_path).model(split.unit_images()), 1)
    confidence, predicted = probs.max(1)
    confidence[predicted != split.labels] = -1
    return sorted(confidence.argsort(descending=True)[:count].tolist())


def make_review_folder(tiny_cifar_root: Path, tiny_model_path: Path, folder: Path
                       ) -> tuple[Path, list[int]]:
    """``folder/data`` (the data root) and ``folder/dq`` (the reports), and the test images
    whose labels were flipped."""
    flipped = confident_right(tiny_cifar_root, tiny_model_path, 3)
    data = folder / "data"
    shutil.copytree(tiny_cifar_root / "cifar-10-batches-py", data / "cifar-10-batches-py")
    batches = data / "cifar-10-batches-py"
    with open(batches / "test_batch", "rb") as handle:
        test = pickle.load(handle, encoding="latin1")
    test["labels"] = [(y + 3) % 10 if i in flipped else y for i, y in enumerate(test["labels"])]
    with open(batches / "test_batch", "wb") as handle:
        pickle.dump(test, handle)
    with open(batches / "data_batch_2", "rb") as handle:
        train = pickle.load(handle, encoding="latin1")
    for test_index, train_index in LEAKED:
        train["data"][train_index - 60] = test["data"][test_index]
    with open(batches / "data_batch_2", "wb") as handle:
        pickle.dump(train, handle)
    common = ["--weights", str(tiny_model_path), "--data-root", str(data), "--output-dir",
              str(folder / "dq")]
    find_label_issues.main(common)
    find_near_duplicates.main([*common, "--embedding", "pixels", "--threshold", "0.999"])
    return folder, flipped
