"""The simplest non-provable baseline: fine-tune the same layer on the edit images.

What does the provable repair buy over plain gradient descent? :func:`finetune` changes the
same Linear layer (the repair's ``--layer`` rule) by full-batch Adam on the cross-entropy of
the edit images alone, and stops as soon as every edit image is classified right (or after
``max_steps``). There is no margin, no bound on the change and no guarantee: the result is
checked by the same plain forward pass (:func:`edits.verification.verify`) as a repair, so the
two are compared on efficacy, generalisation and drawdown by the same code.

The layer's input is computed once (a forward hook); each step runs only the layer and the
layers after it, so a step costs a matrix product, not a pass through the convolutions.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from edits.layer_choice import choose_layer
from edits.verification import Verification, verify
from helpers.errors import UserError
from sytorch.network import split_at

log = logging.getLogger(__name__)

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


@dataclass
class FinetuneConfig:
    """Options of the baseline; the defaults fix 500 AlexNet edit images in seconds."""

    layer: str = "last"
    optimizer: str = "adam"  # adam or sgd (plain gradient descent)
    learning_rate: float = 1e-3
    max_steps: int = 2000
    weight_decay: float = 0.0
    seed: int = 0

    def validate(self) -> FinetuneConfig:
        if not self.learning_rate > 0:
            raise UserError(f"learning rate must be positive, got {self.learning_rate}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}; use one of "
                            f"{', '.join(OPTIMIZERS)}")
        if self.max_steps < 1:
            raise UserError(f"max_steps must be at least 1, got {self.max_steps}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FinetuneResult:
    """The fine-tuned model (a copy), how long it took and the forward-pass check."""

    model: nn.Module
    layer: str
    steps: int
    seconds: float
    final_loss: float
    verification: Verification
    config: FinetuneConfig
    change: dict[str, float] = field(default_factory=dict)

    @property
    def all_correct(self) -> bool:
        return self.verification.all_correct

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "steps": self.steps, "seconds": self.seconds,
                "final_loss": self.final_loss, "all_correct": self.all_correct,
                "verification": self.verification.to_dict(), "config": self.config.to_dict(),
                "change": self.change}


@torch.no_grad()
def _layer_input(model: nn.Module, layer: nn.Module, images: torch.Tensor) -> torch.Tensor:
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    try:
        for start in range(0, len(images), 500):
            model(images[start:start + 500])
    finally:
        handle.remove()
    return torch.cat(captured).detach()


def finetune(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             config: FinetuneConfig | None = None) -> FinetuneResult:
    """Fine-tune one Linear layer of a copy of ``model`` until every edit image is right.

    Parameters
    ----------
    model : the classifier (left unchanged; a deep copy is trained).
    images : ``(N, C, H, W)`` float in [0, 1], the edit images.
    labels : ``(N,)`` the classes they must get.
    """
    config = (config or FinetuneConfig()).validate()
    started = time.perf_counter()
    tuned = copy.deepcopy(model).eval()
    layer_name = choose_layer(tuned, config.layer)
    layer_split = split_at(tuned, layer_name, probe=images[:2])
    layer = layer_split.layer
    before = [p.detach().clone() for p in (layer.weight, layer.bias) if p is not None]
    inputs = _layer_input(tuned, layer, images)
    targets = labels.long()
    for parameter in tuned.parameters():
        parameter.requires_grad_(False)
    trained = [p for p in (layer.weight, layer.bias) if p is not None]
    for parameter in trained:
        parameter.requires_grad_(True)
    torch.manual_seed(config.seed)  # Adam is deterministic; the seed is recorded for the row
    optimizer = OPTIMIZERS[config.optimizer](trained, lr=config.learning_rate,
                                             weight_decay=config.weight_decay)

    def head(features: torch.Tensor) -> torch.Tensor:
        out = layer(features)
        for _, module in layer_split.suffix:
            out = module(out)
        return out

    steps, loss_value = 0, float("nan")
    with torch.enable_grad():
        while steps < config.max_steps:
            logits = head(inputs)
            if bool((logits.argmax(dim=1) == targets).all()):
                break
            loss = nn.functional.cross_entropy(logits, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_value = float(loss.detach())
            steps += 1
    for parameter in trained:
        parameter.requires_grad_(False)
    verification = verify(tuned, images, labels)
    deltas = torch.cat([(p.detach() - b).flatten() for p, b in zip(trained, before, strict=True)])
    change = {"linf": float(deltas.abs().max()), "l1": float(deltas.abs().sum()),
              "l2": float(deltas.norm())}
    seconds = time.perf_counter() - started
    log.info("fine-tuned %s for %d steps in %.1f s: %d/%d edit images right", layer_name, steps,
             seconds, verification.correct, verification.images)
    return FinetuneResult(tuned, layer_name, steps, seconds, loss_value, verification, config,
                          change)
