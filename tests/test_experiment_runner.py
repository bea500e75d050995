"""experiment_runner.py end to end on the tiny model: rows, failures, resume, workers, plots.

Every repair here is real (the tiny MLP, HiGHS, a forward-pass verification); the sweeps are
small so each test takes seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import torch

from edits.experiments.columns import COLUMNS, LEGACY_COLUMNS
from edits.experiments.grid import TrialConfig, expand_grid
from experiment_runner import main
from helpers.cli import run_main
from helpers.datasets import load_split
from helpers.inference import predict_labels
from model_classes.checkpoints import load_checkpoint
from sytorch.solvers import gurobi_unrestricted
from tests.conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "experiment_runner.py"
GRID = ["--repair-set-sizes", "5", "10",
        "--repair-set-types", "misclassified", "class_homogeneous_incorrect",
        "--target-classes", "3"]
TIMING = ["timestamp", "repair_runtime_seconds", "lp_build_seconds", "lp_solve_seconds",
          "reference_seconds"]
PATHS = ["edit_set_path", "repaired_model_path"]


def sweep_args(model: Path, data_root: Path, out: Path, *extra: str) -> list[str]:
    """A sweep on the tiny data: small reference sample, margin 1, all outputs under ``out``."""
    return ["--weights", str(model), "--data-root", str(data_root), "--reference-size", "100",
            "--margin", "1.0", "--output-file", str(out / "rows.csv"),
            "--edit-sets-dir", str(out / "edit_sets"), "--models-dir", str(out / "models"),
            "--no-progress", *extra]


def read_rows(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "rows.csv", keep_default_na=True)


@pytest.fixture(scope="module")
def sweep(tiny_model_path, tiny_cifar_root, tmp_path_factory) -> Path:
    """The 2 x 2 sweep (two types x two sizes, class 3), run once with one worker."""
    out = tmp_path_factory.mktemp("sweep")
    assert main(sweep_args(tiny_model_path, tiny_cifar_root, out, *GRID)) == 0
    return out


@pytest.fixture(scope="module")
def failures(tiny_model_path, tiny_cifar_root, tmp_path_factory) -> Path:
    """A sweep where most configurations cannot be repaired, each for another reason."""
    out = tmp_path_factory.mktemp("failures")
    args = sweep_args(tiny_model_path, tiny_cifar_root, out,
                      "--repair-set-types", "misclassified", "confident_wrong",
                      "--repair-set-sizes", "5", "150", "--param-bound", "5", "1e-4",
                      "--geometry", "parameters", "--norm", "linf",
                      "--edit-set-sizing-strategy", "strict")
    assert main(args) == 0  # failed repairs are rows: the sweep itself completed
    return out


def test_two_by_two_sweep_writes_the_expected_rows(sweep, tiny_model_path, tiny_cifar_root):
    header = (sweep / "rows.csv").read_text().splitlines()[0].split(",")
    assert header == list(COLUMNS)
    assert header[:len(LEGACY_COLUMNS)] == list(LEGACY_COLUMNS)
    rows = read_rows(sweep)
    template = TrialConfig(repair_set_type="misclassified", requested_size=1, target_class=None,
                           sizing="flexible", param_bound=5.0, margin=1.0,
                           weights=str(tiny_model_path), reference_size=100)
    expected = expand_grid(template, set_types=["misclassified", "class_homogeneous_incorrect"],
                           sizes=[5, 10], target_classes=[3], param_bounds=[5.0],
                           margins=[1.0])
    assert sorted(rows["experiment_id"]) == sorted(c.experiment_id for c in expected)
    assert rows["repair_successful"].all(), rows["error_message"].tolist()
    assert (rows["actual_repair_set_size"] == rows["requested_repair_set_size"]).all()
    assert rows["error_message"].isna().all() and rows["gurobi_barrier_iterations"].isna().all()
    assert set(rows["repair_set_focus"]) == {"incorrect_only"}  # the seed runner's value
    assert rows.set_index("repair_set_type")["target_class"].drop("misclassified").eq(3).all()
    default_qp_solver = "gurobi" if gurobi_unrestricted() else "piqp"  # --solver auto
    assert (rows["solver"] == default_qp_solver).all()
    assert (rows["solver_status"] == "optimal").all()
    assert (rows["layer"] == "fc3").all()  # "last" resolved to the MLP's last layer
    assert (rows["baseline_accuracy_edit_set"] == 0).all()  # sets of wrong images
    assert (rows["repaired_accuracy_edit_set"] == 1).all()
    assert (rows["delta_linf"] <= 5.0 + 1e-6).all()
    points = 100 * (rows["baseline_accuracy_drawdown_set"] - rows["repaired_accuracy_drawdown_set"])
    assert rows["drawdown"].to_numpy() == pytest.approx(points.to_numpy())

    # The row's accuracy is the saved checkpoint's: evaluate the file independently.
    test_split = load_split("cifar10", "test", data_root=tiny_cifar_root)
    for row in rows.itertuples():
        repaired = load_checkpoint(row.repaired_model_path)
        with torch.inference_mode():
            predicted = predict_labels(repaired.model, test_split.images)
        accuracy = float((predicted == test_split.labels).double().mean())
        assert accuracy == pytest.approx(row.repaired_accuracy_test_set)
        assert Path(row.edit_set_path).is_file()


def test_rerun_skips_finished_rows(sweep, tiny_model_path, tiny_cifar_root, capsys):
    before = (sweep / "rows.csv").read_bytes()
    assert main(sweep_args(tiny_model_path, tiny_cifar_root, sweep, *GRID)) == 0
    assert (sweep / "rows.csv").read_bytes() == before
    assert "4 configurations: 4 already done, 0 run now" in capsys.readouterr().out


def test_failed_repairs_become_rows_with_a_reason(failures):
    rows = read_rows(failures)
    assert len(rows) == 8 and rows["experiment_id"].is_unique
    status = rows.groupby(["repair_set_type", "requested_repair_set_size",
                           "param_bound"])["repair_status"].first()
    assert status[("misclassified", 5, 5.0)] == "repaired"
    assert status[("misclassified", 5, 1e-4)] == "infeasible"
    assert set(status[("misclassified", 150)]) == {"size_shortfall"}
    assert set(status["confident_wrong"]) == {"empty_edit_set"}  # the MLP is never that sure
    failed = rows[rows["repair_status"] != "repaired"]
    assert not failed["repair_successful"].any()
    assert failed["error_message"].str.len().gt(10).all()
    assert failed["repaired_model_path"].isna().all()
    assert (failed[failed["repair_status"] == "empty_edit_set"]["actual_repair_set_size"]
            == 0).all()
    shortfall = failed[failed["repair_status"] == "size_shortfall"]
    assert (shortfall["actual_repair_set_size"] < 150).all()
    assert shortfall["error_message"].str.contains("strict sizing").all()
    assert len(list((failures / "models").glob("*.pth"))) == 1  # only the verified repair


def test_two_workers_give_the_same_rows_as_one(sweep, tiny_model_path, tiny_cifar_root,
                                               tmp_path):
    assert main(sweep_args(tiny_model_path, tiny_cifar_root, tmp_path, *GRID,
                           "--workers", "2")) == 0
    serial, parallel = (read_rows(out).sort_values("experiment_id").reset_index(drop=True)
                        for out in (sweep, tmp_path))
    for column in PATHS:  # other folders, same files
        assert (serial[column].map(lambda p: Path(p).name)
                == parallel[column].map(lambda p: Path(p).name)).all()
    pd.testing.assert_frame_equal(serial.drop(columns=TIMING + PATHS),
                                  parallel.drop(columns=TIMING + PATHS))


def test_a_killed_sweep_resumes_without_losing_or_duplicating_rows(
        tiny_model_path, tiny_cifar_root, tmp_path):
    sizes = [str(n) for n in range(1, 13)]
    args = sweep_args(tiny_model_path, tiny_cifar_root, tmp_path, "--repair-set-sizes", *sizes,
                      "--repair-set-types", "misclassified", "class_homogeneous_incorrect",
                      "--target-classes", "3", "--no-save-models")
    csv_path = tmp_path / "rows.csv"
    with open(tmp_path / "stdout", "wb") as stdout, open(tmp_path / "stderr", "wb") as stderr:
        process = subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=PROJECT_ROOT,
                                   env=os.environ.copy(), stdout=stdout, stderr=stderr)
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            if csv_path.exists() and csv_path.read_bytes().count(b"\n") >= 2:
                break  # the header and the first row
            time.sleep(0.01)
        still_running = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert still_running, (tmp_path / "stderr").read_text()[-2000:]
    killed = csv_path.read_text()
    finished_lines = killed[:killed.rindex("\n") + 1].splitlines()
    assert 2 <= len(finished_lines) < 25  # some rows, not all 24

    assert main(args) == 0
    lines = csv_path.read_text().splitlines()
    assert lines[:len(finished_lines)] == finished_lines  # nothing rewritten
    rows = read_rows(tmp_path)
    assert len(rows) == 24 and rows["experiment_id"].is_unique
    assert rows["repair_successful"].all()


def test_a_lone_metadata_file_left_by_a_kill_does_not_block_the_set(
        tiny_model_path, tiny_cifar_root, tmp_path):
    """A kill between the edit set's JSON and its .pt leaves the JSON alone: the resumed
    trial makes the set again instead of failing on "already exists"."""
    args = sweep_args(tiny_model_path, tiny_cifar_root, tmp_path, "--repair-set-sizes", "4",
                      "--repair-set-types", "misclassified", "--no-save-models")
    assert main(args) == 0
    (edit_set,) = (tmp_path / "edit_sets").rglob("*_edit_dataset.pt")
    edit_set.unlink()  # as if killed after the JSON was written
    (tmp_path / "rows.csv").unlink()
    assert main(args) == 0
    rows = read_rows(tmp_path)
    assert len(rows) == 1 and rows["repair_successful"].all(), rows["error_message"].tolist()
    assert edit_set.exists()


def test_plot_writes_figures_and_a_summary(failures, sweep, tmp_path, capsys):
    combined = tmp_path / "combined.csv"
    pd.concat([read_rows(sweep), read_rows(failures)]).to_csv(combined, index=False)
    out = tmp_path / "plots"
    assert main(["plot", str(combined), "--output-dir", str(out)]) == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == ["experiment_accuracy.png", "experiment_drawdown.png",
                                      "experiment_runtime.png", "experiment_success_rate.png"]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width, _ = matplotlib.image.imread(png).shape
        assert height > 300 and width > 500
    summary = pd.read_csv(out / "experiment_summary.csv")
    assert set(summary["repair_set_type"]) == {"misclassified", "class_homogeneous_incorrect",
                                               "confident_wrong"}
    assert summary["configurations"].sum() == 12
    markdown = (out / "experiment_summary.md").read_text()
    header = [cell.strip() for cell in markdown.splitlines()[0].strip("|").split("|")]
    assert header[0] == "repair_set_type" and "configurations" in header
    assert "confident_wrong" in markdown
    capsys.readouterr()

    assert run_main(main, ["plot", str(combined), "--output-dir", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["plot", str(combined), "--output-dir", str(out), "--force"]) == 0


def test_user_mistakes_are_one_line_errors(tiny_model_path, tiny_cifar_root, tmp_path, capsys):
    def error_of(*argv: str) -> str:
        assert run_main(main, list(argv)) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err
        return err

    base = sweep_args(tiny_model_path, tiny_cifar_root, tmp_path, "--repair-set-sizes", "5")
    assert "unknown class 12" in error_of(*base, "--repair-set-types",
                                          "class_homogeneous_correct", "--target-classes", "12")
    missing = ["--weights", str(tmp_path / "none.pth"), *base[2:]]
    assert "none.pth not found" in error_of(*missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    assert "not a readable model weights file" in error_of(
        "--weights", str(garbage), *base[2:], "--repair-set-types", "misclassified")
    assert (tmp_path / "rows.csv").read_text().count("\n") == 1  # no row for a broken model

    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    assert "other columns" in error_of(*base, "--output-file", str(foreign))
    assert foreign.read_text() == "a,b\n1,2\n"
    assert "not found" in error_of("plot", str(tmp_path / "nothing.csv"))
    assert "lacks the columns" in error_of("plot", str(foreign))
