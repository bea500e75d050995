"""The quick start end to end on tiny data: every step runs, and a second run reuses them."""

from __future__ import annotations

import json

import pytest

from edits.config import RepairConfig
from edits.quickstart import QuickstartSettings, run_quickstart, summary
from helpers.cli import run_main
from quickstart import build_parser, main


def test_quickstart_runs_every_step_then_resumes(tiny_cifar_root, tmp_path):
    folder = tmp_path / "quick"
    # The tiny data has 300 training images for AlexNet's 4,097 last-layer inputs: a degenerate
    # output geometry whose raw changes are huge, so the parameter bound is left out here.
    settings = QuickstartSettings(data_root=tiny_cifar_root, folder=folder,
                                  base_model=tmp_path / "absent.pth", epochs=1, edit_set_size=10,
                                  train_subset=None,
                                  repair=RepairConfig(param_bound=None, reference_size=300))
    report = run_quickstart(settings)
    table = summary(report)
    assert "drawdown-set accuracy" in table and "repair time" in table
    for name in ("alexnet_quick.pth", "misclassified_edit_dataset.pt", "alexnet_repaired.pth",
                 "repair_report.json", "checkpoints/quick/epoch_001.pt", "training_plan.json"):
        assert (folder / name).exists(), name
    assert report["verified"] and report["edit_set"]["images"] == 10
    assert report["repair"]["layer"] == "classifier.6"
    assert json.loads((folder / "repair_report.json").read_text())["verified"]
    stamp = (folder / "alexnet_repaired.pth").stat().st_mtime_ns
    assert summary(run_quickstart(settings)) == table  # everything is there: nothing is redone
    assert (folder / "alexnet_repaired.pth").stat().st_mtime_ns == stamp


def test_the_script_reports_a_missing_data_root_in_one_line(tmp_path, capsys, monkeypatch):
    import edits.quickstart as quick

    monkeypatch.setattr(quick, "OFFLINE_BUILDER", tmp_path / "no_builder.py")
    monkeypatch.setattr("torchvision.datasets.CIFAR10", _refuse_download)
    code = run_main(main, ["--data-root", str(tmp_path / "nowhere"), "--folder",
                           str(tmp_path / "q")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and "--data-root" in err
    assert len(err.splitlines()) == 1


def _refuse_download(*_args, **_kwargs):
    raise RuntimeError("no network")


def test_help_has_examples():
    assert "uv run python quickstart.py" in build_parser().format_help()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
