"""TracIn scores from the factored last layer: self-influence and test influence.

Two scores everywhere, because each misleads alone:

* **raw**: ``Σ_c lr_c ∇L(z, θ_c) · ∇L(z', θ_c)``, the paper's TracInCP. A few training images
  with a large loss have large gradients and top every list whatever the test image.
* **normalised**: the same sum of cosines, ``Σ_c lr_c cos(∇L(z, θ_c), ∇L(z', θ_c))``, which
  asks "same direction?" and not "how loud?". An image's cosine with itself is 1, so for
  *self*-influence the normalised score instead divides each checkpoint's term by that
  checkpoint's mean self-influence over the scored images: every checkpoint then counts by
  its learning rate alone, not by how large all gradients happen to be at that point of
  training (early checkpoints otherwise dominate the sum).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from helpers.datasets import ImageSplit
from helpers.errors import UserError
from influence.cache import FactorCache, indices_digest
from influence.factors import Factors, compute_factors, last_linear
from influence.run import RunCheckpoint

log = logging.getLogger(__name__)

EPS = 1e-12
CHUNK_ROWS = 8192  # training rows per matrix product: bounds the float32 copy of ``a``


@dataclass
class SelfInfluence:
    """Self-influence of M images of one split; arrays are (M,) unless said otherwise."""

    dataset: str
    split: str
    indices: torch.Tensor
    labels: torch.Tensor
    raw: torch.Tensor
    normalized: torch.Tensor
    per_checkpoint: torch.Tensor  # (C, M) raw term of each checkpoint (lr included)
    loss: torch.Tensor  # at the last checkpoint
    margin: torch.Tensor
    predicted: torch.Tensor
    checkpoints: list[RunCheckpoint]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class TestInfluence:
    """Top-k proponents and opponents among M training images for T test images.

    ``top[(score, kind)]`` for score in (raw, normalized) and kind in (proponents, opponents)
    is ``(positions (T, k) into the training indices, scores (T, k))``, strongest first.
    """

    test_labels: torch.Tensor
    test_predicted: torch.Tensor  # at the last checkpoint
    test_loss: torch.Tensor
    train_dataset: str
    train_split: str
    train_indices: torch.Tensor
    train_labels: torch.Tensor
    top: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]]
    checkpoints: list[RunCheckpoint]
    raw: torch.Tensor | None = None  # (T, M), kept when asked (tests, small runs)
    normalized: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)


class TracInLastLayer:
    """TracIn over the final Linear layer of every checkpoint of a run.

    ``bias=False`` drops the bias gradient (Captum's TracInCPFast does); ``cache`` holds the
    training side (:class:`influence.cache.FactorCache`).
    """

    def __init__(self, checkpoints: Sequence[RunCheckpoint], *, cache: FactorCache | None = None,
                 batch_size: int = 500, bias: bool = True,
                 activation_dtype: torch.dtype = torch.float16):
        if not checkpoints:
            raise UserError("no checkpoints to replay")
        self.checkpoints = list(checkpoints)
        self.cache = cache or FactorCache(None)
        self.batch_size = batch_size
        self.bias = bias
        self.activation_dtype = activation_dtype
        self.timings: dict[str, float] = {}

    # -- the training side ------------------------------------------------------------------

    def _train_factors(self, checkpoint: RunCheckpoint, model: torch.nn.Module | None,
                       split: ImageSplit, indices: torch.Tensor, data_digest: str, step: str
                       ) -> tuple[Factors, torch.nn.Module | None]:
        layer = last_linear(model, split.num_classes)[0] if model is not None else "last"
        key = self.cache.key(checkpoint.fingerprint, data_digest, indices_digest(indices),
                             f"last-linear:{self.activation_dtype}")
        cached = self.cache.get(key)
        if cached is not None:
            self._add("cache_hits", 1)
            return cached, model
        if model is None:
            model = self._load(checkpoint)
            layer = last_linear(model, split.num_classes)[0]
        factors = compute_factors(model, split.images[indices], split.labels[indices],
                                  num_classes=split.num_classes, batch_size=self.batch_size,
                                  activation_dtype=self.activation_dtype,
                                  progress=f"{step} epoch {checkpoint.epoch} ({layer})")
        self._add("forward_seconds", factors.forward_seconds)
        self._add("forward_images", len(indices))
        began = time.perf_counter()
        self.cache.put(key, factors)
        self._add("cache_write_seconds", time.perf_counter() - began)
        return factors, model

    def _load(self, checkpoint: RunCheckpoint) -> torch.nn.Module:
        began = time.perf_counter()
        model = checkpoint.load().model
        self._add("load_seconds", time.perf_counter() - began)
        return model

    def _add(self, name: str, value: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + value

    # -- self-influence ---------------------------------------------------------------------

    def self_influence(self, split: ImageSplit, indices: Sequence[int] | torch.Tensor | None
                       = None) -> SelfInfluence:
        """Self-influence ``Σ_c lr_c |∇L(z_i, θ_c)|²`` of the chosen images (all by default)."""
        began, self.timings = time.perf_counter(), {}
        indices = split.check_indices(range(len(split)) if indices is None else indices)
        digest = split.content_digest()
        per_checkpoint, normalized = [], torch.zeros(len(indices), dtype=torch.float64)
        factors = None
        for step, checkpoint in enumerate(self.checkpoints, 1):
            factors, _ = self._train_factors(checkpoint, None, split, indices, digest,
                                             f"self-influence {step}/{len(self.checkpoints)}")
            term = checkpoint.learning_rate * factors.gradient_sq_norm(bias=self.bias).double()
            per_checkpoint.append(term)
            normalized += term / max(float(term.mean()), EPS)
        assert factors is not None  # at least one checkpoint, checked in __init__
        per = torch.stack(per_checkpoint)
        self.timings["total_seconds"] = time.perf_counter() - began
        return SelfInfluence(split.dataset, split.split, indices, split.labels[indices],
                             per.sum(0), normalized, per, factors.loss.clone(),
                             factors.margin.clone(), factors.predicted.clone(),
                             self.checkpoints, dict(self.timings))

    # -- test influence ---------------------------------------------------------------------

    def influence(self, test_images: torch.Tensor, test_labels: torch.Tensor, split: ImageSplit,
                  indices: Sequence[int] | torch.Tensor | None = None, *, top_k: int = 20,
                  keep_scores: bool = False) -> TestInfluence:
        """Influence of each training image on each test image's loss; top-k both ways.

        ``test_images`` (T, C, H, W) float in [0, 1] or uint8; ``test_labels`` (T,), the labels
        whose loss is explained (an edit set's correct labels).
        """
        began, self.timings = time.perf_counter(), {}
        indices = split.check_indices(range(len(split)) if indices is None else indices)
        if test_images.shape[1:] != split.images.shape[1:]:
            raise UserError(f"the images to explain are {tuple(test_images.shape[1:])} but the "
                            f"training images {tuple(split.images.shape[1:])}: are they from "
                            "another data set?")
        if len(test_labels) and int(test_labels.max()) >= split.num_classes:
            raise UserError(f"a label to explain is {int(test_labels.max())}, but the data set "
                            f"has {split.num_classes} classes")
        digest = split.content_digest()
        t, m = len(test_labels), len(indices)
        raw = torch.zeros(t, m, dtype=torch.float64)
        normalized = torch.zeros(t, m, dtype=torch.float64)
        test = None
        for step, checkpoint in enumerate(self.checkpoints, 1):
            model = self._load(checkpoint)
            train, _ = self._train_factors(checkpoint, model, split, indices, digest,
                                           f"training side {step}/{len(self.checkpoints)}")
            test = compute_factors(model, test_images, test_labels.long(),
                                   num_classes=split.num_classes, batch_size=self.batch_size,
                                   activation_dtype=torch.float32)
            dot = self.gradient_dots(test, train)
            norms = torch.outer(test.gradient_sq_norm(bias=self.bias).sqrt(),
                                train.gradient_sq_norm(bias=self.bias).sqrt())
            raw += checkpoint.learning_rate * dot
            normalized += checkpoint.learning_rate * dot / norms.clamp_min(EPS)
        assert test is not None
        top = {}
        k = min(top_k, m)
        for name, scores in (("raw", raw), ("normalized", normalized)):
            for kind, largest in (("proponents", True), ("opponents", False)):
                values, positions = torch.topk(scores, k, dim=1, largest=largest, sorted=True)
                top[(name, kind)] = (positions, values)
        self.timings["total_seconds"] = time.perf_counter() - began
        return TestInfluence(test_labels.long(), test.predicted, test.loss, split.dataset,
                             split.split, indices, split.labels[indices], top, self.checkpoints,
                             raw if keep_scores else None,
                             normalized if keep_scores else None, dict(self.timings))

    def gradient_dots(self, test: Factors, train: Factors) -> torch.Tensor:
        """``∇_test · ∇_train`` (T, M) in float64, the training rows taken in chunks (the
        cached float16 activations are widened one chunk at a time)."""
        g_dot = (test.g.double() @ train.g.double().T)
        a_test = test.a.float()
        a_dot = torch.empty(len(test.g), len(train.g), dtype=torch.float64)
        for start in range(0, len(train.g), CHUNK_ROWS):
            chunk = train.a[start:start + CHUNK_ROWS].float()
            a_dot[:, start:start + CHUNK_ROWS] = (a_test @ chunk.T).double()
        return g_dot * (a_dot + (1.0 if self.bias else 0.0))
