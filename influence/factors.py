"""Last-layer gradient factors: what TracIn needs of one image at one checkpoint.

For a final ``Linear`` layer with input activation ``a`` and cross-entropy loss, the gradient
of the loss with respect to the logits is ``g = softmax(z) - onehot(y)``, and the gradient with
respect to the layer's weight and bias is ``g ⊗ [a, 1]``. So the dot product of two images'
gradients is ``(g_i · g_j)(a_i · a_j + 1)`` and a squared norm is ``|g|²(|a|² + 1)``: one
forward pass per image gives everything, with no backward pass and no ``(K x D)`` gradient per
image. Captum's TracInCPFast uses the same identity without the bias term.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from helpers.errors import UserError


@dataclass
class Factors:
    """Per-image factors at one checkpoint; N images, K classes, D layer inputs.

    ``g`` (N, K) float32 loss gradient wrt the logits; ``a`` (N, D) the last layer's input,
    float16 when cached (halves the cache; the tests bound the error); ``a_sq`` (N,) float32
    ``|a|²`` from the float32 activations; ``loss``, ``margin`` (N,) float32 (margin: the
    label's logit minus the largest other one, < 0 when wrong); ``predicted`` (N,) int64.
    """

    g: torch.Tensor
    a: torch.Tensor
    a_sq: torch.Tensor
    loss: torch.Tensor
    margin: torch.Tensor
    predicted: torch.Tensor
    forward_seconds: float = 0.0

    def gradient_sq_norm(self, *, bias: bool = True) -> torch.Tensor:
        """``|∇|²`` of each image's loss wrt the last layer's weight (and bias)."""
        return (self.g * self.g).sum(1) * (self.a_sq + (1.0 if bias else 0.0))

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {"g": self.g, "a": self.a, "a_sq": self.a_sq, "loss": self.loss,
                "margin": self.margin, "predicted": self.predicted}

    @classmethod
    def from_dict(cls, data: dict[str, torch.Tensor]) -> Factors:
        return cls(**{k: data[k] for k in ("g", "a", "a_sq", "loss", "margin", "predicted")})


def last_linear(model: nn.Module, num_classes: int) -> tuple[str, nn.Linear]:
    """The model's final ``Linear`` layer (its output must be the logits)."""
    named = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not named or named[-1][1].out_features != num_classes:
        raise UserError(f"the model has no final Linear layer with {num_classes} outputs; the "
                        "fast last-layer TracIn needs one (use --layers with the captum method)")
    return named[-1]


def compute_factors(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                    num_classes: int, batch_size: int = 500, activation_dtype: torch.dtype =
                    torch.float16, progress: str | None = None) -> Factors:
    """One batched forward pass over ``images`` (N, C, H, W), uint8 or float in [0, 1].

    The last layer's input is caught by a forward hook; ``forward_seconds`` is the time spent
    inside the model's forward calls, so callers can say how much of a run is anything else.
    """
    model.eval()
    _, layer = last_linear(model, num_classes)
    caught: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, inputs, _o: caught.append(inputs[0]))
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("g", "a", "a_sq", "loss", "margin",
                                                           "predicted")}
    forward = 0.0
    starts = range(0, len(images), batch_size)
    bar = tqdm(starts, desc=progress, unit="batch", leave=False, mininterval=2.0,
               disable=progress is None)
    try:
        with torch.inference_mode():
            for start in bar:
                batch = images[start:start + batch_size]
                batch = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float()
                y = labels[start:start + batch_size].long()
                caught.clear()
                began = time.perf_counter()
                logits = model(batch).float()
                forward += time.perf_counter() - began
                a = caught[-1].float().flatten(1)
                probs = logits.softmax(1)
                g = probs - F.one_hot(y, num_classes).float()
                own = logits.gather(1, y[:, None])[:, 0]
                other = logits.scatter(1, y[:, None], float("-inf")).max(1).values
                parts["g"].append(g)
                parts["a"].append(a.to(activation_dtype))
                parts["a_sq"].append((a * a).sum(1))
                parts["loss"].append(F.cross_entropy(logits, y, reduction="none"))
                parts["margin"].append(own - other)
                parts["predicted"].append(logits.argmax(1))
    finally:
        handle.remove()
    if not parts["g"]:
        raise UserError("no images to compute influence for")
    factors = Factors.from_dict({k: torch.cat(v) for k, v in parts.items()})
    factors.forward_seconds = forward
    return factors
