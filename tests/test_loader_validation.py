"""Data-set files that parse but hold nonsense are refused by name, never cast or crashed on."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from helpers.datasets import load_split
from helpers.errors import UserError
from helpers.npz_batches import read_batch_file, read_class_names


def write_npz(path, data, labels):
    buffer = io.BytesIO()
    np.savez(buffer, data=data, labels=labels)
    path.write_bytes(buffer.getvalue())
    return path


GOOD = np.zeros((2, 3 * 4 * 4), dtype=np.uint8)


@pytest.mark.parametrize(("data", "labels", "message"), [
    (GOOD.astype(np.float32) + 300.7, np.array([1, 2]), "must lie in 0..255"),
    (GOOD.astype(np.float32) + 0.5, np.array([1, 2]), "fractional pixel values"),
    (np.full_like(GOOD, np.nan, dtype=np.float32), np.array([1, 2]), "NaN or infinite pixel"),
    (GOOD, np.array([1.0, np.nan]), "'labels' holds NaN"),
    (GOOD, np.array([1.5, 2.0]), "fractions"),
    (np.zeros((2, 0), dtype=np.uint8), np.array([1, 2]), "non-zero width"),
    (GOOD, np.array(["a", "b"]), "whole numbers"),
])
def test_npz_values_are_checked_not_cast(tmp_path, data, labels, message):
    path = write_npz(tmp_path / "train_data_batch_1.npz", data, labels)
    with pytest.raises(UserError, match=message):
        read_batch_file(path, None)


def test_a_truncated_npz_is_one_clear_error(tmp_path):
    path = write_npz(tmp_path / "train_data_batch_1.npz", GOOD, np.array([1, 2]))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match=r"not a readable \.npz file"):
        read_batch_file(path, None)


def test_float_pixels_that_are_whole_numbers_are_accepted(tmp_path):
    path = write_npz(tmp_path / "train_data_batch_1.npz", GOOD.astype(np.float64) + 255,
                     np.array([1, 2]))
    images, labels = read_batch_file(path, None)
    assert int(images.max()) == 255 and labels.tolist() == [0, 1]


def test_class_name_files_that_are_folders_binary_or_not_numbers(tmp_path):
    (tmp_path / "classes.txt").mkdir()
    with pytest.raises(UserError, match="it is a folder"):
        read_class_names(tmp_path)
    (tmp_path / "classes.txt").rmdir()
    (tmp_path / "classes.txt").write_bytes(b"\xff\xfe\x00cat")
    with pytest.raises(UserError, match="not UTF-8"):
        read_class_names(tmp_path)
    (tmp_path / "classes.txt").unlink()
    (tmp_path / "map_clsloc.txt").write_text("n01 1 shark\nn02 two crane\n")
    with pytest.raises(UserError, match="line 2: the class index 'two'"):
        read_class_names(tmp_path)


@pytest.mark.parametrize("content", [b"this is text, not a PNG", b"truncated"],
                         ids=["text-named-png", "truncated-png"])
def test_an_image_folder_with_an_unreadable_png_names_the_file(tmp_path, content):
    for name in ("cat", "dog"):
        (tmp_path / "test" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "test" / name / "a.png")
    bad = tmp_path / "test" / "dog" / "b.png"
    if content == b"truncated":
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
        content = buffer.getvalue()[:40]
    bad.write_bytes(content)
    with pytest.raises(UserError, match=r"b\.png is not a readable image"):
        load_split(f"imagefolder:{tmp_path}", "test")
