"""The seed's script names and argument forms still work, over the same code."""

from __future__ import annotations

import subprocess
import sys

import generate_closest_repairset
import generate_confident_wrong_repairset
from editset_helpers.io import load_edit_set
from helpers.cli import run_main
from tests.conftest import PROJECT_ROOT
from tests.test_specialized_cli import expected_closest, expected_confident_wrong


def _common(tiny_model_path, tiny_cifar_root, folder):
    return ["--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root),
            "--output-dir", str(folder)]


def test_confident_wrong_script_takes_threshold_and_max_samples(
        tiny_model_path, tiny_cifar_root, tmp_path, capsys):
    from editset_helpers.generation import Source

    predictions = Source.load(tiny_model_path, data_root=tiny_cifar_root).predictions
    expected = expected_confident_wrong(predictions.labels, predictions.probabilities, 0.3)
    assert len(expected) > 2
    code = run_main(generate_confident_wrong_repairset.main,
                    ["0.3", "2", *_common(tiny_model_path, tiny_cifar_root, tmp_path)])
    assert code == 0, capsys.readouterr().err
    edit_set = load_edit_set(tmp_path / "confident_wrong_0.30_edit_dataset.pt")
    assert [m["image_idx"] for m in edit_set.metadata] == expected[:2]


def test_closest_script_takes_its_three_positionals(tiny_model_path, tiny_cifar_root, tmp_path,
                                                    capsys):
    from editset_helpers.generation import Source

    predictions = Source.load(tiny_model_path, data_root=tiny_cifar_root).predictions
    expected = expected_closest(predictions.labels, predictions.probabilities, 0.05, 0.5)
    assert expected
    code = run_main(generate_closest_repairset.main,
                    ["0.05", "0.5", "-1", *_common(tiny_model_path, tiny_cifar_root, tmp_path)])
    assert code == 0, capsys.readouterr().err
    edit_set = load_edit_set(tmp_path / "closest_0.05_0.50_edit_dataset.pt")
    assert [m["image_idx"] for m in edit_set.metadata] == expected


def test_seed_scripts_run_as_subprocesses_and_refuse_bad_input_in_one_line(
        tiny_model_path, tiny_cifar_root, tmp_path):
    for script, argv in (("generate_confident_wrong_repairset.py", ["0.3", "1", "--dry-run"]),
                         ("generate_closest_repairset.py", ["0.1", "0.3", "nan"])):
        done = subprocess.run([sys.executable, script, *argv,
                               *_common(tiny_model_path, tiny_cifar_root, tmp_path)],
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
        if "nan" in argv:
            assert done.returncode == 2 and done.stderr.startswith("error: ")
            assert done.stderr.count("\n") == 1, done.stderr
        else:
            assert done.returncode == 0, done.stderr
            assert "dry run: nothing written" in done.stdout


def test_target_classes_take_the_seed_comma_list(tiny, tiny_model_path, tiny_cifar_root,
                                                 tmp_path, capsys):
    import editset_generator

    split, predicted = tiny
    wrong_classes = sorted(set(split.labels[predicted != split.labels].tolist()))
    assert len(wrong_classes) >= 2  # a comma list of at least two ids
    code = run_main(editset_generator.main, [
        "misclassified", "--per-class", "1",
        "--target-classes", ",".join(map(str, wrong_classes)),
        "--output", str(tmp_path / "wrong_edit_dataset.pt"),
        "--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root)])
    assert code == 0, capsys.readouterr().err
    labels = sorted(m["true_label"] for m in load_edit_set(
        tmp_path / "wrong_edit_dataset.pt").metadata)
    assert labels == wrong_classes  # one image of each listed class
