"""The symbolic forward pass must agree with the real network whenever its patterns hold."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from model_classes import build_model
from sytorch import SymbolicLinear, symbolic_forward
from sytorch.errors import SytorchError
from sytorch.network import split_at


@pytest.fixture(scope="module")
def mlp() -> nn.Module:
    torch.manual_seed(0)
    return build_model("small_mlp", 10)


def _largest_safe_step(batch, direction: np.ndarray) -> float:
    """Largest t with every pattern row still satisfied at t * direction."""
    slack0 = batch.patterns.slack(np.zeros_like(direction))
    rate = batch.patterns.values(direction)
    shrinking = rate < 0
    return float(np.min(slack0[shrinking] / -rate[shrinking])) if shrinking.any() else 1.0


LAYERS = [("fc1", None), ("fc1", [1, 5, 7]), ("fc2", None), ("fc3", [2, 3]), ("fc3", None)]


def _frozen_pattern_logits(model, symbolic, images, change) -> np.ndarray:
    """The changed network with every ReLU replaced by the original network's on/off mask."""
    with torch.no_grad():
        x = images
        masks = {}
        for name, module in model.named_children():  # original pre-activations' signs
            if isinstance(module, nn.ReLU):
                masks[name] = (x > 0).double()
            x = module(x)
        changed = symbolic.apply(model, change)
        x, seen = images, False
        for name, module in changed.named_children():
            x = x.double() if seen else x
            if isinstance(module, nn.ReLU) and seen:
                x = x * masks[name]
            elif isinstance(module, nn.Linear) and seen:
                x = x @ module.weight.double().T + module.bias.double()
            else:
                x = module(x.float() if not seen else x)
            seen = seen or name == symbolic.name
        return x.double().numpy()


@pytest.mark.parametrize(("layer", "neurons"), LAYERS)
def test_linear_expressions_are_the_network_with_frozen_patterns(mlp, layer, neurons):
    images = torch.rand(24, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    symbolic = SymbolicLinear.mark(mlp, layer, neurons)
    batch = symbolic_forward(mlp, symbolic.split, symbolic.neurons, images, batch_size=10)
    change = np.random.default_rng(2).normal(size=(len(symbolic.neurons), symbolic.width))
    predicted = batch.logits + np.einsum("nck,nk->nc", batch.jacobian, batch.features @ change.T)
    frozen = _frozen_pattern_logits(mlp, symbolic, images, change)
    assert np.abs(predicted - batch.logits).max() > 0.1  # a large change, far from linear range
    assert np.abs(frozen - predicted).max() < 1e-4


@pytest.mark.parametrize(("layer", "neurons"), LAYERS)
def test_while_pattern_rows_hold_the_expressions_are_the_real_network(mlp, layer, neurons):
    images = torch.rand(24, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    symbolic = SymbolicLinear.mark(mlp, layer, neurons)
    batch = symbolic_forward(mlp, symbolic.split, symbolic.neurons, images, batch_size=10)
    direction = np.random.default_rng(2).normal(size=(len(symbolic.neurons), symbolic.width))
    change = 0.5 * _largest_safe_step(batch, direction) * direction
    if len(batch.patterns):
        assert batch.patterns.slack(change).min() >= 0
    with torch.no_grad():
        real = symbolic.apply(mlp, change)(images).double().numpy()
    predicted = batch.logits + np.einsum("nck,nk->nc", batch.jacobian, batch.features @ change.T)
    moved = np.abs(predicted - batch.logits).max()
    assert moved > 0
    assert np.abs(real - predicted).max() < max(1e-6, 1e-2 * moved)


def test_a_change_that_flips_a_pattern_violates_a_pattern_row(mlp):
    images = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    symbolic = SymbolicLinear.mark(mlp, "fc1")
    batch = symbolic_forward(mlp, symbolic.split, symbolic.neurons, images)
    change = np.random.default_rng(4).normal(size=(len(symbolic.neurons), symbolic.width))
    slack = batch.patterns.slack(change)
    assert slack.min() < 0
    # the rows are the real pre-activations' signs: check one violated row against the network
    row = int(np.argmin(slack))
    image, neuron_position = batch.patterns.sample[row], np.flatnonzero(batch.patterns.coef[row])
    assert len(neuron_position) == 1  # right after the symbolic layer: one neuron per row
    with torch.no_grad():
        before = mlp.fc1(mlp.flatten(mlp.preprocess(images)))[image]
        after = symbolic.apply(mlp, change).fc1(mlp.flatten(mlp.preprocess(images)))[image]
    neuron = symbolic.neurons[neuron_position[0]]
    assert (before[neuron] > 0) != (after[neuron] > 0)


def test_the_last_layer_has_no_pattern_rows_and_an_identity_jacobian(mlp):
    images = torch.rand(5, 3, 8, 8)
    symbolic = SymbolicLinear.mark(mlp, "fc3")
    batch = symbolic_forward(mlp, symbolic.split, symbolic.neurons, images)
    assert len(batch.patterns) == 0
    assert np.array_equal(batch.jacobian, np.broadcast_to(np.eye(10), (5, 10, 10)))
    assert batch.features.shape == (5, 33) and np.all(batch.features[:, -1] == 1)


def test_only_linear_layers_can_be_symbolic(mlp):
    with pytest.raises(SytorchError, match="only Linear layers"):
        split_at(mlp, "relu1")
    with pytest.raises(SytorchError, match=r"not found.*fc1, fc2, fc3"):
        split_at(mlp, "classifier.6")


def test_a_pooling_layer_after_the_symbolic_layer_is_refused():
    model = nn.Sequential(OrderedDict(fc=nn.Linear(8, 16), pool=nn.MaxPool1d(2),
                                      out=nn.Linear(8, 3)))
    assert model(torch.rand(2, 8)).shape == (2, 3)
    with pytest.raises(SytorchError, match=r"'pool' \(MaxPool1d\).*cannot be carried"):
        split_at(model, "fc")
    assert split_at(model, "out").suffix == []


class _TwoHeads(nn.Module):
    """Not a Sequential: only its output layer can be repaired."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def test_non_sequential_models_allow_their_output_layer_only():
    model = _TwoHeads()
    probe = torch.rand(3, 4)
    symbolic = SymbolicLinear.mark(model, "head", probe=probe)
    batch = symbolic_forward(model, symbolic.split, symbolic.neurons, probe)
    with torch.no_grad():
        assert np.allclose(batch.logits, model(probe).double().numpy())
    with pytest.raises(SytorchError, match="not its output layer"):
        SymbolicLinear.mark(model, "body", probe=probe)


def test_batchnorm_and_leaky_relu_are_carried_exactly():
    torch.manual_seed(5)
    model = nn.Sequential(OrderedDict(
        fc1=nn.Linear(6, 12), bn=nn.BatchNorm1d(12), act=nn.LeakyReLU(0.1), drop=nn.Dropout(0.3),
        fc2=nn.Linear(12, 4)))
    model.bn.running_mean.uniform_(-1, 1)
    model.bn.running_var.uniform_(0.5, 2)
    model.eval()
    images = torch.rand(10, 6)
    symbolic = SymbolicLinear.mark(model, "fc1")
    batch = symbolic_forward(model, symbolic.split, symbolic.neurons, images)
    direction = np.random.default_rng(6).normal(size=(12, 7))
    change = 0.5 * _largest_safe_step(batch, direction) * direction
    with torch.no_grad():
        real = symbolic.apply(model, change)(images).double().numpy()
    predicted = batch.logits + np.einsum("nck,nk->nc", batch.jacobian, batch.features @ change.T)
    assert np.abs(real - predicted).max() < 1e-4


def test_neuron_ids_outside_the_layer_are_a_user_error(mlp):
    with pytest.raises(SytorchError, match=r"--neurons must be ids in 0\.\.9"):
        SymbolicLinear.mark(mlp, "fc3", [3, 10])
