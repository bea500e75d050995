"""TracIn through Captum: ``TracInCP`` over named layers, ``TracInCPFast`` over the last one.

This is the route to layers beyond the last (``--method captum --layers features.10
classifier.6``) and the tests' oracle for :mod:`influence.tracin`. It computes per-example
gradients with autograd, one checkpoint at a time (each :class:`~captum.influence.TracInCP`
is built over a single checkpoint, so the normalised score can divide each checkpoint's dot
products by that checkpoint's gradient norms), and keeps every image's gradient in memory:
fine for thousands of images, not for 50,000 at AlexNet's 4096-wide layers. It has no on-disk
cache; the factored last layer has.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import TensorDataset

from helpers.datasets import ImageSplit
from helpers.errors import UserError
from influence.run import RunCheckpoint, load_learning_rate
from influence.tracin import EPS, SelfInfluence, TestInfluence

FAST_LAYER = "<last Linear>"


def _check_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    names = dict(model.named_modules())
    unknown = [name for name in layers if name not in names or name == ""]
    if unknown:
        with_params = [n for n, m in names.items() if n and any(True for _ in
                                                                m.parameters(recurse=False))]
        raise UserError(f"--layers {', '.join(unknown)}: no such layer; the model has "
                        f"{', '.join(with_params)}")
    return list(layers)


def _tracin(model: nn.Module, dataset: TensorDataset, checkpoint: RunCheckpoint,
            layers: Sequence[str] | None, batch_size: int, fast: bool):
    from captum.influence import TracInCP, TracInCPFast

    if fast:
        from influence.factors import last_linear

        _, layer = last_linear(model, model_classes(model))
        return TracInCPFast(model, layer, dataset, [str(checkpoint.path)],
                            checkpoints_load_func=load_learning_rate,
                            loss_fn=nn.CrossEntropyLoss(reduction="sum"), batch_size=batch_size)
    return TracInCP(model, dataset, [str(checkpoint.path)],
                    checkpoints_load_func=load_learning_rate,
                    layers=list(layers) if layers else None,
                    loss_fn=nn.CrossEntropyLoss(reduction="none"), batch_size=batch_size,
                    sample_wise_grads_per_batch=False)


def model_classes(model: nn.Module) -> int:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features


class CaptumTracIn:
    """Same results as :class:`influence.tracin.TracInLastLayer`, computed by Captum.

    ``layers`` None with ``fast`` False: every parameter of the model (Captum's default).
    ``fast``: TracInCPFast on the last Linear layer, weight only (no bias term).
    """

    def __init__(self, checkpoints: Sequence[RunCheckpoint], *, layers: Sequence[str] | None
                 = None, fast: bool = False, batch_size: int = 64):
        if not checkpoints:
            raise UserError("no checkpoints to replay")
        self.checkpoints = list(checkpoints)
        self.layers = layers
        self.fast = fast
        self.batch_size = batch_size

    def _dataset(self, split: ImageSplit, indices: torch.Tensor) -> TensorDataset:
        return TensorDataset(split.unit_images(indices), split.labels[indices])

    def _model(self, checkpoint: RunCheckpoint) -> nn.Module:
        model = checkpoint.load().model
        if self.layers:
            _check_layers(model, self.layers)
        return model

    def self_influence(self, split: ImageSplit, indices: Sequence[int] | torch.Tensor | None
                       = None) -> SelfInfluence:
        began = time.perf_counter()
        indices = split.check_indices(range(len(split)) if indices is None else indices)
        dataset = self._dataset(split, indices)
        terms, normalized = [], torch.zeros(len(indices), dtype=torch.float64)
        for checkpoint in self.checkpoints:
            model = self._model(checkpoint)
            tracin = _tracin(model, dataset, checkpoint, self.layers, self.batch_size, self.fast)
            term = tracin.self_influence(dataset.tensors).detach().double()
            terms.append(term)
            normalized += term / max(float(term.mean()), EPS)
        with torch.no_grad():
            logits = model(dataset.tensors[0])
        labels = dataset.tensors[1]
        loss = nn.functional.cross_entropy(logits, labels, reduction="none")
        own = logits.gather(1, labels[:, None])[:, 0]
        other = logits.scatter(1, labels[:, None], float("-inf")).max(1).values
        per = torch.stack(terms)
        return SelfInfluence(split.dataset, split.split, indices, labels, per.sum(0), normalized,
                             per, loss, own - other, logits.argmax(1), self.checkpoints,
                             {"total_seconds": time.perf_counter() - began})

    def influence(self, test_images: torch.Tensor, test_labels: torch.Tensor, split: ImageSplit,
                  indices: Sequence[int] | torch.Tensor | None = None, *, top_k: int = 20,
                  keep_scores: bool = False) -> TestInfluence:
        began = time.perf_counter()
        indices = split.check_indices(range(len(split)) if indices is None else indices)
        dataset = self._dataset(split, indices)
        test_images = test_images.float() / (255.0 if test_images.dtype == torch.uint8 else 1.0)
        test = (test_images, test_labels.long())
        raw = torch.zeros(len(test_labels), len(indices), dtype=torch.float64)
        normalized = torch.zeros_like(raw)
        for checkpoint in self.checkpoints:
            model = self._model(checkpoint)
            tracin = _tracin(model, dataset, checkpoint, self.layers, self.batch_size, self.fast)
            scores = tracin.influence(test).detach().double()
            self_test = tracin.self_influence(test).detach().double()
            self_train = tracin.self_influence(dataset.tensors).detach().double()
            raw += scores
            norms = torch.outer(self_test, self_train).sqrt().clamp_min(EPS)
            normalized += checkpoint.learning_rate * scores / norms
        with torch.no_grad():
            logits = model(test_images)
        top = {}
        k = min(top_k, len(indices))
        for name, values in (("raw", raw), ("normalized", normalized)):
            for kind, largest in (("proponents", True), ("opponents", False)):
                v, p = torch.topk(values, k, dim=1, largest=largest, sorted=True)
                top[(name, kind)] = (p, v)
        return TestInfluence(test_labels.long(), logits.argmax(1),
                             nn.functional.cross_entropy(logits, test_labels.long(),
                                                         reduction="none"),
                             split.dataset, split.split, indices, split.labels[indices], top,
                             self.checkpoints, raw if keep_scores else None,
                             normalized if keep_scores else None,
                             {"total_seconds": time.perf_counter() - began})
