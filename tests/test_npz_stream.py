"""Streaming class-balanced draws from NPZ batch files: order, early stop, quotas, missing classes.

Every image carries its global index in its first pixels (two bytes, so indices above 255 stay
unambiguous), so each check reads the content, not only the bookkeeping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.datasets import load_split
from helpers.errors import UserError
from helpers.npz_batches import NpzBatchSet
from helpers.npz_stream import draw_balanced_npz

SIDE = 4


def rows_for(indices: np.ndarray) -> np.ndarray:
    """Planar rows whose red plane's first two bytes spell the global index (high, low)."""
    rows = np.full((len(indices), 3, SIDE, SIDE), 9, dtype=np.uint8)
    rows[:, 0, 0, 0] = indices // 256
    rows[:, 0, 0, 1] = indices % 256
    return rows.reshape(len(indices), -1)


def index_of(images: torch.Tensor) -> list[int]:
    return (images[:, 0, 0, 0].long() * 256 + images[:, 0, 0, 1].long()).tolist()


def write_set(root: Path, labels_per_file: list[np.ndarray], *,
              class_names: list[str] | None = None) -> Path:
    """``train_data_batch_<n>.npz`` for n = 1.. with the given 1-based labels, written in reverse
    order so creation order is not numeric order either."""
    root.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + [len(labels) for labels in labels_per_file])
    for number in reversed(range(1, len(labels_per_file) + 1)):
        labels = labels_per_file[number - 1]
        indices = np.arange(offsets[number - 1], offsets[number])
        np.savez(root / f"train_data_batch_{number}.npz", data=rows_for(indices),
                 labels=np.asarray(labels, dtype=np.int64))
    if class_names is not None:
        (root / "classes.txt").write_text("\n".join(class_names) + "\n")
    return root


@pytest.fixture
def opened(monkeypatch):
    """Which files ``np.load`` opened, in order (the streaming reader's only way in)."""
    calls: list[str] = []
    real_load = np.load

    def counting_load(file, *args, **kwargs):
        calls.append(Path(file).name)
        return real_load(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", counting_load)
    return calls


def test_twelve_files_whose_labels_are_their_batch_number_are_read_in_numeric_order(tmp_path):
    per_file = 5
    # file n holds only class n (label n): a string sort (1, 10, 11, 12, 2, ...) would pair
    # class 9's images with the indices of file 2 and fail every check below.
    root = write_set(tmp_path / "in64", [np.full(per_file, n) for n in range(1, 13)])
    batch_set = NpzBatchSet(root, "train")
    draw = draw_balanced_npz(batch_set, 2, list(range(12)), seed=3, progress=False)

    assert draw.selection.counts == dict.fromkeys(range(12), 2)
    for label, index in zip(draw.labels.tolist(), draw.indices.tolist(), strict=True):
        assert index // per_file == label  # class k comes from file k + 1, the (k+1)-th file
    assert index_of(draw.images) == draw.indices.tolist()  # pixels travel with their index
    assert draw.indices.tolist() == sorted(draw.indices.tolist())


def test_quotas_met_and_reading_stops_once_they_are(tmp_path, opened):
    rng = np.random.default_rng(0)
    files = [rng.permutation(np.arange(40) % 4 + 1) for _ in range(12)]  # 10 of each class
    root = write_set(tmp_path / "d", files)
    batch_set = NpzBatchSet(root, "train")
    opened.clear()
    draw = draw_balanced_npz(batch_set, 25, [0, 1, 2, 3], seed=0, progress=False)

    # 25 per class needs 3 files of 10 per class: the other 9 files are never opened
    assert draw.selection.counts == {0: 25, 1: 25, 2: 25, 3: 25}
    assert draw.stats.files_scanned == 3 and draw.stats.stopped_early
    assert sorted(set(opened)) == [f"train_data_batch_{n}.npz" for n in (1, 2, 3)]
    assert draw.indices.max() < 120

    # the drawn pixels are exactly those a whole-split load has at these indices
    whole = load_split(f"npz:{root}", "train")
    assert torch.equal(whole.images[draw.indices], draw.images)
    assert torch.equal(whole.labels[draw.indices], draw.labels)


def test_a_file_that_gives_nothing_is_not_decoded(tmp_path, opened):
    files = [np.full(10, 1), np.full(10, 1), np.full(10, 2)]  # class 0 twice, then class 1
    root = write_set(tmp_path / "d", files)
    draw = draw_balanced_npz(NpzBatchSet(root, "train"), 3, [1], seed=0, progress=False)
    assert draw.stats.files_scanned == 3 and draw.stats.files_decoded == 1
    assert draw.indices.tolist() == sorted(draw.indices.tolist()) and min(draw.indices) >= 20


def test_same_seed_same_images_other_seed_others(tmp_path):
    files = [np.arange(50) % 5 + 1 for _ in range(2)]
    root = write_set(tmp_path / "d", files)
    batch_set = NpzBatchSet(root, "train")
    first = draw_balanced_npz(batch_set, 4, [0, 2], seed=1, progress=False).indices.tolist()
    again = draw_balanced_npz(batch_set, 4, [0, 2], seed=1, progress=False).indices.tolist()
    other = draw_balanced_npz(batch_set, 4, [0, 2], seed=2, progress=False).indices.tolist()
    assert first == again and first != other


def test_999_of_1000_expected_classes_is_an_error_naming_the_missing_class(tmp_path):
    names = [f"synset_{i:04d}" for i in range(1000)]
    present = np.array([c for c in range(1, 1001) if c != 738])  # 1-based label 738 = class 737
    files = np.array_split(np.resize(present, 12 * 90), 12)
    root = write_set(tmp_path / "d", list(files), class_names=names)
    batch_set = NpzBatchSet(root, "train")

    with pytest.raises(UserError, match=r"1 of the 1000 requested classes have no image.*"
                                        r"737 'synset_0737'"):
        draw_balanced_npz(batch_set, 1, list(range(1000)), seed=0, progress=False)
    with pytest.raises(UserError, match=r"999 distinct classes but 1000 are expected "
                                        r"\(missing: 737 'synset_0737'\)"):
        batch_set.read_all()


def test_too_few_images_of_a_class_names_it_and_the_largest_possible_quota(tmp_path):
    root = write_set(tmp_path / "d", [np.array([1, 1, 1, 2, 2, 3, 3, 3])],
                     class_names=["a", "b", "c"])
    with pytest.raises(UserError, match=r"1 classes have fewer than 3 images.*1 'b'; ask for at "
                                        r"most 2 per class"):
        draw_balanced_npz(NpzBatchSet(root, "train"), 3, [0, 1, 2], seed=0, progress=False)


def test_large_splits_skip_the_whole_split_cache(tmp_path, monkeypatch):
    root = write_set(tmp_path / "d", [np.arange(6) % 2 + 1])
    cache = tmp_path / "cache"
    monkeypatch.setenv("ALEXNET_REPAIR_CACHE", str(cache))
    monkeypatch.setenv("ALEXNET_REPAIR_NPZ_CACHE_LIMIT", "10")  # bytes: every file is larger
    big = load_split(f"npz:{root}", "train")
    assert not cache.exists() or not list(cache.glob("npz-*"))
    monkeypatch.delenv("ALEXNET_REPAIR_NPZ_CACHE_LIMIT")
    small = load_split(f"npz:{root}", "train")
    assert list(cache.glob("npz-*")) and torch.equal(big.images, small.images)
