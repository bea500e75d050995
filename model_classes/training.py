"""Train a base classifier: resumable, seeded, one checkpoint per epoch.

Each epoch's checkpoint keeps the weights, the optimiser state and the learning rates used, so a
run is resumed from its last complete epoch; the RNG states are saved with it, so a resumed run
ends where an uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from helpers.atomic_io import atomic_torch_save, atomic_write_json, check_writable
from helpers.datasets import ImageSplit, load_split
from helpers.errors import UserError
from helpers.inference import predict_labels
from helpers.paths import check_location
from helpers.transforms import augment_batch
from model_classes.checkpoints import ModelMetadata, save_checkpoint
from model_classes.registry import build_model

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    arch: str = "alexnet"
    dataset: str = "cifar10"
    data_root: str = "data"
    epochs: int = 10
    batch_size: int = 128
    max_lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    input_size: int | None = None
    train_subset: int | None = None  # first-N-per-seed subset, for short schedules
    run_name: str = "alexnet_base"
    checkpoint_dir: str = "artifacts/checkpoints"
    output: str = "artifacts/alexnet_base.pth"
    label_overrides: str | None = None  # a review page export (helpers.label_overrides)
    device: str = "cpu"  # where the forward and backward passes run; not part of identity()

    def validate(self) -> TrainConfig:
        """The checks the command line makes while parsing, for a notebook's config too: a
        batch size of 0 divides by zero and a NaN learning rate trains a model of NaNs."""
        def whole(name: str, low: int, value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"--{name.replace('_', '-')} must be a whole number >= {low}, "
                                f"got {value!r}")

        whole("epochs", 1, self.epochs)
        whole("batch_size", 1, self.batch_size)
        whole("seed", 0, self.seed)
        for name in ("input_size", "train_subset"):
            if getattr(self, name) is not None:
                whole(name, 1, getattr(self, name))
        for name, positive in (("max_lr", True), ("momentum", False), ("weight_decay", False)):
            value = getattr(self, name)
            ok = (isinstance(value, int | float) and not isinstance(value, bool)
                  and math.isfinite(value) and (value > 0 if positive else value >= 0))
            if not ok:
                raise UserError(f"--{name.replace('_', '-')} must be a finite number "
                                f"{'> 0' if positive else '>= 0'}, got {value!r}")
        return self

    def identity(self, train_images: int | None = None,
                 overrides_sha256: str | None = None) -> dict[str, Any]:
        """The settings that must match for a run to be resumed (not paths or epochs).

        ``train_images`` (the training split's size) keeps a run on one copy of a data set from
        being resumed on another, e.g. a test's tiny CIFAR-format folder; ``overrides_sha256``
        (the label-override file's hash, only when one is in force) one with other labels.
        """
        keys = ("arch", "dataset", "batch_size", "max_lr", "momentum", "weight_decay", "seed",
                "input_size", "train_subset")
        identity = {k: getattr(self, k) for k in keys}
        if train_images is not None:
            identity["train_images"] = train_images
        if overrides_sha256 is not None:
            identity["label_overrides_sha256"] = overrides_sha256
        return identity


@dataclass
class TrainResult:
    output: Path
    test_accuracy: float
    epochs_run: int
    seconds_per_epoch: list[float]


def train(config: TrainConfig, *, force: bool = False,
          train_split: ImageSplit | None = None, test_split: ImageSplit | None = None
          ) -> TrainResult:
    """Train (or resume) the run ``config.run_name`` and write the final checkpoint."""
    config.validate()
    output = check_writable(config.output, force=force)
    check_location(config.checkpoint_dir, folder=True)  # epoch files, written much later
    if config.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {config.epochs}")
    train_split = train_split or load_split(config.dataset, "train", data_root=config.data_root,
                                            label_overrides=config.label_overrides)
    test_split = test_split or load_split(config.dataset, "test", data_root=config.data_root,
                                          label_overrides=config.label_overrides)

    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    device = torch.device(config.device)
    model = build_model(config.arch, train_split.num_classes,
                        input_size=config.input_size).to(device)
    indices = _training_indices(train_split, config)
    steps_per_epoch = -(-len(indices) // config.batch_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.max_lr, momentum=config.momentum,
                                nesterov=True, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.max_lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch)

    run_dir = Path(config.checkpoint_dir) / config.run_name
    start_epoch, history = _resume(run_dir, config, model, optimizer, scheduler, generator, force,
                                   len(train_split), _overrides_sha256(train_split))
    seconds: list[float] = []
    for epoch in range(start_epoch, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = indices[torch.randperm(len(indices), generator=generator)]
        lrs, total_loss, seen = [], 0.0, 0
        bar = tqdm(range(0, len(order), config.batch_size), desc=f"epoch {epoch}/{config.epochs}",
                   unit="batch", mininterval=5.0)
        for start in bar:
            batch = order[start:start + config.batch_size]
            images = augment_batch(train_split.images[batch], generator).float().div_(255.0)
            loss = F.cross_entropy(model(images.to(device)),
                                   train_split.labels[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lrs.append(optimizer.param_groups[0]["lr"])
            scheduler.step()
            total_loss += loss.item() * len(batch)
            seen += len(batch)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", lr=f"{lrs[-1]:.4f}", refresh=False)
        accuracy = accuracy_on(model, test_split)
        seconds.append(time.perf_counter() - started)
        record = {"epoch": epoch, "train_loss": total_loss / seen, "test_accuracy": accuracy,
                  "lr_first": lrs[0], "lr_last": lrs[-1], "lr_mean": sum(lrs) / len(lrs),
                  "seconds": seconds[-1]}
        history.append(record)
        log.info("epoch %d: loss %.4f, test accuracy %.2f%%, %.0f s", epoch, record["train_loss"],
                 100 * accuracy, seconds[-1])
        _save_epoch(run_dir, epoch, config, model, optimizer, scheduler, generator, record,
                    train_split)
        atomic_write_json(run_dir / "history.json", {"config": asdict(config), "epochs": history})

    accuracy = history[-1]["test_accuracy"]
    metadata = _metadata(model, train_split, config, accuracy, history)
    save_checkpoint(model, output, metadata, force=True)  # checked writable at the start
    return TrainResult(output, accuracy, len(seconds), seconds)


def accuracy_on(model: torch.nn.Module, split: ImageSplit) -> float:
    predictions = predict_labels(model, split.images, progress="evaluating")
    return float((predictions == split.labels).float().mean())


def _overrides_sha256(split: ImageSplit) -> str | None:
    return split.label_overrides["sha256"] if split.label_overrides else None


def _training_indices(split: ImageSplit, config: TrainConfig) -> torch.Tensor:
    if config.train_subset is None:
        return torch.arange(len(split))
    if not 1 <= config.train_subset <= len(split):
        raise UserError(f"--train-subset must be between 1 and {len(split)}")
    generator = torch.Generator().manual_seed(config.seed + 1)
    return torch.randperm(len(split), generator=generator)[:config.train_subset].sort().values


def _metadata(model, split: ImageSplit, config: TrainConfig, accuracy: float,
              history: list[dict]) -> ModelMetadata:
    transform = model.preprocess
    return ModelMetadata(
        architecture=config.arch, num_classes=split.num_classes,
        input_size=transform.input_size, mean=transform.mean.flatten().tolist(),
        std=transform.std.flatten().tolist(), class_names=list(split.class_names),
        dataset=split.dataset, test_accuracy=accuracy,
        extra={"training": {"config": asdict(config), "history": history},
               **({"label_overrides": split.label_overrides} if split.label_overrides else {})},
    )


def _save_epoch(run_dir: Path, epoch: int, config: TrainConfig, model, optimizer, scheduler,
                generator: torch.Generator, record: dict, split: ImageSplit) -> None:
    metadata = _metadata(model, split, config, record["test_accuracy"], [])
    atomic_torch_save({
        "epoch": epoch,
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "scheduler_state": scheduler.state_dict(),
        "generator_state": generator.get_state(),
        "torch_rng_state": torch.get_rng_state(),
        "identity": json.dumps(config.identity(len(split), _overrides_sha256(split)),
                               sort_keys=True),
        "record": record,
        "metadata": metadata.to_dict(),
    }, run_dir / f"epoch_{epoch:03d}.pt")


def _resume(run_dir: Path, config: TrainConfig, model, optimizer, scheduler,
            generator: torch.Generator, force: bool, train_images: int,
            overrides_sha256: str | None = None) -> tuple[int, list[dict]]:
    epochs = sorted(run_dir.glob("epoch_*.pt"))
    if not epochs:
        return 1, []
    if force:
        log.info("--force: starting %s afresh (old epoch checkpoints are replaced)", run_dir)
        for path in epochs:
            path.unlink()
        return 1, []
    state = torch.load(epochs[-1], map_location="cpu", weights_only=True)
    saved = json.loads(state["identity"])
    saved_config = state.get("metadata", {}).get("extra", {}).get("training", {}).get("config", {})
    if "epochs" in saved_config:
        # Not in the identity (older runs lack it), yet the one-cycle schedule depends on it: a
        # changed --epochs would crash OneCycleLR or silently follow the old schedule.
        saved["epochs"] = saved_config["epochs"]
    current = {**config.identity(train_images, overrides_sha256), "epochs": config.epochs}
    if "train_images" not in saved:  # runs saved before the size was recorded
        current.pop("train_images")
    differ = sorted(k for k in saved.keys() | current.keys() if saved.get(k) != current.get(k))
    if differ:
        settings = ", ".join(f"{k} {saved.get(k)!r} -> {current.get(k)!r}" for k in differ)
        raise UserError(f"{run_dir} holds a run with other settings ({settings}); pass the same "
                        "settings to resume it, or --run-name NEW or --force to start afresh")
    model.load_state_dict(state["model_state"])
    optimizer.load_state_dict(state["optimizer_state"])
    scheduler.load_state_dict(state["scheduler_state"])
    generator.set_state(state["generator_state"])
    torch.set_rng_state(state["torch_rng_state"])
    history_file = run_dir / "history.json"
    history = json.loads(history_file.read_text())["epochs"] if history_file.exists() else []
    history = [h for h in history if h["epoch"] <= state["epoch"]]
    log.info("resuming %s after epoch %d", run_dir, state["epoch"])
    return state["epoch"] + 1, history
