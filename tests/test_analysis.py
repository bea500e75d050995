"""``analyze``: numbers on edit sets whose scores are chosen, and files that are not edit sets.

Scores are dyadic fractions, so quartiles by linear interpolation are exact and compared with
``==``.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

from editset_helpers.analysis import Distribution, analyze_folder, format_report
from editset_helpers.analysis_plots import write_plots
from editset_helpers.io import EditSet, save_edit_set
from generate_specialized_repairsets import main
from helpers.cli import run_main
from tests.data_factory import CLASS_NAMES


def record(i, true, predicted, **scores):
    return {"dataset": "cifar10", "split": "test", "image_idx": i, "true_label": true,
            "predicted_label": predicted, "true_class": CLASS_NAMES[true],
            "predicted_class": CLASS_NAMES[predicted], **scores}


def make_set(records, set_type):
    for r in records:
        r["type"] = set_type
    images = torch.rand(len(records), 3, 4, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([r["true_label"] for r in records])
    return EditSet(images, labels, records, {"type": set_type, "dataset": "cifar10",
                                             "split": "test", "class_names": CLASS_NAMES})


# A: confident_wrong-style, has "confidence"; the margin is derived from the probabilities.
CONFIDENT = [  # true, predicted, confidence = p(predicted), p(true)      -> margin
    (3, 5, 0.875, 0.0625),    # 0.8125
    (3, 5, 0.5, 0.25),        # 0.25
    (5, 3, 0.75, 0.125),      # 0.625
    (1, 9, 0.625, 0.1875),    # 0.4375
    (3, 2, 0.8125, 0.125),    # 0.6875
]
# B: misclassified-style, only predicted/true probabilities; record 3 is predicted right.
PLAIN = [(0, 1, 0.5, 0.25), (2, 4, 0.75, 0.125), (6, 8, 1.0, 0.0), (7, 7, 0.625, 0.625)]


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "edit_sets"
    a = make_set([record(i, t, p, confidence=c, predicted_probability=c, true_probability=q)
                  for i, (t, p, c, q) in enumerate(CONFIDENT)], "confident_wrong")
    save_edit_set(a, root / "confident_wrong_0.50_edit_dataset.pt")
    b = make_set([record(10 + i, t, p, predicted_probability=c, true_probability=q)
                  for i, (t, p, c, q) in enumerate(PLAIN)], "misclassified")
    save_edit_set(b, root / "sub" / "misclassified_edit_dataset.pt")
    c = make_set([record(20, 4, 2), record(21, 4, 4)], "hand_picked")  # no scores at all
    save_edit_set(c, root / "hand_picked_edit_dataset.pt")
    # D: an old-style file with images and labels only, no metadata and no JSON.
    torch.save({"images": torch.zeros(2, 3, 4, 4), "labels": torch.tensor([1, 1])},
               root / "legacy.pt")
    # Not edit sets: junk bytes, an empty file, another tensor dict, JSON without its .pt.
    (root / "broken_edit_dataset.pt").write_bytes(b"\x00not torch at all")
    (root / "empty.pt").write_bytes(b"")
    torch.save({"weight": torch.ones(2)}, root / "weights.pt")
    (root / "gone_edit_metadata.json").write_text("{}")
    # An interrupted atomic write leaves a hidden temporary file: not listed at all.
    (root / ".closest_0.10_0.30_edit_dataset.pt.abc.tmp").write_bytes(b"partial")
    (root / ".hidden.pt").write_bytes(b"partial")
    return root


def by_label(analysis):
    return {s.label: s for s in analysis.sets}


def test_scores_are_exact_five_number_summaries(folder):
    sets = by_label(analyze_folder(folder))
    a = sets["confident_wrong_0.50"]
    assert a.confidence_field == "confidence"
    assert a.confidence == Distribution(5, 0.5, 0.625, 0.75, 0.8125, 0.875)
    assert a.margin_field == "predicted_probability - true_probability"
    assert a.margin == Distribution(5, 0.25, 0.4375, 0.625, 0.6875, 0.8125)

    b = sets["sub/misclassified"]
    assert b.confidence_field == "predicted_probability"
    assert b.confidence == Distribution(4, 0.5, 0.59375, 0.6875, 0.8125, 1.0)
    # The right prediction (margin 0) is left out: margins 0.25, 0.625, 1.0.
    assert b.margin == Distribution(3, 0.25, 0.4375, 0.625, 0.8125, 1.0)


def test_a_recorded_margin_is_used_as_is(tmp_path):
    records = [record(0, 1, 0, margin=0.5, predicted_probability=0.75, true_probability=0.25),
               record(1, 1, 0, margin=0.125, predicted_probability=0.375, true_probability=0.25)]
    save_edit_set(make_set(records, "closest"), tmp_path / "closest_0.10_0.30_edit_dataset.pt")
    (summary,) = analyze_folder(tmp_path).sets
    assert summary.margin_field == "margin"
    assert summary.margin == Distribution(2, 0.125, 0.21875, 0.3125, 0.40625, 0.5)
    assert summary.confidence == Distribution(2, 0.375, 0.46875, 0.5625, 0.65625, 0.75)


def test_class_diversity(folder):
    sets = by_label(analyze_folder(folder))
    a = sets["confident_wrong_0.50"]
    assert a.true_class_counts == {"automobile": 1, "cat": 3, "dog": 1}  # in class-id order
    assert list(a.true_class_counts) == ["automobile", "cat", "dog"]
    assert a.predicted_class_counts == {"bird": 1, "cat": 1, "dog": 2, "truck": 1}
    assert a.confusion_pairs == 4  # cat->dog twice, dog->cat, automobile->truck, cat->bird
    assert a.top_confusions[0] == {"true_class": "cat", "predicted_class": "dog", "count": 2}
    b = sets["sub/misclassified"]
    assert b.confusion_pairs == 3  # horse->horse is right, not a confusion
    c = sets["hand_picked"]
    assert (c.true_class_counts, c.predicted_class_counts) == ({"deer": 2}, {"bird": 1, "deer": 1})
    assert c.confusion_pairs == 1


def test_sets_without_scores_or_predictions_show_dashes(folder):
    analysis = analyze_folder(folder)
    sets = by_label(analysis)
    c, legacy = sets["hand_picked"], sets["legacy.pt"]
    assert c.confidence is None and c.margin is None
    assert legacy.num_samples == 2 and legacy.json_path is None
    assert legacy.true_class_counts == {"1": 2}  # no class names anywhere: the label itself
    assert legacy.predicted_class_counts is None and legacy.confusion_pairs is None
    report = format_report(analysis)
    scores_row = next(line.split() for line in report.splitlines()
                      if line.split()[:1] == ["hand_picked"])  # the first table is the scores
    assert scores_row == ["hand_picked", "hand_picked", "2", "-", "-"]


def test_files_and_problems_are_listed(folder):
    analysis = analyze_folder(folder)
    assert sorted(by_label(analysis)) == ["confident_wrong_0.50", "hand_picked", "legacy.pt",
                                          "sub/misclassified"]
    a = by_label(analysis)["confident_wrong_0.50"]
    assert a.pt_path == folder / "confident_wrong_0.50_edit_dataset.pt"
    assert a.pt_bytes == os.path.getsize(a.pt_path)
    assert a.json_bytes == os.path.getsize(folder / "confident_wrong_0.50_edit_metadata.json")
    problems = {p.path.name: p.reason for p in analysis.problems}
    assert problems == {
        "broken_edit_dataset.pt": "not a PyTorch file (corrupt, truncated or another format)",
        "empty.pt": "empty file",
        "weights.pt": "not an edit set: expected a dict with 'images', 'labels' and 'metadata'",
        "gone_edit_metadata.json": "metadata without its dataset file gone_edit_dataset.pt",
    }


def test_report_is_readable(folder):
    report = format_report(analyze_folder(folder))
    assert report.startswith(f"Edit sets under {folder}: 4 readable, 4 not edit sets")
    assert "0.5000 / 0.6250 / 0.7500 / 0.8125 / 0.8750" in report
    assert "0.2500 / 0.4375 / 0.6250 / 0.6875 / 0.8125" in report
    assert "cat -> dog (2)" in report
    rows = {line.split()[0]: line.split()[1:] for line in report.splitlines()
            if line.split() and line.split()[0] in CLASS_NAMES}
    # One column per set, in label order: confident_wrong_0.50, hand_picked, legacy.pt, sub/...
    assert rows["cat"] == ["3/1", "0/0", "0/-", "0/0"]
    assert rows["horse"] == ["0/0", "0/0", "0/-", "1/1"]
    assert list(rows) == CLASS_NAMES  # every class appears in some set, in label order
    for section in ("Scores", "Class diversity", "Images per class", "Files", "Not edit sets"):
        assert f"\n{section}" in report


def test_plots_are_png_files_one_per_set(folder, tmp_path):
    analysis = analyze_folder(folder)
    written = write_plots(analysis, tmp_path / "plots")
    assert sorted(p.name for p in written) == [
        "confident_wrong_0.50_analysis.png", "hand_picked_analysis.png",
        "legacy.pt_analysis.png", "sub__misclassified_analysis.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(p.name for p in written)


# command line ---------------------------------------------------------------------------------

def run(argv, capsys):
    code = run_main(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_writes_json_and_plots(folder, tmp_path, capsys):
    json_path, plots = tmp_path / "report" / "analysis.json", tmp_path / "plots"
    argv = ["analyze", "--edit-sets-dir", str(folder), "--json", str(json_path),
            "--plots", str(plots)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "0.5000 / 0.6250 / 0.7500 / 0.8125 / 0.8750" in out
    document = json.loads(json_path.read_text())
    assert document["created"] and document["directory"] == str(folder)
    a = next(s for s in document["edit_sets"] if s["label"] == "confident_wrong_0.50")
    assert a["confidence"] == {"count": 5, "min": 0.5, "q1": 0.625, "median": 0.75,
                               "q3": 0.8125, "max": 0.875}
    assert a["num_samples"] == 5 and a["confusion_pairs"] == 4
    assert a["pt_bytes"] == os.path.getsize(folder / "confident_wrong_0.50_edit_dataset.pt")
    assert {p["path"].rsplit("/", 1)[-1] for p in document["not_edit_sets"]} == {
        "broken_edit_dataset.pt", "empty.pt", "weights.pt", "gone_edit_metadata.json"}
    assert len(list(plots.glob("*.png"))) == 4

    code, _, err = run(argv, capsys)  # the outputs exist now
    assert code == 2 and "already exists; pass --force" in err
    assert run([*argv[:-2], "--force"], capsys)[0] == 0  # (without plots, to stay quick)


def test_cli_missing_and_empty_folders(tmp_path, capsys):
    code, out, err = run(["analyze", "--edit-sets-dir", str(tmp_path / "nope")], capsys)
    assert code == 2 and err.startswith("error: edit-set folder") and err.count("\n") == 1
    assert out == ""
    (tmp_path / "empty").mkdir()
    code, out, _ = run(["analyze", "--edit-sets-dir", str(tmp_path / "empty")], capsys)
    assert code == 0 and "no edit sets found" in out



def test_odd_files_never_stop_the_analysis(tmp_path):
    good = make_set([record(0, 1, 0, predicted_probability=0.5, true_probability=0.25)], "x")
    save_edit_set(good, tmp_path / "good_edit_dataset.pt")
    odd = make_set([record(1, 1, 0)], "odd")
    odd.metadata[0]["predicted_label"] = "cat"  # not a class id
    save_edit_set(odd, tmp_path / "odd_edit_dataset.pt")
    save_edit_set(make_set([record(2, 3, 5)], "y"), tmp_path / "listjson_edit_dataset.pt")
    (tmp_path / "listjson_edit_metadata.json").write_text("[1, 2]")  # valid JSON, not a dict
    analysis = analyze_folder(tmp_path)
    seen = {s.name for s in analysis.sets} | {p.path.name for p in analysis.problems}
    assert {"good", "odd"} <= seen
    assert "listjson" in seen or "listjson_edit_dataset.pt" in seen
    assert by_label(analysis)["good"].margin == Distribution(1, 0.25, 0.25, 0.25, 0.25, 0.25)
    format_report(analysis)  # renders whatever was found
