"""The layer-input cache: cached evaluation equals a plain forward pass, a changed model or data
set is computed afresh, the folder stays under its cap, and a repair job uses it."""

from __future__ import annotations

import copy

import pytest
import torch

from edits.config import RepairConfig
from edits.head import cached_layer_inputs, head_logits
from edits.job import run_repair_job
from editset_helpers.evaluation import evaluate_model
from helpers.datasets import ImageSplit, load_split
from helpers.inference import predict_logits
from helpers.layer_cache import LayerInputCache, prefix_digest
from model_classes.checkpoints import LoadedModel, load_checkpoint
from tests.edit_set_factory import edit_set_from


def _assert_same_as_forward(model, layer, inputs, images):
    cached, plain = head_logits(model, layer, inputs), predict_logits(model, images)
    assert torch.equal(cached.argmax(1), plain.argmax(1))
    torch.testing.assert_close(cached, plain, rtol=0, atol=1e-5)


def test_cached_evaluation_equals_a_forward_pass_and_is_read_back(tiny, tiny_loaded, tmp_path,
                                                                  monkeypatch):
    split, _ = tiny
    model, cache = tiny_loaded.model, LayerInputCache(tmp_path)
    first = cache.inputs(model, "fc3", split.images)
    _assert_same_as_forward(model, "fc3", first, split.images)
    assert len(list(tmp_path.glob("*.pt"))) == 1

    import helpers.layer_cache as layer_cache

    monkeypatch.setattr(layer_cache, "layer_inputs", _must_not_run)
    assert torch.equal(cache.inputs(model, "fc3", split.images), first)  # read, not computed


def _must_not_run(*_args, **_kwargs):
    raise AssertionError("the cached inputs should have been read")


def test_a_change_below_the_layer_or_in_the_pixels_is_computed_afresh(tiny, tiny_loaded,
                                                                      tmp_path):
    split, _ = tiny
    model, cache = tiny_loaded.model, LayerInputCache(tmp_path)
    base = cache.inputs(model, "fc3", split.images)

    above = copy.deepcopy(model)  # a repair of fc3 itself keeps the key
    with torch.no_grad():
        above.fc3.weight.add_(1.0)
    assert prefix_digest(above, "fc3") == prefix_digest(model, "fc3")

    below = copy.deepcopy(model)
    with torch.no_grad():
        below.fc1.weight.mul_(1.5)
    assert prefix_digest(below, "fc3") != prefix_digest(model, "fc3")
    changed = cache.inputs(below, "fc3", split.images)
    assert not torch.equal(changed, base)
    _assert_same_as_forward(below, "fc3", changed, split.images)

    other = split.images.clone()
    other[0] = 255 - other[0]
    inputs = cache.inputs(model, "fc3", other)
    _assert_same_as_forward(model, "fc3", inputs, other)
    assert len(list(tmp_path.glob("*.pt"))) == 3


def test_the_folder_keeps_its_cap_evicting_the_least_recently_used(tiny, tiny_loaded, tmp_path):
    split, _ = tiny
    model = tiny_loaded.model
    one_file = LayerInputCache(tmp_path / "probe").inputs(model, "fc3", split.images)
    size = one_file.numel() * one_file.element_size()
    cache = LayerInputCache(tmp_path / "capped", cap_bytes=int(2.5 * size))
    views = [split.images[i:] for i in range(3)]
    cache.inputs(model, "fc3", views[0])
    cache.inputs(model, "fc3", views[1])
    import os
    import time

    old = time.time() - 60
    for file in (tmp_path / "capped").glob("*.pt"):
        os.utime(file, (old, old))
    cache.inputs(model, "fc3", views[0])  # used again: now the most recent
    cache.inputs(model, "fc3", views[2])  # the third file pushes the total over the cap
    kept = {file.name for file in (tmp_path / "capped").glob("*.pt")}
    assert len(kept) == 2
    assert cache.path(model, "fc3", _digest(views[1])).name not in kept


def _digest(images):
    from helpers.layer_cache import pixels_digest

    return pixels_digest(images)


def test_a_damaged_cache_file_is_recomputed(tiny, tiny_loaded, tmp_path):
    split, _ = tiny
    cache = LayerInputCache(tmp_path)
    first = cache.inputs(tiny_loaded.model, "fc3", split.images)
    (file,) = tmp_path.glob("*.pt")
    file.write_bytes(b"not a tensor file")
    assert torch.equal(cache.inputs(tiny_loaded.model, "fc3", split.images), first)


def test_a_repair_job_reports_what_a_full_forward_pass_measures(tiny, tiny_loaded,
                                                                tiny_cifar_root):
    split, predicted = tiny
    wrong = torch.nonzero(predicted != split.labels).flatten()[:5]
    edit_set = edit_set_from(split, wrong)
    train = load_split("cifar10", "train", data_root=tiny_cifar_root, download=False)
    job = run_repair_job(tiny_loaded, edit_set, RepairConfig(margin=1.0, reference_size=300),
                         test_split=split, train_split=train)
    assert job.repair.verified
    for model, measured in ((tiny_loaded.model, job.before), (job.repair.model, job.after)):
        full = evaluate_model(LoadedModel(model, tiny_loaded.metadata, None), split, edit_set,
                              progress=False)
        assert measured.test == full.test.accuracy
        assert measured.drawdown == full.drawdown.accuracy
        assert measured.edit == full.edit.accuracy


def test_on_the_real_model_cached_inputs_give_the_forward_pass(real_base_model,
                                                               real_cifar_root):
    loaded = load_checkpoint(real_base_model)
    test = load_split("cifar10", "test", data_root=real_cifar_root, download=False)
    part = ImageSplit(test.dataset, test.split, test.images[:1000], test.labels[:1000],
                      test.class_names)
    inputs = cached_layer_inputs(loaded.model, "classifier.6", part)
    _assert_same_as_forward(loaded.model, "classifier.6", inputs, part.images)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # the same threads in both passes: same kernels, same rounding


def test_eval_reads_the_cache_and_reports_what_no_cache_reports(repaired_model_path,
                                                                tiny_cifar_root, tmp_path):
    import json

    import eval as eval_script

    reports = {}
    for name, extra in (("cached", []), ("cached-again", []), ("plain", ["--no-cache"])):
        path = tmp_path / f"{name}.json"
        assert eval_script.run_main(eval_script.main, [
            "--weights", str(repaired_model_path), "--data-root", str(tiny_cifar_root),
            "--json", str(path), *extra]) == 0
        reports[name] = json.loads(path.read_text())["test"]
    assert reports["cached"] == reports["cached-again"] == reports["plain"]
