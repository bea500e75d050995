"""Edit sets of a shift, generalisation accuracy everywhere it is reported, and the baseline.

Everything runs on the tiny data and model: real corruptions, real repairs (HiGHS), real
forward passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from edits.experiments.columns import COLUMNS, LEGACY_COLUMNS
from edits.experiments.grid import TrialConfig
from edits.finetune import finetune
from edits.generalisation import GeneralisationSet
from edits.head import head_logits, layer_inputs
from edits.layer_choice import choose_layer
from editset_helpers.corrupted import GENERALISATION_KEY, check_disjoint, split_halves
from editset_helpers.io import load_edit_set
from helpers.cli import run_main
from helpers.corruptions import corrupted_split
from helpers.datasets import load_split
from helpers.errors import UserError
from helpers.inference import predict_logits
from model_classes.checkpoints import load_checkpoint

NEW_COLUMNS = ["corruption", "severity", "generalisation_set_size",
               "baseline_accuracy_generalisation_set", "repaired_accuracy_generalisation_set",
               "generalisation_gain"]


def test_halves_are_disjoint_cover_the_split_and_follow_the_seed():
    first, second = split_halves(101, seed=4)
    assert len(first) == 50 and len(second) == 51
    assert set(first.tolist()).isdisjoint(second.tolist())
    assert sorted(first.tolist() + second.tolist()) == list(range(101))
    assert torch.equal(split_halves(101, seed=4)[0], first)
    assert not torch.equal(split_halves(101, seed=5)[0], first)


@pytest.fixture(scope="module")
def fog_set(tiny_model_path, tiny_cifar_root, tmp_path_factory) -> Path:
    from editset_generator import main

    out = tmp_path_factory.mktemp("fog_sets")
    assert main(["corrupted", "--corruption", "fog", "--severity", "3", "--weights",
                 str(tiny_model_path), "--data-root", str(tiny_cifar_root), "--output-dir",
                 str(out)]) == 0
    return out / "corrupted_fog3_edit_dataset.pt"


def test_corrupted_edit_set_is_disjoint_from_its_generalisation_set(fog_set, tiny_cifar_root,
                                                                     tiny_model_path):
    edit_set = load_edit_set(fog_set)
    record = edit_set.info[GENERALISATION_KEY]
    held = set(record["image_idx"])
    edit = set(edit_set.image_indices)
    first, second = split_halves(200, seed=0)
    assert edit and edit <= set(first.tolist())
    assert held == set(second.tolist()) and edit.isdisjoint(held)
    assert record["corruption"] == "fog" and record["severity"] == 3
    # The images are the corrupted ones, the records say so, and they really are wrong.
    clean = load_split("cifar10", "test", data_root=tiny_cifar_root, download=False)
    foggy = corrupted_split(clean, "fog", 3)
    index = torch.as_tensor(edit_set.image_indices)
    assert torch.equal(edit_set.images, foggy.unit_images(index))
    assert all(r["corruption"] == "fog" and r["severity"] == 3 for r in edit_set.metadata)
    model = load_checkpoint(tiny_model_path).model
    assert (predict_logits(model, edit_set.images).argmax(1) != edit_set.labels).all()


def test_other_types_accept_a_corruption(tiny_model_path, tiny_cifar_root, tmp_path):
    from editset_generator import main

    assert main(["by-class", "--target-class", "3", "--corruption", "contrast", "--weights",
                 str(tiny_model_path), "--data-root", str(tiny_cifar_root), "--output-dir",
                 str(tmp_path)]) == 0
    edit_set = load_edit_set(tmp_path / "class_3_cat_contrast3_edit_dataset.pt")
    held = set(edit_set.info[GENERALISATION_KEY]["image_idx"])
    assert held.isdisjoint(edit_set.image_indices)
    assert {int(y) for y in edit_set.labels} == {3}


def test_an_overlapping_generalisation_set_is_refused(fog_set):
    edit_set = load_edit_set(fog_set)
    record = dict(edit_set.info[GENERALISATION_KEY])
    record["image_idx"] = [*record["image_idx"], edit_set.image_indices[0]]
    with pytest.raises(UserError, match="also in the generalisation set"):
        check_disjoint(edit_set.metadata, record)
    edit_set.info[GENERALISATION_KEY] = record
    with pytest.raises(UserError):
        GeneralisationSet.from_edit_set(edit_set)


def test_report_generalisation_equals_eval(fog_set, tiny_model_path, tiny_cifar_root, tmp_path,
                                           capsys):
    from eval import main as eval_main
    from run_repair import main as repair_main

    repaired = tmp_path / "repaired.pth"
    assert repair_main(["--edit-set", str(fog_set), "--weights", str(tiny_model_path),
                        "--data-root", str(tiny_cifar_root), "--reference-size", "100",
                        "--margin", "1", "--output", str(repaired)]) == 0
    assert "generalisation-set accuracy (100 held-out fog-3 images)" in capsys.readouterr().out
    report = json.loads((tmp_path / "repaired_report.json").read_text())
    shift = report["generalisation"]
    assert shift["images"] == 100 and shift["corruption"] == "fog"
    evaluated = tmp_path / "eval.json"
    for weights, key in ((repaired, "accuracy_after"), (tiny_model_path, "accuracy_before")):
        assert eval_main(["--weights", str(weights), "--edit-set", str(fog_set), "--data-root",
                          str(tiny_cifar_root), "--json", str(evaluated), "--force"]) == 0
        assert json.loads(evaluated.read_text())["generalisation"]["accuracy"] == shift[key]
    assert shift["gain_points"] == pytest.approx(
        100 * (shift["accuracy_after"] - shift["accuracy_before"]))


def test_finetune_fixes_the_edit_images_and_leaves_the_model(fog_set, tiny_model_path):
    model = load_checkpoint(tiny_model_path).model
    original = {k: v.clone() for k, v in model.state_dict().items()}
    edit_set = load_edit_set(fog_set)
    result = finetune(model, edit_set.images, edit_set.labels)
    assert result.all_correct and result.steps > 0
    assert (predict_logits(result.model, edit_set.images).argmax(1) == edit_set.labels).all()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in original.items())
    changed = [k for k, v in result.model.state_dict().items() if not torch.equal(v, original[k])]
    assert changed and all(k.startswith(result.layer) for k in changed)


def test_head_logits_equal_a_forward_pass(tiny, tiny_model_path):
    split, _ = tiny
    model = load_checkpoint(tiny_model_path).model
    layer = choose_layer(model, "last")
    inputs = layer_inputs(model, layer, split.images)
    torch.testing.assert_close(head_logits(model, layer, inputs),
                               predict_logits(model, split.images), rtol=1e-5, atol=1e-5)


def test_clean_trial_ids_are_unchanged_by_the_new_fields():
    clean = dict(repair_set_type="misclassified", requested_size=10, target_class=None,
                 sizing="flexible", param_bound=5.0, margin=2.0, weights="w.pth")
    config = TrialConfig(**clean)
    assert "corruption" not in config.identity() and "severity" not in config.identity()
    shifted = TrialConfig(**clean, corruption="fog", severity=3)
    assert shifted.experiment_id != config.experiment_id


def test_sweep_with_a_corruption_writes_the_new_columns(tiny_model_path, tiny_cifar_root,
                                                        tmp_path):
    from experiment_runner import main

    assert COLUMNS[:22] == LEGACY_COLUMNS and len(LEGACY_COLUMNS) == 22
    assert list(COLUMNS[-len(NEW_COLUMNS):]) == NEW_COLUMNS
    out = tmp_path / "rows.csv"
    assert main(["--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root),
                 "--reference-size", "100", "--margin", "1.0", "--output-file", str(out),
                 "--edit-sets-dir", str(tmp_path / "sets"), "--no-save-models", "--no-progress",
                 "--repair-set-types", "misclassified", "--repair-set-sizes", "10",
                 "--corruption", "fog", "--severity", "3"]) == 0
    rows = pd.read_csv(out)
    assert list(rows.columns) == list(COLUMNS)
    row = rows.iloc[0]
    assert row["repair_successful"] and row["corruption"] == "fog" and row["severity"] == 3
    assert row["generalisation_set_size"] == 100
    assert row["generalisation_gain"] == pytest.approx(
        100 * (row["repaired_accuracy_generalisation_set"]
               - row["baseline_accuracy_generalisation_set"]))
    assert "fog3" in row["edit_set_path"]


def test_sweep_rejects_a_bad_severity(tiny_model_path, tmp_path, capsys):
    from experiment_runner import main

    code = run_main(main, ["--weights", str(tiny_model_path), "--corruption", "fog",
                           "--severity", "7", "--output-file", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_a_study_runs_each_fine_tuning_baseline_under_its_own_key():
    import argparse

    from benchmarks.bench_generalisation import finetune_method, finetune_spec
    from edits.finetune import FinetuneConfig
    from edits.generalisation_report import method_label
    from edits.generalisation_study import StudyPlan

    assert finetune_spec("sgd:0.01") == ("sgd", 0.01)
    for bad in ("sgd", "rmsprop:0.1", "sgd:-1", "adam:nan"):
        with pytest.raises(argparse.ArgumentTypeError):
            finetune_spec(bad)
    methods = {finetune_method(o, r): FinetuneConfig(optimizer=o, learning_rate=r)
               for o, r in (("adam", 1e-3), ("sgd", 0.01))}
    assert list(methods) == ["finetune", "finetune-sgd-0.01"]  # the first study's keys resume
    plan = StudyPlan(["fog"], [50], [2.0], finetunes=methods)
    assert [t[2] for t in plan.trials()] == ["repair", "finetune", "finetune-sgd-0.01"]
    assert method_label({"method": "finetune-sgd-0.01", "optimizer": "sgd",
                         "learning_rate": 0.01}) == "fine-tuning (SGD, lr 0.01)"
    assert method_label({"method": "finetune"}) == "fine-tuning (Adam, lr 0.001)"
