"""What ``compute_tracin_influence.py`` does, as functions a notebook can call.

The script parses flags and loads an edit set; everything else is here: which checkpoints,
which images, which method, where the result goes, and the checks that turn a mistake into
one line (an empty folder, mixed architectures, a checkpoint without its learning rate, images
of another data set).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from helpers.atomic_io import check_writable
from helpers.datasets import ImageSplit, load_split
from helpers.errors import UserError
from influence.cache import FactorCache, default_factor_dir
from influence.run import RunCheckpoint, find_checkpoints
from influence.tracin import SelfInfluence, TestInfluence, TracInLastLayer

log = logging.getLogger(__name__)

METHODS = ("factored", "captum-fast", "captum")
DEFAULT_OUTPUT_DIR = Path("results/tracin")


@dataclass
class InfluenceOptions:
    """Settings of one run; they go into the result's JSON as they are."""

    checkpoint_dir: str
    checkpoints: str = "all"
    dataset: str = "cifar10"
    data_root: str = "data"
    label_overrides: str | None = None
    method: str = "factored"
    layers: list[str] | None = None
    train_split: str = "train"
    limit: int | None = None  # the first N images of the training split only
    batch_size: int = 500
    top_k: int = 20
    cache_dir: str | None = None
    output: str | None = None
    force: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "force"}


def prepare(options: InfluenceOptions) -> tuple[list[RunCheckpoint], ImageSplit, torch.Tensor]:
    """The checkpoints, the training split and the training indices, each checked."""
    if options.method not in METHODS:
        raise UserError(f"--method must be one of {', '.join(METHODS)}, got {options.method!r}")
    if options.layers and options.method != "captum":
        raise UserError("--layers needs --method captum (the factored and captum-fast methods "
                        "use the last Linear layer)")
    checkpoints = find_checkpoints(options.checkpoint_dir, options.checkpoints)
    run_dataset = checkpoints[-1].dataset
    if run_dataset != options.dataset:
        raise UserError(f"the run in {options.checkpoint_dir} was trained on {run_dataset!r}, "
                        f"not --dataset {options.dataset!r}; pass --dataset {run_dataset}")
    split = load_split(options.dataset, options.train_split, data_root=options.data_root,
                       label_overrides=options.label_overrides)
    if split.num_classes != checkpoints[-1].num_classes:
        raise UserError(f"the run has {checkpoints[-1].num_classes} classes, {options.dataset} "
                        f"{split.num_classes}: is --data-root the data set it was trained on?")
    count = len(split) if options.limit is None else min(options.limit, len(split))
    return checkpoints, split, torch.arange(count)


def engine(options: InfluenceOptions, checkpoints: list[RunCheckpoint]):
    """The TracIn implementation ``--method`` names."""
    if options.method == "factored":
        cache = FactorCache(options.cache_dir or default_factor_dir())
        return TracInLastLayer(checkpoints, cache=cache, batch_size=options.batch_size)
    from influence.captum_backend import CaptumTracIn

    return CaptumTracIn(checkpoints, layers=options.layers,
                        fast=options.method == "captum-fast",
                        batch_size=min(options.batch_size, 256))


def default_output(options: InfluenceOptions, name: str) -> Path:
    return DEFAULT_OUTPUT_DIR / f"{name}.npz"


def run_self_influence(options: InfluenceOptions, *, split_name: str | None = None
                       ) -> tuple[SelfInfluence, Path, Path]:
    """Self-influence of every image of ``split_name`` (the training split by default)."""
    from influence.results import write_self_influence

    if split_name:
        options.train_split = split_name
    run = Path(options.checkpoint_dir).name
    output = Path(options.output or default_output(
        options, f"self_influence_{run}_{options.train_split}"))
    check_writable(output, force=options.force)
    checkpoints, split, indices = prepare(options)
    log.info("self-influence of %d %s/%s images over %d checkpoints (%s)", len(indices),
             split.dataset, split.split, len(checkpoints), options.method)
    result = engine(options, checkpoints).self_influence(split, indices)
    npz, summary = write_self_influence(result, output, class_names=split.class_names,
                                        settings=options.settings())
    return result, npz, summary


def check_explained_records(records: list[dict[str, Any]], dataset: str, where: str) -> None:
    """Every explained image must come from the data set the run was trained on."""
    others = sorted({str(r["dataset"]) for r in records
                     if r.get("dataset") not in (None, dataset)})
    if others:
        raise UserError(f"{where} holds images of {', '.join(others)}, but the run was trained "
                        f"on {dataset!r}; explain images of the run's own data set")


def run_test_influence(options: InfluenceOptions, images: torch.Tensor, labels: torch.Tensor,
                       records: list[dict[str, Any]], *, name: str, where: str
                       ) -> tuple[TestInfluence, Path, Path]:
    """Top proponents and opponents among the training images for each image to explain.

    ``images`` (T, C, H, W) float in [0, 1]; ``labels`` (T,) the labels whose loss is explained
    (an edit set's correct labels); ``records`` their identities; ``name`` names the output.
    """
    from influence.results import write_test_influence

    output = Path(options.output or default_output(options, f"influence_{name}"))
    check_writable(output, force=options.force)
    checkpoints, split, indices = prepare(options)
    check_explained_records(records, split.dataset, where)
    if len(labels) == 0:
        raise UserError(f"{where} holds no images to explain")
    log.info("influence of %d %s/%s training images on %d images over %d checkpoints (%s)",
             len(indices), split.dataset, split.split, len(labels), len(checkpoints),
             options.method)
    result = engine(options, checkpoints).influence(images, labels, split, indices,
                                                    top_k=options.top_k)
    npz, summary = write_test_influence(result, output, records=records,
                                        class_names=split.class_names,
                                        settings={**options.settings(), "explained": where})
    return result, npz, summary
