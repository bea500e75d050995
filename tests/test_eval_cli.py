"""eval.py: the printed and JSON numbers agree with a direct computation on the tiny model."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

import eval as eval_script
from editset_helpers.io import save_edit_set
from tests.conftest import PROJECT_ROOT
from tests.edit_set_factory import edit_set_from


@pytest.fixture
def evaluate(tiny_cifar_root, tiny_model_path, capsys):
    def run(*args: str) -> tuple[int, str, str]:
        code = eval_script.run_main(eval_script.main, [
            "--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root), *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_prints_overall_per_class_and_confusion(evaluate, tiny):
    split, predicted = tiny
    code, out, _ = evaluate()
    assert code == 0
    correct = int((predicted == split.labels).sum())
    assert f"test: {100 * correct / 200:.2f}% ({correct} of 200 images)" in out
    cats = split.labels == 3
    cat_accuracy = float((predicted[cats] == 3).float().mean())
    assert re.search(rf"^\s+3 cat\s+{100 * cat_accuracy:.2f}%\s+{int(cats.sum())}$", out, re.M)
    assert "confusion matrix (rows: true class, columns: predicted class)" in out
    cat_row = next(line for line in out.splitlines()[-10:] if re.match(r"\s+3 cat\s", line))
    counts = [int(v) for v in cat_row.split()[2:]]
    assert counts == torch.bincount(predicted[cats], minlength=10).tolist()


def test_edit_set_and_json_report(evaluate, tiny, tmp_path):
    split, predicted = tiny
    wrong = torch.nonzero(predicted != split.labels).flatten().tolist()
    edit_path = tmp_path / "wrong_edit_dataset.pt"
    save_edit_set(edit_set_from(split, wrong, predicted=predicted), edit_path)
    report_path = tmp_path / "reports" / "eval.json"

    code, out, _ = evaluate("--edit-set", str(edit_path), "--json", str(report_path))
    assert code == 0
    assert f"edit set: 0.00% (0 of {len(wrong)} images)" in out
    n_keep = 200 - len(wrong)
    assert f"drawdown: 100.00% ({n_keep} of {n_keep} images) [test minus {len(wrong)}" in out

    report = json.loads(report_path.read_text())
    assert report["format"] == "alexnet-repair-evaluation/1"
    assert report["test"]["correct"] == n_keep and report["test"]["images"] == 200
    assert report["edit"] == {**report["edit"], "images": len(wrong), "correct": 0,
                              "accuracy": 0.0}
    assert report["drawdown"]["images"] == n_keep and report["drawdown"]["accuracy"] == 1.0
    assert report["edit_set"]["drawdown_excluded_images"] == len(wrong)
    assert report["model"]["architecture"] == "small_mlp"
    assert "--edit-set" in report["command"] and report["created"]


def test_json_is_not_overwritten_without_force(evaluate, tmp_path):
    report_path = tmp_path / "eval.json"
    report_path.write_text("mine")
    code, out, err = evaluate("--json", str(report_path))
    assert code == 2 and out == "" and "already exists; pass --force" in err
    assert report_path.read_text() == "mine"
    assert evaluate("--json", str(report_path), "--force")[0] == 0
    assert json.loads(report_path.read_text())["test"]["images"] == 200


def test_script_runs_as_a_subprocess(tiny_cifar_root, tiny_model_path, tmp_path):
    report_path = tmp_path / "sub.json"
    result = subprocess.run(
        [sys.executable, "eval.py", "--weights", str(tiny_model_path), "--data-root",
         str(tiny_cifar_root), "--json", str(report_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "test: " in result.stdout and "confusion matrix" in result.stdout
    assert json.loads(report_path.read_text())["test"]["images"] == 200
