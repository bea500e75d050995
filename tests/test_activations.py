"""Activation extraction, UMAP embedding and NPZ export, on tiny data the tests make.

Activations are checked against a plain forward pass of the layers before the recorded one,
the export against the data layer reading it back, the embedding against planted clusters.
One test runs on the real CIFAR-10 with the real base model when both are present.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import export_npz_dataset
import extract_activations
import process_embeddings
from activations.embedding import EmbeddingSettings, embed
from activations.layers import penultimate_layer, resolve_layers
from activations.sources import choose_classes
from activations.store import ActivationSet, check_name
from helpers.cli import run_main
from helpers.datasets import load_split
from helpers.errors import UserError
from model_classes.checkpoints import load_checkpoint
from tests.conftest import PROJECT_ROOT


def extract_args(tiny_cifar_root: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return ["--weights", str(model), "--data-root", str(tiny_cifar_root), "--split", "test",
            "--out-dir", str(out), *extra]


def one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_extraction_writes_a_set_whose_activations_match_a_plain_forward_pass(
        tiny_cifar_root, tiny_model_path, tmp_path):
    out = tmp_path / "acts"
    code = extract_activations.main(extract_args(
        tiny_cifar_root, tiny_model_path, out, "--num-samples", "100", "--layer", "penultimate",
        "--layer", "fc1", "--name", "tiny", "--seed", "4"))
    assert code == 0
    written = ActivationSet.open("tiny", out)
    split = load_split("cifar10", "test", data_root=tiny_cifar_root, download=False)
    rows = written.metadata()

    # balanced: 10 of each class, each row's class name is the data set's own
    assert rows["class_id"].value_counts().to_dict() == dict.fromkeys(range(10), 10)
    assert rows["index"].is_monotonic_increasing and rows["index"].is_unique
    indices = rows["index"].tolist()
    assert (rows["class_id"] == split.labels[indices].numpy()).all()
    assert list(rows["class_name"]) == [split.class_names[c] for c in rows["class_id"]]
    assert np.array_equal(written.images(), split.images[indices].numpy())

    # an independent computation: the Sequential's own prefix up to each layer
    model = load_checkpoint(tiny_model_path).model
    images = split.unit_images(indices)
    children = dict(model.named_children())
    names = list(children)
    with torch.no_grad():
        for layer in ("relu2", "fc1"):
            prefix = torch.nn.Sequential(*list(children.values())[:names.index(layer) + 1])
            expected = prefix(images).numpy()
            assert np.allclose(written.activations(layer), expected, atol=1e-5)
        probabilities = torch.softmax(model(images), dim=1)
    assert written.layers == ["relu2", "fc1"]  # penultimate resolved to the real name
    assert (rows["prediction"] == probabilities.argmax(1).numpy()).all()
    assert np.allclose(rows["confidence"], probabilities.max(1).values.numpy(), atol=1e-5)
    assert (rows["correct"] == (rows["prediction"] == rows["class_id"])).all()

    manifest = written.manifest
    assert manifest["model"]["sha256"] == __import__("hashlib").sha256(
        tiny_model_path.read_bytes()).hexdigest()
    assert manifest["per_class"] == 10 and manifest["settings"]["seed"] == 4
    assert manifest["layers"]["relu2"]["shape"] == [100, 32]


def test_num_classes_picks_classes_at_random_with_the_seed_and_lists_are_accepted(
        tiny_cifar_root, tiny_model_path, tmp_path):
    names = [f"c{i}" for i in range(10)]
    picks = {seed: choose_classes(names, num_classes=3, seed=seed) for seed in range(6)}
    assert picks[0] == choose_classes(names, num_classes=3, seed=0)
    assert len({tuple(p) for p in picks.values()}) > 1  # not simply the first three
    assert choose_classes(names, target_classes=["c7", "2", "c7"]) == [2, 7]

    out = tmp_path / "acts"
    code = extract_activations.main(extract_args(
        tiny_cifar_root, tiny_model_path, out, "--num_samples", "30", "--target_classes",
        "cat,1", "--target-classes", "9", "--name=three", "--float16", "--batch_size", "7"))
    assert code == 0
    written = ActivationSet.open("three", out)
    assert sorted(written.metadata()["class_id"].unique()) == [1, 3, 9]
    assert written.activations("relu2").dtype == np.float16


def test_reextraction_refuses_without_force_and_replaces_the_whole_set_with_it(
        tiny_cifar_root, tiny_model_path, tmp_path, capsys):
    out = tmp_path / "acts"
    args = extract_args(tiny_cifar_root, tiny_model_path, out, "--num-samples", "20",
                        "--name", "s")
    assert extract_activations.main([*args, "--seed", "0"]) == 0
    first = ActivationSet.open("s", out)
    first_rows = first.metadata()
    capsys.readouterr()  # the first run's progress bars

    code = run_main(extract_activations.main, [*args, "--seed", "1"])
    one_line_error(code, capsys.readouterr().err, "already exists", "--force")
    assert ActivationSet.open("s", out).path == first.path

    assert extract_activations.main([*args, "--seed", "1", "--force"]) == 0
    second = ActivationSet.open("s", out)
    assert second.path != first.path and not first.path.exists()  # the old version is gone
    assert not first_rows["index"].equals(second.metadata()["index"])
    assert [p.name for p in (out / ".versions" / "s").iterdir()] == [second.path.name]


def test_a_killed_extraction_leaves_the_old_set_intact(tiny_cifar_root, tiny_model_path,
                                                       tmp_path):
    out = tmp_path / "acts"
    args = extract_args(tiny_cifar_root, tiny_model_path, out, "--num-samples", "20",
                        "--name", "s")
    assert extract_activations.main(args) == 0
    before = ActivationSet.open("s", out)
    before_files = {p.name: p.read_bytes() for p in before.path.iterdir()}

    # a real SIGKILL halfway through writing the new version (after its first array)
    script = textwrap.dedent(f"""
        import os, signal, sys
        import numpy as np
        real_save = np.save
        def save_then_die(file, array, *a, **k):
            real_save(file, array, *a, **k)
            os.kill(os.getpid(), signal.SIGKILL)
        np.save = save_then_die
        import extract_activations
        sys.exit(extract_activations.main({[*args, '--seed', '1', '--force']!r}))
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300,
                            env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)})
    assert killed.returncode == -9, killed.stderr[-2000:]
    partial = list((out / ".versions" / "s").glob("*.partial"))
    assert len(partial) == 1 and (partial[0] / "images.npy").exists()  # it did get that far

    after = ActivationSet.open("s", out)
    assert after.path == before.path
    assert {p.name: p.read_bytes() for p in after.path.iterdir()} == before_files

    assert extract_activations.main([*args, "--seed", "1", "--force"]) == 0  # cleans up
    assert not list((out / ".versions" / "s").glob("*.partial"))


@pytest.mark.parametrize(("extra", "fragments"), [
    (["--layer", "fc9", "--name", "x"], ["no layer 'fc9'", "penultimate", "fc1"]),
    (["--target-classes", "3,zebra,42", "--name", "x"], ["zebra, 42 not in this data set"]),
    (["--name", "../elsewhere"], ["not a plain folder name"]),
    (["--name", "a/b"], ["not a plain folder name"]),
    (["--num-samples", "5", "--name", "x"], ["fewer than the 10 classes"]),
    (["--num-classes", "11", "--name", "x"], ["between 1 and 10"]),
    (["--num-samples", "2000", "--name", "x"], ["fewer than 200 images", "at most 20"]),
    (["--dataset", "npz:/nowhere", "--name", "x"], ["/nowhere is not a folder"]),
])
def test_bad_input_is_one_line_and_exit_2(extra, fragments, tiny_cifar_root, tiny_model_path,
                                          tmp_path, capsys):
    code = run_main(extract_activations.main,
                    extract_args(tiny_cifar_root, tiny_model_path, tmp_path / "a", *extra))
    one_line_error(code, capsys.readouterr().err, *fragments)
    assert not (tmp_path / "a" / "x").exists()


def test_the_entry_points_report_bad_input_as_one_line(tiny_cifar_root, tiny_model_path,
                                                       tmp_path):
    for argv, fragment in (
            (["extract_activations.py", *extract_args(tiny_cifar_root, tiny_model_path,
                                                      tmp_path, "--layer", "nope", "--name",
                                                      "x")], "no layer 'nope'"),
            (["process_embeddings.py", "--name", "absent", "--out-dir", str(tmp_path)],
             "no activation set 'absent'"),
            (["export_npz_dataset.py", "--dataset", "cifar10", "--data-root",
              str(tiny_cifar_root), "--out", str(tmp_path / "n"), "--per-file", "0"],
             "--per-file: must be at least 1")):
        result = subprocess.run([sys.executable, *argv], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=300)
        one_line_error(result.returncode, result.stderr, fragment)


def test_layer_names_resolve_and_penultimate_skips_dropout(tiny_model_path):
    from model_classes.registry import build_model

    assert penultimate_layer(build_model("alexnet", 10)) == "classifier.5"
    assert penultimate_layer(build_model("small_cnn", 10)) == "relu1"  # not its Dropout
    model = load_checkpoint(tiny_model_path).model
    assert resolve_layers(model, ["penultimate", "relu2", "fc1"]) == ["relu2", "fc1"]
    for bad in ("", ".", "..", ".hidden", "a/b", "a b", "x" * 101):
        with pytest.raises(UserError):
            check_name(bad)


def planted_clusters(n_per: int = 60, classes: int = 4, width: int = 80,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, size=(classes, width))
    labels = np.repeat(np.arange(classes), n_per)
    return (centres[labels] + rng.normal(0, 1, size=(len(labels), width))).astype(np.float32), \
        labels


def test_umap_is_deterministic_with_a_seed_and_keeps_planted_clusters_apart():
    values, labels = planted_clusters()
    settings = EmbeddingSettings(n_neighbors=15, seed=3, pca_dimensions=50)
    first, report = embed(values, settings)
    again, _ = embed(values, settings)
    other, _ = embed(values, EmbeddingSettings(n_neighbors=15, seed=4))
    assert first.shape == (240, 2) and first.dtype == np.float32
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert report["input_shape"] == [240, 80] and 0 < report["pca_explained_variance"] <= 1

    # oracle: each point's nearest neighbour in 2-D has its planted cluster
    distances = np.linalg.norm(first[:, None] - first[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(axis=1)] == labels).mean() > 0.95
    with pytest.raises(UserError, match="NaN"):
        embed(np.full((10, 3), np.nan, dtype=np.float32))


def test_process_embeddings_saves_coordinates_beside_the_activations(
        tiny_cifar_root, tiny_model_path, tmp_path):
    out = tmp_path / "acts"
    assert extract_activations.main(extract_args(tiny_cifar_root, tiny_model_path, out,
                                                 "--num-samples", "100", "--name", "e")) == 0
    assert process_embeddings.main(["--name", "e", "--layer", "relu2", "--n_neighbors", "10",
                                    "--out-dir", str(out), "--seed", "2"]) == 0
    written = ActivationSet.open("e", out)
    coordinates = written.embedding("relu2")
    assert coordinates.shape == (100, 2) and np.isfinite(coordinates).all()
    recorded = json.loads((written.path / "manifest.json").read_text())["embeddings"]["relu2"]
    assert recorded["n_neighbors"] == 10 and recorded["seed"] == 2
    assert recorded["metric"] == "cosine" and recorded["method"] == "pca+umap"


def test_export_to_npz_batches_reads_back_identically_and_feeds_a_streamed_extraction(
        tiny_cifar_root, tiny_model_path, tmp_path):
    out = tmp_path / "npz"
    assert export_npz_dataset.main(["--dataset", "cifar10", "--data-root", str(tiny_cifar_root),
                                    "--out", str(out), "--per-file", "25"]) == 0
    assert len(list(out.glob("train_data_batch_*.npz"))) == 12  # 300 images / 25
    with np.load(out / "train_data_batch_1.npz") as first:
        assert first["data"].shape == (25, 3 * 32 * 32) and first["labels"].min() >= 1
    for split, exported in (("train", "train"), ("test", "val")):
        original = load_split("cifar10", split, data_root=tiny_cifar_root, download=False)
        back = load_split(f"npz:{out}", exported)
        assert torch.equal(original.images, back.images)
        assert torch.equal(original.labels, back.labels)
        assert back.class_names == original.class_names

    with pytest.raises(UserError, match=r"already holds 13 \.npz files"):
        export_npz_dataset.main(["--dataset", "cifar10", "--data-root", str(tiny_cifar_root),
                                 "--out", str(out)])

    acts = tmp_path / "acts"
    assert extract_activations.main(["--weights", str(tiny_model_path), "--dataset",
                                     f"npz:{out}", "--split", "train", "--num-samples", "20",
                                     "--out-dir", str(acts), "--name", "streamed"]) == 0
    written = ActivationSet.open("streamed", acts)
    stream = written.manifest["stream"]
    assert stream["files_total"] == 12 and stream["stopped_early"]
    rows = written.metadata()
    assert set(rows["class_name"]) == set(load_split(f"npz:{out}", "train").class_names)


def test_real_cifar10_penultimate_extraction(real_base_model, real_cifar_root, tmp_path):
    out = tmp_path / "acts"
    assert extract_activations.main(["--weights", str(real_base_model), "--data-root",
                                     str(real_cifar_root), "--num-samples", "500",
                                     "--out-dir", str(out), "--name", "real"]) == 0
    written = ActivationSet.open("real", out)
    rows = written.metadata()
    assert written.layers == ["classifier.5"]
    assert written.activations("classifier.5").shape == (500, 4096)
    assert rows["class_id"].value_counts().to_dict() == dict.fromkeys(range(10), 50)
    assert rows["correct"].mean() > 0.6  # the base model's test accuracy is about 0.77
    assert isinstance(rows, pd.DataFrame)
