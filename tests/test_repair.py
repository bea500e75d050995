"""The repair engine end to end on a small trained model: verified, bounded, honest reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edits.config import RepairConfig
from edits.job import run_repair_job
from edits.repair import repair
from editset_helpers.generation import Source
from helpers.datasets import load_split
from helpers.errors import UserError
from helpers.inference import predict_logits
from model_classes.checkpoints import load_checkpoint
from sytorch.constraints import margins


@pytest.fixture(scope="module")
def source(tiny_model_path, tiny_cifar_root) -> Source:
    return Source.load(tiny_model_path, data_root=tiny_cifar_root)


@pytest.fixture(scope="module")
def train_split(tiny_cifar_root):
    return load_split("cifar10", "train", data_root=tiny_cifar_root)


@pytest.fixture(scope="module")
def wrong(source):
    """The test images the tiny model gets wrong: the edit set of these tests."""
    index = torch.nonzero(source.predictions.wrong).flatten()
    assert len(index) >= 10, "the tiny model must get some images wrong"
    return source.split.unit_images(index), source.split.labels[index]


def _config(**overrides) -> RepairConfig:
    settings = {"margin": 1.0, "param_bound": 10.0, "reference_size": 300}
    settings.update(overrides)
    return RepairConfig(**settings)


@pytest.mark.parametrize(("layer", "norm", "geometry"), [
    ("last", "l2", "outputs"), ("last", "linf", "parameters"), ("last", "l1", "outputs"),
    ("last", "linf+l1", "parameters"), ("fc2", "l2", "outputs"), ("fc1", "l2", "parameters"),
    ("penultimate", "linf", "outputs"),
])
def test_repairs_verify_by_a_plain_forward_pass(source, train_split, wrong, layer, norm, geometry):
    images, labels = wrong
    result = repair(source.loaded.model, images, labels,
                    _config(layer=layer, norm=norm, geometry=geometry), train_split=train_split)
    assert result.status == "repaired", result.message
    logits = predict_logits(result.model, images).double().numpy()
    assert (logits.argmax(1) == labels.numpy()).all()
    assert margins(logits, labels.numpy()).min() >= 1.0
    assert result.verification.min_margin == pytest.approx(margins(logits, labels.numpy()).min())
    assert result.change_stats["linf"] <= 10.0 * (1 + 1e-6)
    untouched = [n for n, _ in source.loaded.model.named_parameters()
                 if not n.startswith(result.layer + ".")]
    after = dict(result.model.named_parameters())
    before = dict(source.loaded.model.named_parameters())
    assert all(torch.equal(after[n], before[n]) for n in untouched)


def test_only_the_chosen_neurons_change(source, train_split, wrong):
    images, labels = wrong
    # the classes of the edit labels and the classes they are confused with must be free
    logits = predict_logits(source.loaded.model, images)
    neurons = sorted(set(labels.tolist()) | set(logits.argmax(1).tolist()))
    result = repair(source.loaded.model, images, labels, _config(neurons=neurons),
                    train_split=train_split)
    assert result.status == "repaired", result.message
    delta = result.model.fc3.weight - source.loaded.model.fc3.weight
    frozen = [n for n in range(10) if n not in neurons]
    assert torch.all(delta[frozen] == 0)
    assert result.neurons == neurons


def test_a_bound_too_small_is_infeasible_with_a_hint(source, train_split, wrong):
    images, labels = wrong
    for geometry in ("parameters", "outputs"):
        result = repair(source.loaded.model, images, labels,
                        _config(param_bound=1e-4, geometry=geometry, norm="l2"),
                        train_split=train_split)
        assert result.status == "infeasible"
        assert "--param-bound" in result.message and result.model is None


def test_the_bound_binds_lazily_in_the_output_geometry(source, train_split, wrong):
    images, labels = wrong
    free = repair(source.loaded.model, images, labels, _config(param_bound=None),
                  train_split=train_split)
    bound = 0.7 * free.change_stats["linf"]
    bounded = repair(source.loaded.model, images, labels, _config(param_bound=bound),
                     train_split=train_split)
    assert bounded.status == "repaired", bounded.message
    assert bounded.change_stats["linf"] <= bound * (1 + 1e-6)
    assert bounded.solver_summary()["active_rows"].get("bound", 0) > 0
    assert bounded.change_stats["param_bound_enforced_as"] == "lazy rows"


def test_piqp_and_highs_find_the_same_l2_repair(source, train_split, wrong):
    """The interior point and the active set solve the same dual QP: the same change, verified."""
    images, labels = wrong
    free = repair(source.loaded.model, images, labels, _config(param_bound=None),
                  train_split=train_split)
    bound = 0.7 * free.change_stats["linf"]  # bound rows too, as in the large real repairs
    results = {solver: repair(source.loaded.model, images, labels,
                              _config(param_bound=bound, solver=solver), train_split=train_split)
               for solver in ("highs", "piqp")}
    for solver, result in results.items():
        assert result.status == "repaired", (solver, result.message)
        assert result.verification.min_margin >= 1.0
        assert result.solver_summary()["solver"] == solver
    weights = {s: r.model.fc3.weight.detach() for s, r in results.items()}
    objective = {s: r.solver_summary()["objective"] for s, r in results.items()}
    assert objective["piqp"] == pytest.approx(objective["highs"], rel=1e-5)
    assert results["piqp"].solver_summary()["active_rows"] == \
        results["highs"].solver_summary()["active_rows"]
    # directions the reference images barely use are weighted only by eps, so the two answers
    # may differ there by more than the objective does (measured: 4e-4 of the bound)
    assert torch.allclose(weights["highs"], weights["piqp"], atol=1e-2 * bound)


def test_an_infeasible_l2_repair_under_piqp_is_reported_with_a_hint(source, train_split, wrong):
    images, labels = wrong
    result = repair(source.loaded.model, images, labels,
                    _config(param_bound=1e-4, solver="piqp"), train_split=train_split)
    assert result.status == "infeasible"
    assert "--param-bound" in result.message and result.model is None


def test_the_keep_set_stays_correct(source, train_split, wrong):
    images, labels = wrong
    result = repair(source.loaded.model, images, labels,
                    _config(keep_set=150, geometry="parameters", norm="linf"),
                    train_split=train_split)
    assert result.status == "repaired", result.message
    assert result.keep_verification.images == 150
    assert result.keep_verification.all_correct


def test_the_output_geometry_costs_less_accuracy_than_raw_parameters(source, train_split, wrong):
    """The notes' central finding, on the small model: measure the change where the data is."""
    images, labels = wrong
    accuracy = {}
    for geometry in ("outputs", "parameters"):
        result = repair(source.loaded.model, images, labels,
                        _config(geometry=geometry, norm="linf"), train_split=train_split)
        predicted = predict_logits(result.model, train_split.images).argmax(1)
        accuracy[geometry] = float((predicted == train_split.labels).float().mean())
    assert accuracy["outputs"] > accuracy["parameters"]


def test_an_already_correct_edit_set_needs_no_change(source, train_split):
    right = torch.nonzero(~source.predictions.wrong).flatten()[:5]
    images, labels = source.split.unit_images(right), source.split.labels[right]
    result = repair(source.loaded.model, images, labels, _config(margin=0.0),
                    train_split=train_split)
    assert result.status == "repaired"
    assert result.change_stats["linf"] == 0.0
    assert result.solver_summary()["rounds"] == 0


def test_labels_outside_the_model_are_a_user_error(source, train_split, wrong):
    images, _ = wrong
    with pytest.raises(UserError, match="classes"):
        repair(source.loaded.model, images, torch.full((len(images),), 12), _config(),
               train_split=train_split)


def test_the_job_writes_a_checkpoint_eval_can_load_and_a_report(source, train_split, tmp_path,
                                                                tiny_cifar_root):
    from editset_helpers.generation import generate_edit_set

    generated = generate_edit_set(source, "misclassified", tmp_path / "m_edit_dataset.pt")
    output, report = tmp_path / "repaired.pth", tmp_path / "report.json"
    job = run_repair_job(source.loaded, generated.edit_set, _config(), test_split=source.split,
                         train_split=train_split, output=output, report_path=report)
    assert job.repair.verified and output.exists() and report.exists()
    reloaded = load_checkpoint(output)
    images = generated.edit_set.images
    assert torch.equal(predict_logits(reloaded.model, images),
                       predict_logits(job.repair.model, images))
    assert job.after.edit == 1.0 and job.before.edit == 0.0
    assert job.before.drawdown_images == len(source.split) - len(generated.edit_set)
    assert reloaded.metadata.extra["repair"]["layer"] == "fc3"
    import json

    data = json.loads(report.read_text())
    assert data["verified"] is True
    assert data["accuracy_after"]["edit"] == 1.0
    assert {"solver", "status", "rounds", "build_seconds", "solve_seconds", "iterations",
            "objective"} <= set(data["repair"]["solver"])
    assert data["repair"]["verification"]["min_margin"] >= 1.0
    with pytest.raises(UserError, match="already exists"):
        run_repair_job(source.loaded, generated.edit_set, _config(), test_split=source.split,
                       train_split=train_split, output=output, report_path=report)


def test_repair_on_the_real_base_model(real_base_model, real_cifar_root):
    """Real AlexNet, real CIFAR-10: 20 misclassified test images, the default configuration."""
    source = Source.load(real_base_model, data_root=real_cifar_root)
    index = torch.nonzero(source.predictions.wrong).flatten()[:20]
    images, labels = source.split.unit_images(index), source.split.labels[index]
    train = load_split("cifar10", "train", data_root=real_cifar_root)
    result = repair(source.loaded.model, images, labels, RepairConfig(reference_size=1000),
                    train_split=train, model_path=real_base_model)
    assert result.status == "repaired", result.message
    assert result.layer == "classifier.6"
    assert np.isfinite(result.change_stats["linf"])
    right = torch.nonzero(~source.predictions.wrong).flatten()[:1000]
    kept = predict_logits(result.model, source.split.images[right]).argmax(1)
    assert float((kept == source.split.labels[right]).float().mean()) > 0.9
