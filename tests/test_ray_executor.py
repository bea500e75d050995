"""The sweep on a real local Ray instance (2 CPUs, no mocks): same rows, retries, no data folder.

One Ray instance serves the whole module (starting one takes seconds). Its workers start in an
empty folder, the driver in another that holds ``data/`` (a link to the tiny data) and the
model, and every path the sweep is given is relative: a worker that reached for the driver's
files would not find them, as on another node of a cluster.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

ray = pytest.importorskip("ray", reason="Ray is in the dev dependency group; run `uv sync`")

from edits.experiments.columns import COLUMNS  # noqa: E402
from edits.experiments.csv_log import ResultLog  # noqa: E402
from edits.experiments.grid import TrialConfig, expand_grid  # noqa: E402
from edits.experiments.ray_executor import RayExecutor, connect  # noqa: E402
from edits.experiments.remote import RemoteResult, RemoteTrial, compute_remote_trial  # noqa: E402
from edits.experiments.sweep import run_sweep  # noqa: E402
from experiment_runner import main  # noqa: E402
from helpers.datasets import load_split  # noqa: E402
from helpers.inference import predict_labels  # noqa: E402
from model_classes.checkpoints import load_checkpoint  # noqa: E402

GRID = ["--repair-set-sizes", "5", "10",
        "--repair-set-types", "misclassified", "class_homogeneous_incorrect",
        "--target-classes", "3"]
TIMING = ["timestamp", "repair_runtime_seconds", "lp_build_seconds", "lp_solve_seconds",
          "reference_seconds"]
PATHS = ["edit_set_path", "repaired_model_path"]

# The workers cannot import this test module (only the project's packages travel with the job),
# so Ray sends its functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    """A local Ray instance with 2 CPUs whose workers start in an empty folder."""
    workers_cwd = tmp_path_factory.mktemp("ray_workers_cwd")
    if ray.is_initialized():
        ray.shutdown()
    assert connect(num_cpus=2, object_store_memory=128 << 20, working_dir=workers_cwd)
    yield workers_cwd
    ray.shutdown()


@pytest.fixture(scope="module")
def driver_dir(tiny_model_path, tiny_cifar_root, tmp_path_factory) -> Path:
    """The driver's folder: ``data/`` and ``model.pth`` are here and nowhere a worker looks."""
    folder = tmp_path_factory.mktemp("driver")
    (folder / "data").symlink_to(tiny_cifar_root)
    (folder / "model.pth").symlink_to(tiny_model_path)
    return folder


def sweep_args(out: str, *extra: str) -> list[str]:
    """Relative paths only: they mean something in the driver's folder and nothing elsewhere."""
    return ["--weights", "model.pth", "--data-root", "data", "--reference-size", "100",
            "--margin", "1.0", "--output-file", f"{out}/rows.csv",
            "--edit-sets-dir", f"{out}/edit_sets", "--models-dir", f"{out}/models",
            "--no-progress", *extra]


def read_rows(csv: Path) -> pd.DataFrame:
    return pd.read_csv(csv).sort_values("experiment_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def both_sweeps(ray_instance, driver_dir) -> Path:
    """The 2 x 2 sweep run twice from the driver's folder: serially, and on Ray."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(driver_dir)
        assert main(sweep_args("local", *GRID)) == 0
        assert main(sweep_args("ray", *GRID, "--executor", "ray")) == 0
    return driver_dir


def test_ray_gives_the_same_rows_as_the_local_executor(both_sweeps):
    local, remote = (read_rows(both_sweeps / out / "rows.csv") for out in ("local", "ray"))
    assert len(remote) == 4 and remote["experiment_id"].is_unique
    assert remote["repair_successful"].all(), remote["error_message"].tolist()
    for column in PATHS:  # other folders, same file names
        assert (local[column].map(lambda p: Path(p).name)
                == remote[column].map(lambda p: Path(p).name)).all()
        assert remote[column].str.startswith("ray/").all()  # written by the driver, here
    pd.testing.assert_frame_equal(local.drop(columns=TIMING + PATHS),
                                  remote.drop(columns=TIMING + PATHS))


def test_the_driver_writes_the_models_the_workers_computed(both_sweeps):
    test_split = load_split("cifar10", "test", data_root=both_sweeps / "data")
    for row in read_rows(both_sweeps / "ray" / "rows.csv").itertuples():
        repaired = load_checkpoint(both_sweeps / row.repaired_model_path)
        with torch.inference_mode():
            predicted = predict_labels(repaired.model, test_split.images)
        accuracy = float((predicted == test_split.labels).double().mean())
        assert accuracy == pytest.approx(row.repaired_accuracy_test_set)
        assert repaired.metadata.extra["repair"]["edit_set"] == row.edit_set_path
        assert (both_sweeps / row.edit_set_path).is_file()


def test_workers_had_no_access_to_the_drivers_data_folder(both_sweeps, ray_instance):
    @ray.remote
    def where_am_i() -> tuple[str, list[str], bool, bool]:
        return (os.getcwd(), sorted(os.listdir(".")), Path("data").exists(),
                Path("model.pth").exists())

    cwd, listing, has_data, has_model = ray.get(where_am_i.remote())
    assert Path(cwd).resolve() != both_sweeps.resolve()
    assert listing == [] and not has_data and not has_model  # and nothing written there


def die_on_first_attempt(trial: RemoteTrial, *, marker_dir: str) -> object:
    """The worker process running a trial's first attempt is killed (exits at once)."""
    marker = Path(marker_dir) / trial.config.experiment_id
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
    return compute_remote_trial(trial)


def test_a_task_whose_worker_dies_is_retried_and_gives_one_row(
        ray_instance, tiny_model_path, tiny_cifar_root, tmp_path):
    template = TrialConfig(repair_set_type="misclassified", requested_size=1, target_class=None,
                           sizing="flexible", param_bound=5.0, margin=1.0,
                           weights=str(tiny_model_path), data_root=str(tiny_cifar_root),
                           reference_size=100, edit_sets_dir=str(tmp_path / "edit_sets"),
                           models_dir=None)
    configs = expand_grid(template, set_types=["misclassified"], sizes=[4, 6, 8],
                          target_classes=[], param_bounds=[5.0], margins=[1.0])
    markers = tmp_path / "markers"
    markers.mkdir()
    flaky = functools.partial(die_on_first_attempt, marker_dir=str(markers))

    with ResultLog(tmp_path / "rows.csv", COLUMNS) as results:
        summary = run_sweep(configs, results, RayExecutor(), remote_trial=flaky, progress=False)
    assert summary.complete and summary.written == 3, summary.crashed
    assert sorted(p.name for p in markers.iterdir()) == sorted(c.experiment_id for c in configs)
    for marker in markers.iterdir():  # every first attempt's worker really died
        assert not Path(f"/proc/{marker.read_text()}").exists()
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert sorted(rows["experiment_id"]) == sorted(c.experiment_id for c in configs)
    assert rows["repair_successful"].all()

    # Out of retries: no row, counted as crashed; the next run fills it in, once.
    (last,) = expand_grid(template, set_types=["misclassified"], sizes=[3], target_classes=[],
                          param_bounds=[5.0], margins=[1.0])
    with ResultLog(tmp_path / "rows.csv", COLUMNS) as results:
        summary = run_sweep([*configs, last], results, RayExecutor(max_retries=0),
                            remote_trial=flaky, progress=False)
    assert summary.already_done == 3 and summary.written == 0 and len(summary.crashed) == 1
    with ResultLog(tmp_path / "rows.csv", COLUMNS) as results:
        summary = run_sweep([*configs, last], results, RayExecutor(max_retries=0),
                            remote_trial=flaky, progress=False)
    assert summary.complete and summary.written == 1
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert len(rows) == 4 and rows["experiment_id"].is_unique


def test_ray_address_needs_the_ray_executor(capsys):
    from helpers.cli import run_main

    assert run_main(main, ["--executor", "process", "--workers", "2", "--ray-address",
                           "auto"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--ray-address applies to --executor ray" in err


def slow_unless_smallest(trial: RemoteTrial, *, marker_dir: str, smallest: int) -> RemoteResult:
    """The smallest configuration finishes at once; the others take long enough to be cancelled,
    and leave a marker only if they ran to the end."""
    import time

    if trial.config.requested_size != smallest:
        time.sleep(8)
    result = compute_remote_trial(trial)
    (Path(marker_dir) / trial.config.experiment_id).write_text("finished")
    return result


class InterruptAfterFirstRow(ResultLog):
    """Ctrl-C reaching the driver right after the first row is written."""

    def append(self, row) -> None:
        super().append(row)
        raise KeyboardInterrupt


def test_ctrl_c_cancels_the_tasks_in_flight_and_leaves_the_csv_whole(
        ray_instance, tiny_model_path, tiny_cifar_root, tmp_path):
    import time

    template = TrialConfig(repair_set_type="misclassified", requested_size=1, target_class=None,
                           sizing="flexible", param_bound=5.0, margin=1.0,
                           weights=str(tiny_model_path), data_root=str(tiny_cifar_root),
                           reference_size=100, edit_sets_dir=str(tmp_path / "edit_sets"),
                           models_dir=None)
    configs = expand_grid(template, set_types=["misclassified"], sizes=[3, 5, 7, 9],
                          target_classes=[], param_bounds=[5.0], margins=[1.0])
    markers = tmp_path / "markers"
    markers.mkdir()
    slow = functools.partial(slow_unless_smallest, marker_dir=str(markers), smallest=3)

    with pytest.raises(KeyboardInterrupt), InterruptAfterFirstRow(tmp_path / "rows.csv",
                                                                  COLUMNS) as results:
        run_sweep(configs, results, RayExecutor(), remote_trial=slow, progress=False)
    time.sleep(10)  # longer than a slow task: a task that was not cancelled would finish now
    (first,) = [c for c in configs if c.requested_size == 3]
    assert [p.name for p in markers.iterdir()] == [first.experiment_id]
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert rows["experiment_id"].tolist() == [first.experiment_id]
    assert rows.notna()["repair_successful"].all()

    # The next run does the rest, each once.
    with ResultLog(tmp_path / "rows.csv", COLUMNS) as results:
        summary = run_sweep(configs, results, RayExecutor(), progress=False)
    assert summary.already_done == 1 and summary.written == 3 and summary.complete
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert sorted(rows["experiment_id"]) == sorted(c.experiment_id for c in configs)
