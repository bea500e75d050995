"""Data quality on tiny data with planted errors: cleanlab wiring, the duplicate search, the
prediction checks, label overrides and exclusions reaching eval.py and the edit-set generators.

Each finder is checked against something it does not compute itself: planted label flips and
planted copies that must be found, a brute-force cosine search for faiss, the textbook ECE sum,
and eval.py's accuracy recomputed from a plain forward pass.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import eval as eval_script
import find_label_issues
import find_near_duplicates
import run_error_detection
import validate_predictions
from data_quality.duplicates import pairs_across, pairs_within
from data_quality.embeddings import EmbeddingContext, embed_sets
from data_quality.flagged import FlaggedImages
from data_quality.label_issues import (
    combine_with_influence,
    rank_by_given_probability,
    rank_label_issues,
    read_influence,
)
from data_quality.planted import TRANSFORMS
from data_quality.probabilities import cross_validated_probe
from data_quality.reports import read_report
from data_quality.validation import reliability_bins
from data_quality.validation import validate_predictions as validate
from helpers.datasets import load_split
from helpers.errors import UserError
from helpers.label_overrides import LabelOverrides
from tests.data_factory import CLASS_NAMES

PLANTED = 12


def _read_batch(path: Path) -> dict:
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")


def _write_batch(path: Path, batch: dict) -> None:
    with open(path, "wb") as handle:
        pickle.dump(batch, handle)


def _copy_root(source: Path, target: Path) -> Path:
    shutil.copytree(source / "cifar-10-batches-py", target / "cifar-10-batches-py")
    return target


@pytest.fixture(scope="module")
def tiny_probs(tiny_cifar_root, tiny_loaded):
    split = load_split("cifar10", "test", data_root=tiny_cifar_root, download=False)
    with torch.no_grad():
        probs = torch.softmax(tiny_loaded.model(split.unit_images()).double(), 1).numpy()
    return split, probs


@pytest.fixture(scope="module")
def noisy_root(tiny_cifar_root, tiny_probs, tmp_path_factory):
    """The tiny data with PLANTED test labels flipped, on images the model gets right with the
    highest confidence (a flip there is what a real mislabelling looks like to the model)."""
    split, probs = tiny_probs
    labels = split.labels.numpy()
    right = np.flatnonzero(probs.argmax(1) == labels)
    chosen = right[np.argsort(-probs[right].max(1), kind="stable")][:PLANTED]
    root = _copy_root(tiny_cifar_root, tmp_path_factory.mktemp("noisy"))
    batch = _read_batch(root / "cifar-10-batches-py" / "test_batch")
    new_labels = list(batch["labels"])
    for i in chosen:
        new_labels[i] = (new_labels[i] + 1 + int(i) % 9) % 10
    batch["labels"] = new_labels
    _write_batch(root / "cifar-10-batches-py" / "test_batch", batch)
    return root, sorted(int(i) for i in chosen)


# ----------------------------------------------------------------------------- label issues


def test_cleanlab_finds_the_planted_label_errors(noisy_root, tiny_model_path, tmp_path, capsys):
    root, planted = noisy_root
    out = tmp_path / "issues.json"
    assert find_label_issues.main(["--weights", str(tiny_model_path), "--data-root", str(root),
                                   "--output", str(out)]) == 0
    report = read_report(out, kind="label_issues", dataset="cifar10")
    flagged = [e["index"] for e in report["errors"]]
    assert set(planted) <= set(flagged)
    # the planted flips are the most suspicious of all (confident images, wrong labels)
    assert set(flagged[:PLANTED]) == set(planted)
    first = report["errors"][0]
    assert first["given_class"] == CLASS_NAMES[first["given_label"]]
    assert first["suggested_class"] == CLASS_NAMES[first["suggested_label"]]
    assert report["summary"]["images_analysed"] == 200
    assert report["summary"]["issues_found"] == len(flagged)
    assert sum(c["issues"] for c in report["summary"]["per_class"].values()) == len(flagged)
    assert report["method"]["probabilities"] == "model"
    assert "label issues in cifar10/test" in capsys.readouterr().out


def test_quality_scores_are_the_given_label_probability(tiny_probs):
    """cleanlab's self_confidence is p(given label): the library agrees with the baseline."""
    split, probs = tiny_probs
    labels = split.labels.numpy()
    ranking = rank_label_issues(labels, probs)
    baseline = rank_by_given_probability(labels, probs)
    np.testing.assert_allclose(ranking.quality, probs[np.arange(len(labels)), labels])
    assert ranking.order.tolist() == baseline.order.tolist()
    assert set(ranking.issues) <= set(np.flatnonzero(probs.argmax(1) != labels))


def test_influence_reorders_the_flagged_images_only(tiny_probs):
    split, probs = tiny_probs
    labels = split.labels.numpy().copy()
    labels[:10] = (labels[:10] + 1) % 10
    ranking = rank_label_issues(labels, probs)
    influence = np.zeros(len(labels))
    last = ranking.issues[-1]
    influence[last] = 100.0  # the least suspicious issue has by far the highest influence
    combined = combine_with_influence(ranking, influence, weight=0.9)
    assert sorted(combined.issues.tolist()) == sorted(ranking.issues.tolist())
    assert combined.issues[0] == last
    assert combine_with_influence(ranking, influence, weight=0.0).issues.tolist() == \
        ranking.issues.tolist()


def test_the_probe_flags_planted_flips_in_the_training_split(tiny_cifar_root, tiny_model_path,
                                                              tmp_path):
    """--split train uses the cross-validated probe; flips planted in training are found."""
    root = _copy_root(tiny_cifar_root, tmp_path / "root")
    batch_file = root / "cifar-10-batches-py" / "data_batch_1"
    batch = _read_batch(batch_file)
    planted = list(range(0, 60, 6))
    batch["labels"] = [(y + 5) % 10 if i in planted else y for i, y in enumerate(batch["labels"])]
    _write_batch(batch_file, batch)
    out = tmp_path / "train.json"
    assert find_label_issues.main(["--weights", str(tiny_model_path), "--data-root", str(root),
                                   "--split", "train", "--folds", "3", "--layer", "relu1",
                                   "--output", str(out)]) == 0
    report = read_report(out)
    assert report["method"]["probabilities"] == "probe"
    assert report["method"]["folds"] == 3
    found = {e["index"] for e in report["errors"]}
    assert len(found & set(planted)) >= 8, (sorted(found), planted)


def test_probe_probabilities_are_held_out():
    """A point whose label contradicts its cluster gets a low p(label): it was held out."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 6, size=(3, 8))
    labels = np.repeat(np.arange(3), 40)
    features = centres[labels] + rng.normal(0, 1, size=(120, 8))
    noisy = labels.copy()
    noisy[[0, 50, 100]] = [1, 2, 0]
    probs = cross_validated_probe(features, noisy, 3, folds=4, pca_dim=None, progress=False)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert all(probs[i, noisy[i]] < 0.2 for i in (0, 50, 100))
    with pytest.raises(UserError, match="fewer than --folds"):
        cross_validated_probe(features[:5], noisy[:5], 3, folds=4, progress=False)


def test_influence_files_are_read_loosely_and_checked(tmp_path):
    path = tmp_path / "self.npz"
    np.savez(path, indices=np.array([3, 1]), self_influence=np.array([2.0, 5.0]),
             split=np.array(["test"]))
    scores, info = read_influence(path, num_images=5, dataset="cifar10", split="test")
    assert np.isnan(scores[[0, 2, 4]]).all() and scores[1] == 5.0 and scores[3] == 2.0
    assert info["key"] == "self_influence"
    with pytest.raises(UserError, match="split 'test', not 'train'"):
        read_influence(path, num_images=5, dataset="cifar10", split="train")
    np.savez(path, indices=np.array([9]), self_influence=np.array([1.0]))
    with pytest.raises(UserError, match="outside the split"):
        read_influence(path, num_images=5, dataset="cifar10", split="test")


# ------------------------------------------------------------------------------- duplicates


def test_faiss_search_equals_brute_force():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 16)).astype(np.float32)
    b = rng.normal(size=(70, 16)).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    across = pairs_across(a, b, k=1, progress=False)
    cosine = a @ b.T
    assert sorted(zip(across.a.tolist(), across.b.tolist(), strict=True)) == \
        [(i, int(cosine[i].argmax())) for i in range(40)]
    np.testing.assert_allclose(np.sort(across.similarity), np.sort(cosine.max(1)), atol=1e-5)
    within = pairs_within(a, k=1, progress=False)
    self_cos = a @ a.T
    np.fill_diagonal(self_cos, -np.inf)
    best = {tuple(sorted((i, int(self_cos[i].argmax())))) for i in range(40)}
    assert set(zip(within.a.tolist(), within.b.tolist(), strict=True)) == best
    assert (np.diff(within.similarity) <= 1e-7).all()  # most similar first


@pytest.mark.parametrize(("embedding", "finds"), [
    ("pixels", {"jitter", "jpeg"}),
    ("thumbnail", {"flip", "jitter", "jpeg"}),
    ("spectrum", {"flip", "shift", "jitter", "jpeg"}),
])
def test_planted_copies_are_found_with_their_transformation(tiny_cifar_root, embedding, finds):
    """Copies of 8 test images per transformation hidden among 300 training images: each
    transformation the embedding is built to survive puts the copy first for most originals."""
    split = load_split("cifar10", "test", data_root=tiny_cifar_root, download=False)
    train = load_split("cifar10", "train", data_root=tiny_cifar_root, download=False)
    rng = np.random.default_rng(0)
    originals = rng.choice(len(split), 32, replace=False)
    kinds = ["flip", "shift", "jitter", "jpeg"] * 8
    copies = np.stack([TRANSFORMS[k](split.images[i].numpy(), rng)
                       for i, k in zip(originals, kinds, strict=True)])
    pool = torch.cat([train.images, torch.from_numpy(copies)])
    queries, reference = embed_sets(embedding, [split.images[torch.as_tensor(originals)], pool],
                                    EmbeddingContext(progress=False))
    pairs = pairs_across(queries, reference, k=1, progress=False)
    top1 = dict(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True))
    for kind in finds:
        rows = [q for q, k in enumerate(kinds) if k == kind]
        hits = sum(top1[q] == len(train) + q for q in rows)
        assert hits >= 7, f"{embedding} found {hits}/8 {kind} copies"


def test_near_duplicates_report_lists_leaked_copies(tiny_cifar_root, tmp_path, capsys):
    """Exact copies of test images put into the training batches are reported, with both keys
    and whether the labels agree (one copy is given another label)."""
    root = _copy_root(tiny_cifar_root, tmp_path / "root")
    test = _read_batch(root / "cifar-10-batches-py" / "test_batch")
    batch_file = root / "cifar-10-batches-py" / "data_batch_2"
    batch = _read_batch(batch_file)
    data = np.array(batch["data"])
    labels = list(batch["labels"])
    for slot, source in ((5, 17), (9, 101), (33, 150)):
        data[slot] = test["data"][source]
        labels[slot] = test["labels"][source]
    labels[33] = (labels[33] + 1) % 10
    batch["data"], batch["labels"] = data, labels
    _write_batch(batch_file, batch)
    out = tmp_path / "dups.json"
    assert find_near_duplicates.main(["--data-root", str(root), "--embedding", "pixels",
                                      "--threshold", "0.999", "--output", str(out)]) == 0
    report = read_report(out, kind="near_duplicates")
    leaked = {(p["a"]["index"], p["b"]["index"]): p for p in report["similar_pairs"]
              if p["relation"] == "test vs train"}
    assert set(leaked) == {(17, 65), (101, 69), (150, 93)}  # batch 2 starts at index 60
    assert [leaked[k]["labels_agree"] for k in sorted(leaked)] == [True, True, False]
    assert report["summary"]["labels_disagree"] >= 1
    assert report["summary"]["threshold"] == 0.999
    assert "test vs train: 3" in capsys.readouterr().out


# ----------------------------------------------------------------------- prediction checks


def test_ece_is_the_textbook_sum():
    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.5, 1.0, size=500)  # the top probability of two classes
    correct = rng.uniform(size=500) < confidence ** 2
    bins = reliability_bins(confidence, correct, 10)
    assert sum(b["count"] for b in bins) == 500
    expected = 0.0
    for b in range(10):
        lower, upper = b / 10, (b + 1) / 10
        member = (confidence > lower) & (confidence <= upper)
        if member.any():
            expected += member.mean() * abs(correct[member].mean() - confidence[member].mean())
    probs = np.zeros((500, 2))
    probs[:, 0], probs[:, 1] = confidence, 1 - confidence  # class 0 predicted when conf > .5
    labels = np.where(correct, probs.argmax(1), 1 - probs.argmax(1))
    report = validate(labels, probs, ["a", "b"], bins=10, dataset="d", split="s")
    assert report["summary"]["expected_calibration_error"] == pytest.approx(expected)
    assert report["summary"]["accuracy"] == pytest.approx(correct.mean())


def test_validate_predictions_counts_misses_and_false_predictions(tiny_probs, tiny_model_path,
                                                                  tiny_cifar_root, tmp_path):
    split, probs = tiny_probs
    labels, predicted = split.labels.numpy(), probs.argmax(1)
    out = tmp_path / "v.json"
    assert validate_predictions.main(["--weights", str(tiny_model_path), "--data-root",
                                      str(tiny_cifar_root), "--output", str(out)]) == 0
    report = read_report(out, kind="prediction_validation")
    for row in report["per_class"]:
        c = row["label"]
        assert row["misses"] == int(((labels == c) & (predicted != c)).sum())
        assert row["false_predictions"] == int(((labels != c) & (predicted == c)).sum())
    assert report["summary"]["accuracy"] == pytest.approx((labels == predicted).mean())
    assert Path(report["reliability_diagram"]).stat().st_size > 5000


def test_run_error_detection_writes_three_reports_under_one_stamp(tiny_model_path,
                                                                  tiny_cifar_root, tmp_path):
    out = tmp_path / "dq"
    argv = ["--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root),
            "--output-dir", str(out), "--embedding", "pixels"]
    assert run_error_detection.main(argv) == 0
    names = sorted(p.name for p in out.glob("*.json"))
    assert [n.split("_report_")[0] for n in names] == ["label_issues", "near_duplicates",
                                                       "prediction_validation"]
    assert len({n.split("_report_")[1] for n in names}) == 1
    for path in out.glob("*.json"):
        report = read_report(path)
        assert report["model"]["sha256"] and report["label_overrides"] is None


# ------------------------------------------------------------------ overrides and exclusions


def _override_file(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"decisions": rows}))
    return path


def test_label_overrides_change_what_eval_reports(tiny_model_path, tiny_cifar_root,
                                                  tiny_probs, tmp_path):
    """Relabelling 20 correctly predicted images lowers eval.py's accuracy by exactly 20
    images, and the JSON names the file in force."""
    split, probs = tiny_probs
    labels, predicted = split.labels.numpy(), probs.argmax(1)
    right = np.flatnonzero(predicted == labels)[:20]
    rows = [{"dataset": "cifar10", "split": "test", "image_idx": int(i), "decision": "relabel",
             "new_class": CLASS_NAMES[(labels[i] + 1) % 10]} for i in right]
    rows.append({"dataset": "cifar10", "split": "test", "image_idx": 0, "decision": "ignored"})
    overrides = _override_file(tmp_path / "decisions.json", rows)
    common = ["--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root)]
    assert eval_script.main([*common, "--json", str(tmp_path / "before.json")]) == 0
    assert eval_script.main([*common, "--json", str(tmp_path / "after.json"),
                             "--label-overrides", str(overrides)]) == 0
    before = json.loads((tmp_path / "before.json").read_text())
    after = json.loads((tmp_path / "after.json").read_text())
    assert before["test"]["correct"] == int((predicted == labels).sum())
    assert after["test"]["correct"] == before["test"]["correct"] - 20
    assert before["label_overrides"] is None
    assert after["label_overrides"]["applied"] == 20
    assert after["label_overrides"]["changed"] == 20


def test_label_override_mistakes_are_named(tiny_cifar_root, tmp_path):
    def load(rows):
        return load_split("cifar10", "test", data_root=tiny_cifar_root, download=False,
                          label_overrides=_override_file(tmp_path / "o.json", rows))

    row = {"dataset": "cifar10", "split": "test", "image_idx": 3, "decision": "relabel"}
    with pytest.raises(UserError, match="unknown class 'kitten'"):
        load([{**row, "new_class": "kitten"}])
    with pytest.raises(UserError, match="for data set imagefolder:x, not cifar10"):
        load([{**row, "dataset": "imagefolder:x", "new_class": "cat"}])
    with pytest.raises(UserError, match="outside cifar10/test"):
        load([{**row, "image_idx": 9999, "new_class": "cat"}])
    with pytest.raises(UserError, match="relabelled twice"):
        load([{**row, "new_class": "cat"}, {**row, "new_class": "dog"}])
    csv_file = tmp_path / "o.csv"
    csv_file.write_text("dataset,split,image_idx,decision,new_class\n"
                        "cifar10,test,3,relabel,cat\ncifar10,train,4,relabel,dog\n")
    split = load_split("cifar10", "test", data_root=tiny_cifar_root, download=False,
                       label_overrides=csv_file)
    assert int(split.labels[3]) == 3 and split.record(3).true_class == "cat"
    assert LabelOverrides.read(csv_file).sha256 == split.label_overrides["sha256"]


def test_exclude_flagged_keeps_flagged_images_out_of_an_edit_set(tiny_model_path,
                                                                 tiny_cifar_root, tmp_path):
    import editset_generator
    from editset_helpers.io import load_edit_set

    common = ["misclassified", "--weights", str(tiny_model_path), "--data-root",
              str(tiny_cifar_root)]
    assert editset_generator.main([*common, "--output", str(tmp_path / "all_edit_dataset.pt")]) \
        == 0
    everything = load_edit_set(tmp_path / "all_edit_dataset.pt")
    wrong = [r["image_idx"] for r in everything.metadata]
    flagged = wrong[::2]
    rows = [{"dataset": "cifar10", "split": "test", "image_idx": i, "decision": "fixed"}
            for i in flagged]
    rows.append({"dataset": "cifar10", "split": "test", "image_idx": wrong[1],
                 "decision": "ignored"})  # judged fine: stays
    decisions = _override_file(tmp_path / "decisions.json", rows)
    assert editset_generator.main([*common, "--output", str(tmp_path / "kept_edit_dataset.pt"),
                                   "--exclude-flagged", str(decisions)]) == 0
    kept = load_edit_set(tmp_path / "kept_edit_dataset.pt")
    assert [r["image_idx"] for r in kept.metadata] == [i for i in wrong if i not in flagged]
    assert kept.info["excluded_flagged"]["excluded"] == len(flagged)
    assert FlaggedImages.read(decisions).indices_for("cifar10", "test", 200) == set(flagged)


def test_flagged_reports_name_their_data_set(tmp_path, tiny_model_path, tiny_cifar_root):
    out = tmp_path / "issues.json"
    find_label_issues.main(["--weights", str(tiny_model_path), "--data-root",
                            str(tiny_cifar_root), "--output", str(out)])
    report = json.loads(out.read_text())
    report["dataset"] = "npz:/elsewhere"
    for row in report["errors"]:
        row["dataset"] = "npz:/elsewhere"
    report["errors"].append({**(report["errors"] or [{}])[0], "dataset": "npz:/elsewhere",
                             "split": "test", "index": 1})
    out.write_text(json.dumps(report))
    with pytest.raises(UserError, match="not cifar10"):
        FlaggedImages.read(out).indices_for("cifar10", "test", 200)
    with pytest.raises(UserError, match="report for data set 'npz:/elsewhere', not 'cifar10'"):
        read_report(out, dataset="cifar10")


def test_experiment_ids_are_unchanged_without_the_new_options():
    from edits.experiments.grid import TrialConfig

    base = dict(repair_set_type="misclassified", requested_size=10, target_class=None,
                sizing="flexible", weights="w.pth")
    plain = TrialConfig(**base)
    assert "label_overrides" not in json.dumps(plain.identity())
    moved = TrialConfig(**base, label_overrides="a/decisions.json", exclude_flagged="b.json")
    assert moved.experiment_id == plain.experiment_id  # paths alone are locations
    changed = TrialConfig(**base, label_overrides="a.json", label_overrides_sha256="ab")
    assert changed.experiment_id != plain.experiment_id


def _parsers(parser):
    """A parser and, for subcommand scripts, each subcommand's parser."""
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_script_that_loads_images_takes_label_overrides():
    """A script with --data-root reads images; it must take the corrected labels too (and
    the edit-set makers and the sweep also --exclude-flagged)."""
    import importlib

    from tests.conftest import PROJECT_ROOT

    takes_data = set()
    for path in sorted(PROJECT_ROOT.glob("*.py")):
        module = importlib.import_module(path.stem)
        # the visualizer's and the influence figures' --data-root only finds the pixels of
        # images the reports name; the labels they show are the reports' own (an influence
        # result records the labels compute_tracin_influence.py used, overrides included)
        pixels_only = {"edit_set_visualizer", "visualize_influence", "visualize_test_influence",
                       "generate_tracin_report"}
        if not hasattr(module, "build_parser") or path.stem in pixels_only:
            continue
        for parser in _parsers(module.build_parser()):
            flags = {f for a in parser._actions for f in a.option_strings}
            if "--data-root" in flags:
                takes_data.add(path.stem)
                assert "--label-overrides" in flags, (path.name, parser.prog)
            if path.stem in ("editset_generator", "experiment_runner") and \
                    "--data-root" in flags:
                assert "--exclude-flagged" in flags, (path.name, parser.prog)
    assert {"train", "eval", "run_repair", "editset_generator", "find_label_issues",
            "quickstart", "extract_activations"} <= takes_data


@pytest.mark.parametrize("script", ["find_label_issues", "find_near_duplicates",
                                    "validate_predictions", "run_error_detection"])
def test_each_data_quality_option_has_one_flag_with_its_default(script):
    """Options are declared once (data_quality/options.py): each script has exactly one flag
    per field of the groups it takes, with the field's default."""
    import dataclasses
    import importlib

    from data_quality.options import GROUPS
    from helpers.cli import field_default, flag_of

    parser = importlib.import_module(script).build_parser()
    groups = {"find_label_issues": ["common", "label_issues"],
              "find_near_duplicates": ["common", "near_duplicates"],
              "validate_predictions": ["common", "prediction_validation"]}.get(script, GROUPS)
    for group in groups:
        for field in dataclasses.fields(GROUPS[group]):
            actions = [a for a in parser._actions if a.dest == field.name]
            assert len(actions) == 1, (script, field.name)
            assert actions[0].option_strings == [flag_of(field)]
            assert actions[0].default == field_default(field), (script, field.name)
