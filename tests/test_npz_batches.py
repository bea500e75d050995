"""ImageNet64-style NPZ batches: numeric file order, planar pixels, 1-based labels, validation.

Every image written here carries its own global index in its first pixel, so an order check
reads the content, not just a file list.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.datasets import load_split
from helpers.errors import NotFoundError, UserError
from helpers.npz_batches import NpzBatchSet, find_batch_files, read_batch_file

SIDE = 4


def planar_rows(first_index: int, count: int) -> np.ndarray:
    """Rows of ``3*SIDE*SIDE`` bytes: red plane = global index, green = 200, blue = 7."""
    rows = np.empty((count, 3, SIDE, SIDE), dtype=np.uint8)
    rows[:, 0] = (np.arange(first_index, first_index + count) % 256)[:, None, None]
    rows[:, 1], rows[:, 2] = 200, 7
    return rows.reshape(count, -1)


def write_batches(root: Path, numbers: list[int], *, per_file: int = 3, num_classes: int = 4,
                  prefix: str = "train_data", labels_for=None) -> Path:
    """Files ``<prefix>_batch_<n>.npz`` in the given order of creation, numbered as given.

    Global image index = position of the file in numeric order times ``per_file`` plus row.
    Labels are 1-based and cycle through the classes unless ``labels_for(i)`` says otherwise.
    """
    root.mkdir(parents=True, exist_ok=True)
    rank = {n: r for r, n in enumerate(sorted(numbers))}
    for number in numbers:  # creation order deliberately not the numeric order
        first = rank[number] * per_file
        indices = np.arange(first, first + per_file)
        labels = (labels_for(indices) if labels_for else indices % num_classes + 1)
        np.savez(root / f"{prefix}_batch_{number}.npz", data=planar_rows(first, per_file),
                 labels=np.asarray(labels, dtype=np.int64))
    return root


def write_classes(root: Path, names: list[str]) -> None:
    (root / "classes.txt").write_text("\n".join(names) + "\n")


def test_batch_10_comes_after_batch_2_and_images_keep_their_order(tmp_path):
    numbers = [10, 3, 1, 11, 2, 7, 5, 9, 4, 8, 6]  # 11 files, shuffled creation order
    root = write_batches(tmp_path / "in64", numbers)
    files = find_batch_files(root, "train")
    assert [f.name for f in files] == [f"train_data_batch_{n}.npz" for n in range(1, 12)]
    assert sorted(f.name for f in files) != [f.name for f in files]  # a string sort would differ

    tensors = NpzBatchSet(root, "train").read_all()
    assert tensors["images"][:, 0, 0, 0].tolist() == list(range(33))  # order by content


def test_rows_are_channel_planar(tmp_path):
    root = write_batches(tmp_path / "d", [1])
    images, _ = read_batch_file(root / "train_data_batch_1.npz", None)
    assert images.shape == (3, 3, SIDE, SIDE) and images.dtype == torch.uint8
    assert torch.all(images[:, 1] == 200) and torch.all(images[:, 2] == 7)
    red = torch.arange(3, dtype=torch.uint8).view(3, 1, 1).expand(3, SIDE, SIDE)
    assert torch.equal(images[:, 0], red)  # the first SIDE*SIDE bytes of a row are its red plane


def test_labels_become_zero_based(tmp_path):
    root = write_batches(tmp_path / "d", [1, 2], per_file=4, num_classes=4)
    write_classes(root, ["a", "b", "c", "d"])
    split = load_split(f"npz:{root}", "train")
    written = [i % 4 + 1 for i in range(8)]
    assert split.labels.tolist() == [w - 1 for w in written]
    assert split.class_names == ["a", "b", "c", "d"]
    assert split.record(5).true_class == "b"


def test_label_zero_is_refused_as_not_one_based(tmp_path):
    root = write_batches(tmp_path / "d", [1], labels_for=lambda idx: idx % 4)  # 0-based by mistake
    with pytest.raises(UserError, match="1-based"):
        read_batch_file(root / "train_data_batch_1.npz", 4)


def test_label_above_class_count_is_refused(tmp_path):
    root = write_batches(tmp_path / "d", [1], labels_for=lambda idx: idx * 0 + 5)
    write_classes(root, ["a", "b", "c", "d"])
    with pytest.raises(UserError, match="label 5 but only 4 classes"):
        NpzBatchSet(root, "train").read_all()


def test_class_list_and_expected_count_must_agree(tmp_path):
    root = write_batches(tmp_path / "d", [1])
    write_classes(root, ["a", "b", "c", "d", "e"])
    with pytest.raises(UserError, match="names 5 classes but 4 were expected"):
        NpzBatchSet(root, "train", expected_num_classes=4)


def test_split_missing_classes_is_refused(tmp_path):
    # 4 classes named, but the files only hold labels 1 and 2: a batch file is probably missing.
    root = write_batches(tmp_path / "d", [1, 2], labels_for=lambda idx: idx % 2 + 1)
    write_classes(root, ["a", "b", "c", "d"])
    with pytest.raises(UserError, match="holds 2 distinct classes but 4 are expected"):
        load_split(f"npz:{root}", "train")


def test_gap_in_batch_numbers_is_refused(tmp_path):
    root = write_batches(tmp_path / "d", [1, 2, 4])
    with pytest.raises(UserError, match=r"skip number\(s\) \[3\]"):
        find_batch_files(root, "train")


def test_missing_first_batch_is_refused(tmp_path):
    root = write_batches(tmp_path / "d", [2, 3])
    with pytest.raises(UserError, match=r"skip number\(s\) \[1\]"):
        find_batch_files(root, "train")


def test_numbering_from_zero_is_accepted(tmp_path):
    root = write_batches(tmp_path / "d", [0, 1, 2])
    assert len(find_batch_files(root, "train")) == 3


def test_duplicate_batch_number_is_refused(tmp_path):
    root = write_batches(tmp_path / "d", [1, 2])
    (root / "train_data_batch_02.npz").write_bytes((root / "train_data_batch_2.npz").read_bytes())
    with pytest.raises(UserError, match="two files carry batch number 2"):
        find_batch_files(root, "train")


def test_split_subfolder_and_single_file_layouts(tmp_path):
    sub = write_batches(tmp_path / "d" / "train", [1, 2], prefix="part")
    assert [f.name for f in find_batch_files(sub.parent, "train")] == ["part_batch_1.npz",
                                                                        "part_batch_2.npz"]
    np.savez(tmp_path / "d" / "val_data.npz", data=planar_rows(0, 2), labels=np.array([1, 2]))
    assert find_batch_files(tmp_path / "d", "val") == [tmp_path / "d" / "val_data.npz"]
    with pytest.raises(NotFoundError, match="no test batch files"):
        find_batch_files(tmp_path / "d", "test")


def test_class_names_from_map_clsloc(tmp_path):
    root = write_batches(tmp_path / "d", [1], num_classes=2, labels_for=lambda idx: idx % 2 + 1)
    (root / "map_clsloc.txt").write_text("n02 2 crane\nn01 1 great_white_shark\n")
    assert load_split(f"npz:{root}", "train").class_names == ["great_white_shark", "crane"]


def test_unnamed_classes_keep_their_names_when_served_from_cache(tmp_path):
    root = write_batches(tmp_path / "d", [1, 2], num_classes=3)
    first = load_split(f"npz:{root}", "train")
    second = load_split(f"npz:{root}", "train")  # a cache hit: read_all does not run
    assert first.class_names == second.class_names == ["class_0", "class_1", "class_2"]
    assert torch.equal(first.images, second.images)


def test_unreadable_and_malformed_files(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    (root / "train_data_batch_1.npz").write_bytes(b"not a zip archive")
    with pytest.raises(UserError, match=r"not a readable \.npz"):
        read_batch_file(root / "train_data_batch_1.npz", None)
    np.savez(root / "odd.npz", data=np.zeros((2, 10), dtype=np.uint8), labels=np.array([1, 1]))
    with pytest.raises(UserError, match="not 3\\*H\\*H"):
        read_batch_file(root / "odd.npz", None)
    np.savez(root / "nolabels.npz", data=planar_rows(0, 2))
    with pytest.raises(UserError, match="lacks a 'data' or 'labels'"):
        read_batch_file(root / "nolabels.npz", None)


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(NotFoundError, match="npz:<dir>"):
        load_split(f"npz:{tmp_path / 'absent'}", "train")
