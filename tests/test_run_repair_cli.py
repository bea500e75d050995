"""run_repair.py as users type it: exit codes 0 / 1 / 2, outputs, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import run_repair
from helpers.cli import run_main
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def base_args(tiny_model_path, tiny_cifar_root, tmp_path) -> list[str]:
    return ["--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root),
            "--edit-sets-dir", str(tmp_path / "sets"), "--margin", "1.0",
            "--reference-size", "300", "--output", str(tmp_path / "repaired.pth")]


def test_misclassified_mode_generates_the_set_repairs_and_reports(base_args, tmp_path, capsys):
    assert run_main(run_repair.main, ["misclassified", *base_args]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "drawdown" in out and "repair time" in out
    assert (tmp_path / "sets" / "misclassified_edit_dataset.pt").exists()
    report = json.loads((tmp_path / "repaired_report.json").read_text())
    assert report["verified"] and report["accuracy_after"]["edit"] == 1.0
    assert report["edit_set"]["name"] == "misclassified"


def test_an_existing_output_needs_force(base_args, capsys):
    assert run_main(run_repair.main, ["misclassified", *base_args]) == 0
    capsys.readouterr()
    assert run_main(run_repair.main, ["misclassified", *base_args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--force" in err and len(err.splitlines()) == 1
    assert run_main(run_repair.main, ["misclassified", *base_args, "--force"]) == 0


def test_by_class_with_an_unknown_class_is_a_user_error(base_args, capsys):
    assert run_main(run_repair.main, ["by-class", "--target-class", "12", *base_args]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown class 12" in err and "airplane" in err and len(err.splitlines()) == 1


def test_by_class_repairs_the_standard_class_file(base_args, tmp_path):
    assert run_main(run_repair.main, ["by-class", "--target-class", "3", *base_args]) == 0
    assert (tmp_path / "sets" / "class_3_cat_edit_dataset.pt").exists()


def test_an_infeasible_repair_exits_1_with_a_hint(base_args, capsys, tmp_path):
    code = run_main(run_repair.main, ["misclassified", *base_args, "--param-bound", "1e-4",
                            "--geometry", "parameters", "--norm", "linf"])
    assert code == 1
    assert "--param-bound" in capsys.readouterr().err
    assert not (tmp_path / "repaired.pth").exists()
    report = json.loads((tmp_path / "repaired_report.json").read_text())
    assert report["status"] == "infeasible" and report["verified"] is False


def test_a_missing_edit_set_file_is_a_user_error(base_args, capsys, tmp_path):
    assert run_main(run_repair.main, ["--edit-set", str(tmp_path / "nope.pt"), *base_args]) == 2
    assert "nope.pt not found" in capsys.readouterr().err


def test_the_script_runs_as_a_subprocess(base_args):
    ok = subprocess.run([sys.executable, "run_repair.py", "misclassified", *base_args],
                        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "repaired model:" in ok.stdout and "Traceback" not in ok.stderr


def test_an_edit_set_of_another_image_shape_is_refused_before_solving(base_args, tmp_path,
                                                                      capsys, tiny_cifar_root):
    import torch

    from helpers.datasets import load_split
    from tests.edit_set_factory import edit_set_from

    split = load_split("cifar10", "test", data_root=tiny_cifar_root)
    edit_set = edit_set_from(split, range(4))
    edit_set.images = torch.nn.functional.interpolate(edit_set.images, size=(16, 16))
    path = tmp_path / "small_edit_dataset.pt"
    torch.save({"images": edit_set.images, "labels": edit_set.labels,
                "metadata": edit_set.metadata}, path)
    assert run_main(run_repair.main, ["--edit-set", str(path), *base_args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "3x16x16" in err and "3x32x32" in err
    assert not (tmp_path / "repaired.pth").exists()
    assert not (tmp_path / "repaired_report.json").exists()


def test_a_dual_qp_too_large_for_memory_is_one_line_before_solving(base_args, tmp_path, capsys,
                                                                   monkeypatch):
    """The memory guard: one line, exit 2, the size needed and what would fit; no solve ran."""
    import sytorch.solvers.piqp_backend as piqp_backend

    def no_solve(*_args, **_kwargs):
        raise AssertionError("the guard must answer before any solve")

    monkeypatch.setattr(piqp_backend.PiqpBackend, "_solve_qp", no_solve)
    monkeypatch.setenv("ALEXNET_REPAIR_MEMORY_BYTES", "1000")
    assert run_main(run_repair.main, ["misclassified", *base_args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()  # progress bars, then the verdict
    err = lines[-1]
    assert err.startswith("error: the l2 objective's dual QP") and "Traceback" not in lines
    assert sum(line.startswith("error:") for line in lines) == 1
    assert "GB of memory" in err and "fewer images" in err
    assert not (tmp_path / "repaired.pth").exists()
