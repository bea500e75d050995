"""``load_split``: the official CIFAR-10 batch format, ImageFolder trees, and the decoded cache."""

from __future__ import annotations

import os
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from helpers import datasets
from helpers.cache import cached_tensors
from helpers.datasets import CIFAR10_CLASSES, load_split
from helpers.errors import NotFoundError, UserError

OFFICIAL_FIRST_TEST_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]


def write_official_batches(root: Path, *, per_batch: int = 4, bytes_keys: bool = False,
                           label_names: list[str] | None = None) -> Path:
    """A ``cifar-10-batches-py`` folder laid out like the official release.

    Each image's first pixel holds ``10 * batch + row`` so order is checked by content; the
    keys are ``str`` as ``pickle.load(..., encoding="latin1")`` yields for the official files,
    or ``bytes`` as a Python-2-style pickle read with ``encoding="bytes"`` gives.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def key(name: str):
        return name.encode() if bytes_keys else name

    for b, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data = np.random.default_rng(b).integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        data[:, 0] = 10 * b + np.arange(per_batch)
        labels = [(b + i) % 10 for i in range(per_batch)]
        batch = {key("batch_label"): f"batch {b}", key("labels"): labels, key("data"): data,
                 key("filenames"): [f"img_{b}_{i}.png" for i in range(per_batch)]}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
    if label_names is not None:
        meta = {key("label_names"): label_names, key("num_cases_per_batch"): per_batch,
                key("num_vis"): 3072}
        with open(folder / "batches.meta", "wb") as handle:
            pickle.dump(meta, handle, protocol=2)
    return root


@pytest.mark.parametrize("bytes_keys", [False, True])
def test_official_batch_format_is_read_in_order(tmp_path, bytes_keys):
    names = [f"c{i}" for i in range(10)]
    root = write_official_batches(tmp_path, bytes_keys=bytes_keys, label_names=names)
    train = load_split("cifar10", "train", data_root=root, download=False)
    test = load_split("cifar10", "test", data_root=root, download=False)

    assert train.images.shape == (20, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (4, 3, 32, 32) and train.labels.dtype == torch.int64
    assert train.images[:, 0, 0, 0].tolist() == [10 * b + i for b in range(5) for i in range(4)]
    assert train.labels.tolist() == [(b + i) % 10 for b in range(5) for i in range(4)]
    assert test.labels.tolist() == [5, 6, 7, 8]
    assert train.class_names == names  # from batches.meta, not the built-in list
    assert test.record(2).as_dict() == {"dataset": "cifar10", "split": "test", "image_idx": 2,
                                        "true_label": 7, "true_class": "c7"}


def test_rows_are_channel_planar(tmp_path):
    root = write_official_batches(tmp_path)
    with open(root / "cifar-10-batches-py" / "test_batch", "rb") as handle:
        row = pickle.load(handle, encoding="latin1")["data"][1]
    image = load_split("cifar10", "test", data_root=root, download=False).images[1]
    assert image[0].flatten().tolist() == row[:1024].tolist()  # red plane first
    assert image[2].flatten().tolist() == row[2048:].tolist()


def test_no_checksum_is_applied(tmp_path):
    root = write_official_batches(tmp_path)
    test_file = root / "cifar-10-batches-py" / "test_batch"
    official_md5 = dict(torchvision.datasets.CIFAR10.test_list)["test_batch"]
    assert not torchvision.datasets.utils.check_integrity(str(test_file), official_md5)
    split = load_split("cifar10", "test", data_root=root, download=False)  # loads regardless
    assert len(split) == 4
    assert split.class_names == list(CIFAR10_CLASSES)  # no batches.meta: the built-in names


def test_missing_folder_without_download_names_data_root(tmp_path):
    with pytest.raises(NotFoundError) as caught:
        load_split("cifar10", "test", data_root=tmp_path / "nowhere", download=False)
    message = str(caught.value)
    assert "--data-root" in message and "\n" not in message


def test_failed_download_is_one_line_naming_data_root(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known\nsecond line")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(NotFoundError) as caught:
        load_split("cifar10", "test", data_root=tmp_path)
    message = str(caught.value)
    assert "download failed" in message and "--data-root" in message and "\n" not in message


def test_incomplete_folder_names_the_missing_file(tmp_path):
    root = write_official_batches(tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(NotFoundError, match="data_batch_3"):
        load_split("cifar10", "train", data_root=root, download=False)


def test_bad_specs_and_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown data set 'mnist'"):
        load_split("mnist", "test")
    with pytest.raises(UserError, match="needs a path"):
        load_split("npz", "test")
    root = write_official_batches(tmp_path)
    with pytest.raises(UserError, match="splits 'train' and 'test'"):
        load_split("cifar10", "val", data_root=root, download=False)
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"\x00garbage")
    with pytest.raises(UserError, match="not a CIFAR-10 python batch"):
        load_split("cifar10", "test", data_root=root, download=False)


# ----------------------------------------------------------------------------- ImageFolder


def write_png(path: Path, value: int, size: tuple[int, int] = (6, 5)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, 255 - value, 9)).save(path)


def test_image_folder_classes_and_order(tmp_path):
    layout = {"dog": ["b.png", "a.png"], "ant": ["z.png"], "cat": ["m.png", "c.png", "k.png"]}
    value = iter(range(10, 250, 20))
    written = {}
    for name, files in layout.items():
        for file in files:
            written[(name, file)] = next(value)
            write_png(tmp_path / "test" / name / file, written[(name, file)])

    split = load_split(f"imagefolder:{tmp_path}", "test")
    assert split.class_names == ["ant", "cat", "dog"]  # sorted folder names
    assert split.labels.tolist() == [0, 1, 1, 1, 2, 2]
    expected = [written[("ant", "z.png")], written[("cat", "c.png")], written[("cat", "k.png")],
                written[("cat", "m.png")], written[("dog", "a.png")], written[("dog", "b.png")]]
    assert split.images[:, 0, 0, 0].tolist() == expected  # files in sorted order within a class
    assert split.images.shape == (6, 3, 5, 6)  # (N, C, H, W) of 6 wide, 5 high images
    again = load_split(f"imagefolder:{tmp_path}", "test")
    assert torch.equal(again.images, split.images) and torch.equal(again.labels, split.labels)


def test_image_folder_mixed_sizes_is_a_user_error(tmp_path):
    write_png(tmp_path / "train" / "a" / "1.png", 10, (6, 6))
    write_png(tmp_path / "train" / "b" / "2.png", 20, (8, 6))
    with pytest.raises(UserError, match="resize the folder's images to one size"):
        load_split(f"imagefolder:{tmp_path}", "train")


def test_image_folder_missing_split_is_a_user_error(tmp_path):
    with pytest.raises(NotFoundError, match="imagefolder:<path> needs"):
        load_split(f"imagefolder:{tmp_path}", "val")


# ----------------------------------------------------------------------------- cache


def test_second_load_is_served_from_cache_and_a_changed_source_is_reread(tmp_path, monkeypatch):
    root = write_official_batches(tmp_path / "data")
    first = load_split("cifar10", "test", data_root=root, download=False)

    def must_not_decode(files):
        raise AssertionError("decoded again instead of reading the cache")

    real_decode = datasets._decode_cifar10
    monkeypatch.setattr(datasets, "_decode_cifar10", must_not_decode)
    cached = load_split("cifar10", "test", data_root=root, download=False)
    assert torch.equal(cached.images, first.images)

    test_file = root / "cifar-10-batches-py" / "test_batch"
    with open(test_file, "rb") as handle:
        batch = pickle.load(handle, encoding="latin1")
    batch["labels"] = [9, 9, 9, 9]
    with open(test_file, "wb") as handle:
        pickle.dump(batch, handle, protocol=2)
    stat = test_file.stat()  # same size; move the mtime on so the change is seen on any clock
    os.utime(test_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(AssertionError, match="decoded again"):
        load_split("cifar10", "test", data_root=root, download=False)
    monkeypatch.setattr(datasets, "_decode_cifar10", real_decode)
    assert load_split("cifar10", "test", data_root=root, download=False).labels.tolist() == [9] * 4


def test_damaged_cache_file_is_rebuilt(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"x": torch.arange(3)}

    assert cached_tensors("thing", "abc", build, cache_dir=tmp_path)["x"].tolist() == [0, 1, 2]
    assert cached_tensors("thing", "abc", build, cache_dir=tmp_path)["x"].tolist() == [0, 1, 2]
    assert len(calls) == 1
    (tmp_path / "thing-abc.pt").write_bytes(b"truncated")
    assert cached_tensors("thing", "abc", build, cache_dir=tmp_path)["x"].tolist() == [0, 1, 2]
    assert len(calls) == 2


# ----------------------------------------------------------------------------- real data


def test_real_cifar10_sizes_and_official_order(real_cifar_root, monkeypatch):
    from tests.conftest import PROJECT_ROOT

    monkeypatch.setenv("ALEXNET_REPAIR_CACHE", str(PROJECT_ROOT / "data" / "cache"))
    train = load_split("cifar10", "train", data_root=real_cifar_root, download=False)
    test = load_split("cifar10", "test", data_root=real_cifar_root, download=False)
    assert len(train) == 50_000 and len(test) == 10_000
    assert train.images.shape[1:] == (3, 32, 32)
    assert test.labels[:10].tolist() == OFFICIAL_FIRST_TEST_LABELS
    assert test.class_names == list(CIFAR10_CLASSES)
    assert torch.bincount(test.labels).tolist() == [1000] * 10
