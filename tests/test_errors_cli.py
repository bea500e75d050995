"""Every user mistake ends in one line, ``error: ...``, exit code 2, and no traceback."""

from __future__ import annotations

import subprocess
import sys
import urllib.error

import pytest
import torch
import torchvision

import editset_generator
import eval as eval_script
from tests.conftest import PROJECT_ROOT


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    # What a terminal shows: a progress bar cleared with "\r" leaves nothing behind.
    lines = [line.split("\r")[-1] for line in err.split("\n")]
    lines = [line for line in lines if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def paths(tiny_cifar_root, tiny_model_path, tmp_path):
    bad_edit_set = tmp_path / "bad_edit_dataset.pt"
    bad_edit_set.write_text("this is not a tensor file")
    wrong_labels = tmp_path / "labels_edit_dataset.pt"
    torch.save({"images": torch.rand(1, 3, 32, 32), "labels": torch.tensor([12]),
                "metadata": [{"image_idx": 0}]}, wrong_labels)
    existing = tmp_path / "existing.json"
    existing.write_text("{}")
    out_dir = tmp_path / "sets"
    out_dir.mkdir()
    (out_dir / "misclassified_edit_dataset.pt").write_bytes(b"a user's file")
    return {"data": str(tiny_cifar_root), "weights": str(tiny_model_path),
            "absent": str(tmp_path / "absent.pth"), "bad_edit_set": str(bad_edit_set),
            "wrong_labels": str(wrong_labels), "existing": str(existing),
            "out_dir": str(out_dir), "empty": str(tmp_path / "empty_root")}


CASES = {
    "eval: missing weights": (eval_script, ["--weights", "{absent}", "--data-root", "{data}"],
                              ["absent.pth not found", "--weights"]),
    "eval: missing data": (eval_script, ["--weights", "{weights}", "--data-root", "{empty}"],
                           ["CIFAR-10 not found", "--data-root"]),
    "eval: missing image folder": (eval_script, ["--weights", "{weights}", "--dataset",
                                                 "imagefolder:{empty}"], ["is not a folder"]),
    "eval: bad edit-set file": (eval_script, ["--weights", "{weights}", "--data-root", "{data}",
                                              "--edit-set", "{bad_edit_set}"],
                                ["not a readable edit set"]),
    "eval: edit-set labels beyond the classes": (
        eval_script, ["--weights", "{weights}", "--data-root", "{data}", "--edit-set",
                      "{wrong_labels}"], ["label 12 is outside the 10 classes"]),
    "eval: existing json": (eval_script, ["--weights", "{weights}", "--data-root", "{data}",
                                          "--json", "{existing}"], ["--force"]),
    "eval: bad batch size": (eval_script, ["--batch-size", "0"], ["--batch-size"]),
    "generator: unknown class": (editset_generator,
                                 ["by-class", "--target-class", "12", "--weights", "{weights}",
                                  "--data-root", "{data}", "--output-dir", "{out_dir}"],
                                 ["unknown class 12", "0 airplane", "9 truck"]),
    "generator: unknown balance class": (
        editset_generator, ["misclassified", "--per-class", "1", "--target-classes", "3", "12",
                            "--weights", "{weights}", "--data-root", "{data}", "--output",
                            "{out_dir}/other_edit_dataset.pt"], ["unknown class id(s) [12]"]),
    "generator: existing output": (editset_generator,
                                   ["misclassified", "--weights", "{weights}", "--data-root",
                                    "{data}", "--output-dir", "{out_dir}"],
                                   ["misclassified_edit_dataset.pt already exists", "--force"]),
    "generator: missing weights": (editset_generator,
                                   ["misclassified", "--weights", "{absent}", "--data-root",
                                    "{data}"], ["not found"]),
    "generator: bad max-samples": (editset_generator,
                                   ["misclassified", "--max-samples", "0", "--weights",
                                    "{weights}", "--data-root", "{data}"], ["--max-samples"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_errors_in_process(case, paths, capsys, monkeypatch):
    def offline(*args, **kwargs):  # the "missing data" case must not wait for a network
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    script, argv, fragments = CASES[case]
    code = script.run_main(script.main, [arg.format(**paths) for arg in argv])
    out, err = capsys.readouterr()
    assert_one_line_error(code, err, *fragments)
    assert out == ""
    with open(paths["out_dir"] + "/misclassified_edit_dataset.pt", "rb") as handle:
        assert handle.read() == b"a user's file"  # never overwritten


@pytest.mark.parametrize("case", ["eval: missing weights", "eval: bad edit-set file"])
def test_user_errors_as_subprocess(case, paths):
    script, argv, fragments = CASES[case]
    result = subprocess.run([sys.executable, f"{script.__name__}.py",
                             *[arg.format(**paths) for arg in argv]],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert_one_line_error(result.returncode, result.stderr, *fragments)
