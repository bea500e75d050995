"""Every script over a table of bad inputs: exit 2, one ``error:`` line, no traceback, nothing
written.

Each case is one value a hostile or careless user can type or hand over (NaN, infinity, 0,
negative, huge, a superscript digit, a folder, a file where a folder belongs, a folder the
file system refuses, a damaged checkpoint or edit set). Cases run in process through
``run_main`` for speed; a few run as subprocesses to prove the entry points behave the same.

"Read-only folder" as root: ``os.access`` and permission bits do not stop root, so the
read-only case makes a folder immutable with ``chattr +i`` (refused even to root on ext4 and
similar); where ``chattr`` is unavailable that case skips and says so. The "parent is a file"
cases work everywhere.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from editset_helpers.io import EditSet, save_edit_set
from helpers.cli import run_main
from model_classes.checkpoints import load_checkpoint
from tests.conftest import PROJECT_ROOT

# (id, script, argv). Placeholders: {model} tiny model, {data} tiny CIFAR root, {set} a good
# edit set, {nanset} NaN pixels, {emptyset} no images, {idxset} image_idx "seven",
# {strmeta} / {negmeta} / {sizemeta} checkpoints with odd metadata, {file} a regular file,
# {ro} an immutable folder, {out} a fresh output folder; data quality: {badclass} an override
# file naming an unknown class, {otheroverride} / {otherreport} an override file and a
# label-issues report of another data set, {trainnpz} influence scores of the train split,
# {corruptdb} a damaged decision database (which must stay as it was).
RUN = ["--weights", "{model}", "--data-root", "{data}", "--reference-size", "50"]
DQ = ["--weights", "{model}", "--data-root", "{data}", "--output-dir", "{out}"]
TRACIN = ["--data-root", "{data}", "--cache-dir", "{out}/cache", "--checkpoint-dir"]
CASES = [
    # run_repair.py: numbers
    ("repair-eps-nan", "run_repair", ["--edit-set", "{set}", *RUN, "--eps", "nan"]),
    ("repair-eps-inf", "run_repair", ["--edit-set", "{set}", *RUN, "--eps", "inf"]),
    ("repair-eps-zero", "run_repair", ["--edit-set", "{set}", *RUN, "--eps", "0"]),
    ("repair-margin-neg", "run_repair", ["--edit-set", "{set}", *RUN, "--margin", "-1"]),
    ("repair-time-nan", "run_repair", ["--edit-set", "{set}", *RUN, "--time-limit", "nan"]),
    ("repair-neurons-sup", "run_repair", ["--edit-set", "{set}", *RUN, "--neurons", "²"]),
    ("repair-keep-neg", "run_repair", ["--edit-set", "{set}", *RUN, "--keep-set", "-5"]),
    ("repair-seed-huge", "run_repair", ["--edit-set", "{set}", *RUN, "--seed", "9" * 5001]),
    ("repair-target-sup", "run_repair", ["by-class", *RUN, "--target-class", "²"]),
    # run_repair.py: outputs and inputs
    ("repair-output-under-file", "run_repair",
     ["--edit-set", "{set}", *RUN, "--output", "{file}/a.pth"]),
    ("repair-report-under-file", "run_repair",
     ["--edit-set", "{set}", *RUN, "--output", "{out}/a.pth", "--report", "{file}/r.json"]),
    ("repair-output-readonly", "run_repair",
     ["--edit-set", "{set}", *RUN, "--output", "{ro}/a.pth"]),
    ("repair-output-is-dir", "run_repair", ["--edit-set", "{set}", *RUN, "--output", "{out}"]),
    ("repair-nan-pixels", "run_repair", ["--edit-set", "{nanset}", *RUN, "--output",
                                         "{out}/a.pth"]),
    ("repair-empty-set", "run_repair", ["--edit-set", "{emptyset}", *RUN, "--output",
                                        "{out}/a.pth"]),
    ("repair-idx-text", "run_repair", ["--edit-set", "{idxset}", *RUN, "--output",
                                       "{out}/a.pth"]),
    ("repair-meta-str", "run_repair", ["--edit-set", "{set}", "--weights", "{strmeta}",
                                       "--data-root", "{data}", "--output", "{out}/a.pth"]),
    ("repair-set-is-dir", "run_repair", ["--edit-set", "{out}", *RUN]),
    # eval.py
    ("eval-meta-str", "eval", ["--weights", "{strmeta}", "--data-root", "{data}"]),
    ("eval-meta-neg", "eval", ["--weights", "{negmeta}", "--data-root", "{data}"]),
    ("eval-meta-size", "eval", ["--weights", "{sizemeta}", "--data-root", "{data}"]),
    ("eval-nan-pixels", "eval", ["--weights", "{model}", "--data-root", "{data}",
                                 "--edit-set", "{nanset}"]),
    ("eval-empty-set", "eval", ["--weights", "{model}", "--data-root", "{data}",
                                "--edit-set", "{emptyset}"]),
    ("eval-idx-text", "eval", ["--weights", "{model}", "--data-root", "{data}",
                               "--edit-set", "{idxset}"]),
    ("eval-json-under-file", "eval", ["--weights", "{model}", "--data-root", "{data}",
                                      "--json", "{file}/r.json"]),
    ("eval-json-readonly", "eval", ["--weights", "{model}", "--data-root", "{data}",
                                    "--json", "{ro}/r.json"]),
    # train.py
    ("train-batch-zero", "train", ["--data-root", "{data}", "--batch-size", "0"]),
    ("train-batch-neg", "train", ["--data-root", "{data}", "--batch-size", "-5"]),
    ("train-lr-neg", "train", ["--data-root", "{data}", "--max-lr", "-1"]),
    ("train-lr-nan", "train", ["--data-root", "{data}", "--max-lr", "nan"]),
    ("train-input-zero", "train", ["--data-root", "{data}", "--input-size", "0"]),
    ("train-epochs-huge", "train", ["--data-root", "{data}", "--epochs", "9" * 30]),
    ("train-output-under-file", "train", ["--data-root", "{data}", "--arch", "small_mlp",
                                          "--output", "{file}/m.pth"]),
    ("train-ckpt-under-file", "train", ["--data-root", "{data}", "--arch", "small_mlp",
                                        "--output", "{out}/m.pth",
                                        "--checkpoint-dir", "{file}/ck"]),
    ("train-output-readonly", "train", ["--data-root", "{data}", "--arch", "small_mlp",
                                        "--output", "{ro}/m.pth"]),
    # editset_generator.py
    ("gen-meta-str", "editset_generator", ["misclassified", "--weights", "{strmeta}",
                                           "--data-root", "{data}", "--output-dir", "{out}"]),
    ("gen-output-under-file", "editset_generator",
     ["misclassified", "--weights", "{model}", "--data-root", "{data}",
      "--output", "{file}/x_edit_dataset.pt"]),
    ("gen-output-readonly", "editset_generator",
     ["misclassified", "--weights", "{model}", "--data-root", "{data}", "--output-dir", "{ro}"]),
    ("gen-target-sup", "editset_generator",
     ["by-class", "--weights", "{model}", "--data-root", "{data}", "--target-class", "²"]),
    ("gen-samples-nan", "editset_generator",
     ["misclassified", "--weights", "{model}", "--data-root", "{data}", "--max-samples", "nan"]),
    # generate_specialized_repairsets.py
    ("special-json-under-file", "generate_specialized_repairsets",
     ["analyze", "--edit-sets-dir", "{out}", "--json", "{file}/a.json"]),
    ("special-plots-under-file", "generate_specialized_repairsets",
     ["analyze", "--edit-sets-dir", "{out}", "--plots", "{file}/plots"]),
    ("special-threshold-nan", "generate_specialized_repairsets",
     ["confident_wrong", "nan", "--weights", "{model}", "--data-root", "{data}"]),
    # experiment_runner.py
    ("sweep-margin-nan", "experiment_runner", ["run", *RUN, "--margin", "nan",
                                               "--output-file", "{out}/rows.csv"]),
    ("sweep-workers-zero", "experiment_runner", ["run", *RUN, "--workers", "0",
                                                 "--output-file", "{out}/rows.csv"]),
    ("sweep-csv-under-file", "experiment_runner", ["run", *RUN,
                                                   "--output-file", "{file}/rows.csv"]),
    ("sweep-csv-readonly", "experiment_runner", ["run", *RUN, "--output-file", "{ro}/rows.csv"]),
    ("sweep-plot-under-file", "experiment_runner", ["plot", "{csv}", "--output-dir",
                                                    "{file}/plots"]),
    # quickstart.py
    ("quick-folder-under-file", "quickstart", ["--data-root", "{data}", "--folder",
                                               "{file}/qs"]),
    ("quick-epochs-nan", "quickstart", ["--data-root", "{data}", "--epochs", "nan"]),
    ("quick-budget-neg", "quickstart", ["--data-root", "{data}", "--time-budget", "-5"]),
    ("repair-keep-rule-unknown", "run_repair", ["--edit-set", "{set}", *RUN, "--keep-rule",
                                                "nearest"]),
    ("repair-max-rows-neg", "run_repair", ["--edit-set", "{set}", *RUN, "--max-qp-rows", "-1"]),
    # benchmarks/bench_drawdown_study.py (run as a subprocess: benchmarks/ is not a package)
    ("study-weights-missing", "benchmarks/bench_drawdown_study",
     ["--weights", "{file}.absent", "--data-root", "{data}", "--only", "n500-m0.5-baseline"]),
    ("gen-corruption-unknown", "editset_generator",
     ["corrupted", "--weights", "{model}", "--data-root", "{data}", "--corruption", "haze"]),
    ("gen-severity-six", "editset_generator",
     ["corrupted", "--weights", "{model}", "--data-root", "{data}", "--corruption", "fog",
      "--severity", "6"]),
    ("gen-corrupted-without-name", "editset_generator",
     ["corrupted", "--weights", "{model}", "--data-root", "{data}"]),
    # the seed's generator scripts
    ("seed-confident-nan", "generate_confident_wrong_repairset",
     ["nan", "--weights", "{model}", "--data-root", "{data}", "--output-dir", "{out}"]),
    ("seed-closest-neg", "generate_closest_repairset",
     ["-0.5", "--weights", "{model}", "--data-root", "{data}", "--output-dir", "{out}"]),
    # extract_activations.py, process_embeddings.py, export_npz_dataset.py
    ("acts-samples-zero", "extract_activations",
     ["--weights", "{model}", "--data-root", "{data}", "--num-samples", "0", "--name", "a",
      "--out-dir", "{out}"]),
    ("acts-samples-nan", "extract_activations",
     ["--weights", "{model}", "--data-root", "{data}", "--num-samples", "nan", "--name", "a",
      "--out-dir", "{out}"]),
    ("acts-name-path", "extract_activations",
     ["--weights", "{model}", "--data-root", "{data}", "--name", "../escape",
      "--out-dir", "{out}"]),
    ("acts-layer-unknown", "extract_activations",
     ["--weights", "{model}", "--data-root", "{data}", "--layer", "fc9", "--name", "a",
      "--out-dir", "{out}"]),
    ("acts-class-unknown", "extract_activations",
     ["--weights", "{model}", "--data-root", "{data}", "--target-classes", "99", "--name", "a",
      "--out-dir", "{out}"]),
    ("acts-meta-str", "extract_activations",
     ["--weights", "{strmeta}", "--data-root", "{data}", "--name", "a", "--out-dir", "{out}"]),
    ("acts-out-readonly", "extract_activations",
     ["--weights", "{model}", "--data-root", "{data}", "--name", "a", "--out-dir", "{ro}"]),
    ("acts-out-under-file", "extract_activations",
     ["--weights", "{model}", "--data-root", "{data}", "--name", "a", "--out-dir",
      "{file}/acts"]),
    ("embed-missing-set", "process_embeddings", ["--name", "nothing", "--out-dir", "{out}"]),
    ("embed-min-dist-nan", "process_embeddings", ["--name", "a", "--min-dist", "nan"]),
    ("embed-neighbours-one", "process_embeddings", ["--name", "a", "--n-neighbors", "1"]),
    ("export-out-under-file", "export_npz_dataset",
     ["--data-root", "{data}", "--out", "{file}/npz"]),
    ("export-per-file-zero", "export_npz_dataset",
     ["--data-root", "{data}", "--out", "{out}/npz", "--per-file", "0"]),
    # edit_set_visualizer.py
    ("web-port-neg", "edit_set_visualizer", ["--port", "-1"]),
    ("web-port-huge", "edit_set_visualizer", ["--port", "70000"]),
    ("web-port-sup", "edit_set_visualizer", ["--port", "²"]),
    ("web-corrupt-db", "edit_set_visualizer", ["--edit-sets-dir", "{out}", "--decisions",
                                               "{corruptdb}", "--port", "0"]),
    # data quality: find_label_issues.py, find_near_duplicates.py, validate_predictions.py,
    # run_error_detection.py, and the override / flagged files every data script takes
    ("issues-influence-weight-nan", "find_label_issues", [*DQ, "--influence-weight", "nan"]),
    ("issues-folds-one", "find_label_issues", [*DQ, "--split", "train", "--folds", "1"]),
    ("issues-output-exists", "find_label_issues", [*DQ, "--output", "{file}"]),
    ("issues-output-under-file", "find_label_issues", [*DQ, "--output", "{file}/r.json"]),
    ("issues-output-readonly", "find_label_issues", [*DQ, "--output-dir", "{ro}"]),
    ("issues-override-unknown-class", "find_label_issues",
     [*DQ, "--label-overrides", "{badclass}"]),
    ("issues-influence-missing", "find_label_issues", [*DQ, "--influence", "{out}/none.npz"]),
    ("issues-influence-other-split", "find_label_issues", [*DQ, "--influence", "{trainnpz}"]),
    ("dups-threshold-nan", "find_near_duplicates", [*DQ, "--threshold", "nan"]),
    ("dups-threshold-two", "find_near_duplicates", [*DQ, "--threshold", "2"]),
    ("dups-embedding-unknown", "find_near_duplicates", [*DQ, "--embedding", "sift"]),
    ("dups-layer-unknown", "find_near_duplicates", [*DQ, "--embedding", "model",
                                                    "--layer", "fc9"]),
    ("dups-output-exists", "find_near_duplicates", [*DQ, "--output", "{file}"]),
    ("validate-bins-zero", "validate_predictions", [*DQ, "--bins", "0"]),
    ("validate-meta-str", "validate_predictions", ["--weights", "{strmeta}", "--data-root",
                                                   "{data}", "--output-dir", "{out}"]),
    ("detect-check-unknown", "run_error_detection", [*DQ, "--checks", "everything"]),
    ("detect-output-readonly", "run_error_detection", [*DQ, "--output-dir", "{ro}"]),
    ("detect-override-other-dataset", "run_error_detection",
     [*DQ, "--label-overrides", "{otheroverride}"]),
    ("eval-override-unknown-class", "eval", ["--weights", "{model}", "--data-root", "{data}",
                                             "--label-overrides", "{badclass}"]),
    ("train-override-unknown-class", "train", ["--data-root", "{data}", "--arch", "small_mlp",
                                               "--output", "{out}/m.pth",
                                               "--label-overrides", "{badclass}"]),
    ("gen-flagged-other-dataset", "editset_generator",
     ["misclassified", "--weights", "{model}", "--data-root", "{data}", "--output-dir", "{out}",
      "--exclude-flagged", "{otherreport}"]),
    ("special-flagged-other-dataset", "generate_specialized_repairsets",
     ["closest", "--weights", "{model}", "--data-root", "{data}", "--output-dir", "{out}",
      "--exclude-flagged", "{otherreport}"]),
    ("sweep-flagged-other-dataset", "experiment_runner",
     ["run", *RUN, "--exclude-flagged", "{otherreport}", "--output-file", "{out}/rows.csv"]),
    ("sweep-override-unknown-file", "experiment_runner",
     ["run", *RUN, "--label-overrides", "{out}/none.json", "--output-file", "{out}/rows.csv"]),
    # compute_tracin_influence.py, visualize_influence.py, visualize_test_influence.py,
    # generate_tracin_report.py
    ("tracin-empty-checkpoint-dir", "compute_tracin_influence",
     [*TRACIN, "{emptyck}", "--compute-self-influence", "--output", "{out}/s.npz"]),
    ("tracin-mixed-architectures", "compute_tracin_influence",
     [*TRACIN, "{mixedck}", "--compute-self-influence", "--output", "{out}/s.npz"]),
    ("tracin-no-learning-rate", "compute_tracin_influence",
     [*TRACIN, "{nolrck}", "--compute-self-influence", "--output", "{out}/s.npz"]),
    ("tracin-edit-set-other-dataset", "compute_tracin_influence",
     [*TRACIN, "{tinyck}", "--compute-influence", "--edit-set", "{otherset}",
      "--output", "{out}/t.npz"]),
    ("tracin-checkpoints-every-zero", "compute_tracin_influence",
     [*TRACIN, "{tinyck}", "--compute-self-influence", "--checkpoints", "every:0",
      "--output", "{out}/s.npz"]),
    ("tracin-top-k-zero", "compute_tracin_influence",
     [*TRACIN, "{tinyck}", "--compute-influence", "--indices", "1", "--top-k", "0"]),
    ("tracin-index-out-of-range", "compute_tracin_influence",
     [*TRACIN, "{tinyck}", "--compute-influence", "--indices", "99999",
      "--output", "{out}/t.npz"]),
    ("tracin-output-exists", "compute_tracin_influence",
     [*TRACIN, "{tinyck}", "--compute-self-influence", "--output", "{file}"]),
    ("tracin-layers-without-captum", "compute_tracin_influence",
     [*TRACIN, "{tinyck}", "--compute-self-influence", "--layers", "fc3",
      "--output", "{out}/s.npz"]),
    ("viz-influence-missing", "visualize_influence", ["{out}/none.npz"]),
    ("viz-influence-foreign-npz", "visualize_influence", ["{trainnpz}", "--output-dir",
                                                          "{out}"]),
    ("viz-test-influence-self-result", "visualize_test_influence",
     ["{trainnpz}", "--output-dir", "{out}"]),
    ("report-no-result", "generate_tracin_report", ["--output", "{out}/r.pdf"]),
    ("report-foreign-npz", "generate_tracin_report", ["--self-influence", "{trainnpz}",
                                                      "--output", "{out}/r.pdf"]),
]
SUBPROCESS_CASES = {"repair-eps-nan", "train-batch-zero", "eval-meta-str", "web-port-huge",
                    "web-corrupt-db", "tracin-no-learning-rate", "study-weights-missing"}


def _checkpoint_with(source: Path, target: Path, **changes) -> Path:
    payload = torch.load(source, weights_only=True)
    payload["metadata"] = changes.pop("metadata", payload["metadata"])
    if isinstance(payload["metadata"], dict):
        payload["metadata"] = {**payload["metadata"], **changes}
    torch.save(payload, target)
    return target


@pytest.fixture(scope="module")
def inputs(tiny_model_path, tiny_cifar_root, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("fuzz_inputs")
    split_images = torch.rand(4, 3, 32, 32)
    labels = torch.tensor([0, 1, 2, 3])
    records = [{"image_idx": i, "true_label": int(y), "type": "test"} for i, y in
               enumerate(labels)]
    good = save_edit_set(EditSet(split_images, labels, records), root / "good_edit_dataset.pt")[0]
    nan_images = split_images.clone()
    nan_images[1, 0, 0, 0] = float("nan")
    torch.save({"images": nan_images, "labels": labels, "metadata": records},
               root / "nan_edit_dataset.pt")
    torch.save({"images": torch.zeros(0, 3, 32, 32), "labels": torch.zeros(0, dtype=torch.long),
                "metadata": []}, root / "empty_edit_dataset.pt")
    torch.save({"images": split_images, "labels": labels,
                "metadata": [{**r, "image_idx": "seven"} for r in records]},
               root / "idx_edit_dataset.pt")
    (root / "a_file").write_text("not a folder")
    csv = root / "rows.csv"
    csv.write_text("experiment_id\n")
    relabel = {"dataset": "cifar10", "split": "test", "image_idx": 3, "decision": "relabel"}
    (root / "badclass.json").write_text(json.dumps({"decisions": [{**relabel,
                                                                   "new_class": "kitten"}]}))
    (root / "otheroverride.json").write_text(json.dumps({"decisions": [
        {**relabel, "dataset": "npz:/elsewhere", "new_class": "cat"}]}))
    (root / "otherreport.json").write_text(json.dumps({
        "format": "alexnet-repair-data-quality/1", "report_type": "label_issues",
        "dataset": "npz:/elsewhere", "summary": {},
        "errors": [{"dataset": "npz:/elsewhere", "split": "test", "index": 3}]}))
    np.savez(root / "train_influence.npz", split=np.array(["train"]),
             self_influence=np.zeros(300))
    (root / "corrupt.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    run = tiny_model_path.parent / "checkpoints" / "tiny"
    for name in ("emptyck", "mixedck", "nolrck"):
        (root / name).mkdir()
    shutil.copy(run / "epoch_001.pt", root / "mixedck" / "epoch_001.pt")
    _checkpoint_with(run / "epoch_002.pt", root / "mixedck" / "epoch_002.pt",
                     architecture="small_cnn")
    no_rate = torch.load(run / "epoch_001.pt", weights_only=True)
    no_rate["record"] = {k: v for k, v in no_rate["record"].items() if not k.startswith("lr")}
    torch.save(no_rate, root / "nolrck" / "epoch_001.pt")
    other = [{**r, "dataset": "npz:/elsewhere", "split": "test"} for r in records]
    save_edit_set(EditSet(split_images, labels, other), root / "other_edit_dataset.pt")
    return {
        "tinyck": str(run), "otherset": str(root / "other_edit_dataset.pt"),
        **{name: str(root / name) for name in ("emptyck", "mixedck", "nolrck")},
        "model": str(tiny_model_path), "data": str(tiny_cifar_root), "set": str(good),
        "nanset": str(root / "nan_edit_dataset.pt"),
        "emptyset": str(root / "empty_edit_dataset.pt"),
        "idxset": str(root / "idx_edit_dataset.pt"),
        "strmeta": str(_checkpoint_with(tiny_model_path, root / "str.pth", metadata="oops")),
        "negmeta": str(_checkpoint_with(tiny_model_path, root / "neg.pth", num_classes=-3)),
        "sizemeta": str(_checkpoint_with(tiny_model_path, root / "size.pth", input_size="64")),
        "file": str(root / "a_file"), "csv": str(csv),
        **{name: str(root / f) for name, f in (
            ("badclass", "badclass.json"), ("otheroverride", "otheroverride.json"),
            ("otherreport", "otherreport.json"), ("trainnpz", "train_influence.npz"),
            ("corruptdb", "corrupt.sqlite"))},
    }


@pytest.fixture
def readonly_folder(tmp_path):
    folder = tmp_path / "immutable"
    folder.mkdir()
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)],
                                        capture_output=True).returncode != 0:
        pytest.skip("cannot simulate a read-only folder: `chattr +i` is unavailable here "
                    "(permission bits do not stop root)")
    yield folder
    subprocess.run([chattr, "-i", str(folder)], check=True)


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder with its size and time (a folder's own time changes when the
    write check's probe file comes and goes, so folders count by name only)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (0, 0)
            for folder in folders for p in folder.rglob("*")}


@pytest.mark.parametrize(("script", "argv"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_and_exit_2(script, argv, inputs, tmp_path, request, capsys,
                                          monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default output path would land here, and be seen
    out = tmp_path / "out"
    out.mkdir()
    values = dict(inputs, out=str(out))
    if any("{ro}" in arg for arg in argv):
        values["ro"] = str(request.getfixturevalue("readonly_folder"))
    argv = [arg.format(**values) for arg in argv]
    watched = [tmp_path, Path(inputs["file"]).parent]
    before = snapshot(*watched)
    case_id = request.node.callspec.id
    if case_id in SUBPROCESS_CASES:
        done = subprocess.run([sys.executable, str(PROJECT_ROOT / f"{script}.py"), *argv],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        code, err = done.returncode, done.stderr
    else:
        module = importlib.import_module(script)
        code = run_main(module.main, argv)
        err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and " INFO " not in line
             and " WARNING " not in line]
    assert code == 2, err[-1500:]
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-1500:]
    assert snapshot(*watched) == before  # no output appeared or changed


def test_every_script_is_in_the_table():
    """A new top-level script joins the table (its parser and loaders are the first thing a
    user meets)."""
    scripts = {path.stem for path in PROJECT_ROOT.glob("*.py")}
    assert scripts - {case[1] for case in CASES} == set()


def test_the_fuzz_checkpoints_are_really_damaged(inputs):
    """The odd-metadata files differ from the good one only in metadata (so each case tests
    the check it names, not an unreadable file)."""
    load_checkpoint(inputs["model"])
    for name in ("strmeta", "negmeta", "sizemeta"):
        payload = torch.load(inputs[name], weights_only=True)
        assert set(payload["state_dict"]) == set(torch.load(inputs["model"],
                                                            weights_only=True)["state_dict"])


@pytest.mark.parametrize("changes", [{"margin": float("nan")}, {"margin": float("inf")},
                                     {"eps": float("nan")}, {"param_bound": float("-inf")},
                                     {"time_limit": float("nan")}, {"keep_set": -1}])
def test_repair_config_refuses_what_the_parser_refuses(changes):
    """A notebook building ``RepairConfig`` by hand gets the command line's message."""
    from edits.config import RepairConfig
    from helpers.errors import UserError

    with pytest.raises(UserError, match="must be"):
        RepairConfig(**changes).validate()


@pytest.mark.parametrize("changes", [{"batch_size": 0}, {"batch_size": -5}, {"max_lr": -1.0},
                                     {"max_lr": float("nan")}, {"input_size": 0},
                                     {"weight_decay": float("inf")}])
def test_train_config_refuses_what_the_parser_refuses(changes, tmp_path):
    from helpers.errors import UserError
    from model_classes.training import TrainConfig, train

    config = TrainConfig(output=str(tmp_path / "m.pth"),
                         checkpoint_dir=str(tmp_path / "ck"), **changes)
    with pytest.raises(UserError, match="must be"):
        train(config)
    assert list(tmp_path.iterdir()) == []
