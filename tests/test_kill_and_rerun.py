"""A script SIGKILLed between (or during) the writes of a file pair reruns cleanly, no --force.

The kill point is exact: ``tests/kill_at.py`` kills the process just before the chosen file is
renamed into place, so each test reproduces one state a real ``kill -9`` can leave.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from editset_helpers.io import load_edit_set
from model_classes.checkpoints import load_checkpoint
from tests.conftest import PROJECT_ROOT


def run(*command: str, kill_before: str | None = None) -> subprocess.CompletedProcess:
    prefix = [sys.executable, "tests/kill_at.py", kill_before] if kill_before else [sys.executable]
    return subprocess.run([*prefix, *command], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)


def leftovers(folder) -> list[str]:
    """Hidden files of ours: temporaries and pending-pair markers."""
    return sorted(p.name for p in folder.rglob(".*") if p.is_file())


def test_editset_generator_killed_between_its_two_writes_reruns_without_force(
        tiny_model_path, tiny_cifar_root, tmp_path):
    args = ["editset_generator.py", "misclassified", "--weights", str(tiny_model_path),
            "--data-root", str(tiny_cifar_root), "--output-dir", str(tmp_path)]
    killed = run(*args, kill_before="_edit_metadata.json")
    assert killed.returncode == -signal.SIGKILL
    pt_path = tmp_path / "misclassified_edit_dataset.pt"
    json_path = tmp_path / "misclassified_edit_metadata.json"
    assert pt_path.exists() and not json_path.exists()  # the state a kill leaves
    again = run(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(json_path.read_text())["num_samples"] == len(load_edit_set(pt_path))
    assert leftovers(tmp_path) == []
    refused = run(*args)  # a complete pair is the user's again: --force needed
    assert refused.returncode == 2 and "--force" in refused.stderr


def test_run_repair_killed_during_its_save_reruns_without_force(
        tiny_model_path, tiny_cifar_root, tmp_path, kill_before=".pth"):
    args = ["run_repair.py", "misclassified", "--weights", str(tiny_model_path),
            "--data-root", str(tiny_cifar_root), "--edit-sets-dir", str(tmp_path / "sets"),
            "--margin", "1.0", "--reference-size", "300",
            "--output", str(tmp_path / "out" / "a.pth")]
    killed = run(*args, kill_before=kill_before)
    assert killed.returncode == -signal.SIGKILL
    out = tmp_path / "out"
    assert not (out / "a_report.json").exists()
    assert (out / "a.pth").exists() == (kill_before == "_report.json")
    assert any(name.endswith(".tmp") for name in leftovers(out))  # what the kill left
    again = run(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    report = json.loads((out / "a_report.json").read_text())
    assert report["verified"] and report["repaired_model_path"] == str(out / "a.pth")
    load_checkpoint(out / "a.pth")
    assert leftovers(out) == []  # stale temporary and marker removed
