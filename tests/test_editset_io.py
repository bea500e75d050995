"""The edit-set file pair: round trip, naming, no overwrites, and clear errors for bad files."""

from __future__ import annotations

import json
import os

import pytest
import torch

from editset_helpers import io as edit_io
from editset_helpers.io import (
    REQUIRED_SAMPLE_KEYS,
    EditSet,
    class_set_name,
    edit_set_paths,
    load_edit_set,
    save_edit_set,
)
from helpers.errors import NotFoundError, UserError


def small_set(n: int = 3) -> EditSet:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, 8, 8, generator=generator)
    labels = torch.arange(n) % 10
    metadata = [{"dataset": "cifar10", "split": "test", "image_idx": 10 + i,
                 "true_label": int(labels[i]), "predicted_label": 9, "true_class": f"c{i}",
                 "predicted_class": "c9", "type": "misclassified"} for i in range(n)]
    return EditSet(images, labels, metadata, {"type": "misclassified", "dataset": "cifar10",
                                              "split": "test"})


def test_round_trip_keeps_images_labels_records_and_provenance(tmp_path):
    pt_path, json_path = edit_set_paths(tmp_path, "misclassified")
    assert pt_path.name == "misclassified_edit_dataset.pt"
    assert json_path.name == "misclassified_edit_metadata.json"
    original = small_set()
    save_edit_set(original, pt_path, parameters={"seed": 4})
    loaded = load_edit_set(pt_path)
    assert torch.equal(loaded.images, original.images) and loaded.images.dtype == torch.float32
    assert torch.equal(loaded.labels, original.labels) and loaded.labels.dtype == torch.int64
    assert loaded.metadata == original.metadata
    assert loaded.name == "misclassified" and loaded.image_indices == [10, 11, 12]
    assert loaded.info["parameters"] == {"seed": 4} and loaded.info["num_samples"] == 3
    assert loaded.source_split() == ("cifar10", "test")
    on_disk = json.loads(json_path.read_text())
    assert on_disk["metadata"] == original.metadata and on_disk["format"] == edit_io.FORMAT
    for record in on_disk["metadata"]:
        assert set(REQUIRED_SAMPLE_KEYS) <= set(record)


def test_written_files_get_the_usual_permissions(tmp_path):
    previous = os.umask(0o022)
    os.umask(previous)
    pt_path, json_path = save_edit_set(small_set(), tmp_path / "s_edit_dataset.pt")
    for path in (pt_path, json_path):  # not mkstemp's owner-only 0600
        assert path.stat().st_mode & 0o777 == 0o666 & ~previous


def test_class_set_names():
    assert class_set_name(3, "cat") == "class_3_cat"
    assert class_set_name(3, "cat", focus="correct") == "class_3_cat_correct"
    assert class_set_name(2, "great white shark") == "class_2_great_white_shark"


def test_refuses_to_overwrite_either_file_without_force(tmp_path):
    pt_path, json_path = edit_set_paths(tmp_path, "s")
    json_path.write_text("{}")  # a lone JSON from someone else is a user's file too
    with pytest.raises(UserError, match="already exists; pass --force"):
        save_edit_set(small_set(), pt_path)
    assert not pt_path.exists() and json_path.read_text() == "{}"
    save_edit_set(small_set(), pt_path, force=True)
    assert len(load_edit_set(pt_path)) == 3


def test_failed_write_leaves_no_files(tmp_path, monkeypatch):
    pt_path, _ = edit_set_paths(tmp_path, "s")

    def disk_full(obj, handle):
        handle.write(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_edit_set(small_set(), pt_path)
    assert list(tmp_path.iterdir()) == []  # no .pt, no lone JSON, no temporary file


@pytest.mark.parametrize(("payload", "message"), [
    ({"images": (torch.rand(2, 3, 4, 4) * 255).to(torch.uint8), "labels": torch.tensor([0, 1]),
      "metadata": [{}, {}]}, "must be float in \\[0, 1\\]"),
    ({"images": torch.rand(2, 3, 4, 4) * 2 - 0.5, "labels": torch.tensor([0, 1]),
      "metadata": [{}, {}]}, "not normalised"),
    ({"images": torch.rand(2, 4, 4), "labels": torch.tensor([0, 1]), "metadata": [{}, {}]},
     "\\(N, C, H, W\\)"),
    ({"images": torch.rand(2, 3, 4, 4), "labels": torch.tensor([0]), "metadata": [{}, {}]},
     "one label per image"),
    ({"images": torch.rand(2, 3, 4, 4), "labels": torch.tensor([0.0, 1.0]),
      "metadata": [{}, {}]}, "integer class ids"),
    ({"images": torch.rand(2, 3, 4, 4), "labels": torch.tensor([0, 1]), "metadata": [{}]},
     "one dict per image"),
    ({"images": torch.rand(2, 3, 4, 4), "labels": torch.tensor([0, 1]), "metadata": [{}, 3]},
     "must be a dict"),
    ({"pictures": torch.rand(2, 3, 4, 4)}, "expected a dict with 'images'"),
    ([1, 2, 3], "expected a dict with 'images'"),
])
def test_malformed_files_are_user_errors(tmp_path, payload, message):
    path = tmp_path / "bad_edit_dataset.pt"
    torch.save(payload, path)
    with pytest.raises(UserError, match=message):
        load_edit_set(path)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(NotFoundError, match=r"editset_generator\.py"):
        load_edit_set(tmp_path / "absent_edit_dataset.pt")
    (tmp_path / "text_edit_dataset.pt").write_text("images,labels\n")
    with pytest.raises(UserError, match="not a readable edit set"):
        load_edit_set(tmp_path / "text_edit_dataset.pt")


def test_set_without_records_loads_but_cannot_be_matched(tmp_path):
    path = tmp_path / "legacy_edit_dataset.pt"
    torch.save({"images": torch.rand(2, 3, 4, 4), "labels": torch.tensor([1, 2])}, path)
    loaded = load_edit_set(path)
    assert [m["true_label"] for m in loaded.metadata] == [1, 2]
    assert loaded.image_indices == []  # nothing to match against a split
