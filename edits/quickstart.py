"""The whole job on a fresh machine: data, a base model, an edit set, a repair, a table.

Each step leaves its output in ``artifacts/quickstart/`` and is skipped when that output is
already there, so an interrupted quick start resumes and a finished one prints its table again
in seconds; ``--force`` redoes every step. A base model at ``artifacts/alexnet_base.pth`` (from
``train.py``) is used when it exists; otherwise a short schedule trains one.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from edits.config import RepairConfig
from edits.job import format_before_after, run_repair_job
from editset_helpers.generation import Source, generate_edit_set
from editset_helpers.io import load_edit_set
from helpers.atomic_io import atomic_write_json
from helpers.cache import PROJECT_ROOT
from helpers.cli import LABEL_OVERRIDES_HELP, non_negative_number, option, positive_int
from helpers.datasets import load_split
from helpers.devices import resolve_device
from helpers.errors import UserError
from helpers.paths import check_location
from model_classes.training import TrainConfig, train
from model_classes.training_budget import (
    FORWARD_SHARE,
    TrainingPlan,
    plan_training,
    time_training_steps,
)

log = logging.getLogger(__name__)

OFFLINE_BUILDER = PROJECT_ROOT.parent / "shared" / "datasets" / "cifar10" / \
    "build_cifar10_batches.py"


@dataclass
class QuickstartSettings:
    """The quick start's settings; each field is also ``quickstart.py``'s flag of that name."""

    data_root: Path = option(Path("data"), type=Path,
                             help="folder holding (or receiving) cifar-10-batches-py/")
    folder: Path = option(Path("artifacts/quickstart"), type=Path,
                          help="where the quick start keeps its outputs")
    base_model: Path = option(Path("artifacts/alexnet_base.pth"), type=Path,
                              help="used when it exists, instead of training a quick one")
    epochs: int = option(2, type=positive_int, help="quick training schedule (at most)")
    # The time this schedule takes is in README.md's quick-start section.
    train_subset: int | None = option(30_000, type=positive_int,
                                      help="training images the quick schedule uses (at most)")
    time_budget: float = option(
        540.0, type=non_negative_number,
        help="seconds the whole quick start aims at on this machine: a few training steps are "
             "timed and the schedule is cut to fit (written to training_plan.json); 0 trains "
             "--epochs x --train-subset whatever it takes")
    edit_set_size: int = option(100, type=positive_int,
                                help="misclassified test images to repair")
    label_overrides: Path | None = option(None, type=Path, metavar="FILE",
                                          help=LABEL_OVERRIDES_HELP)
    force: bool = option(False, help="redo every step")
    device: str = "auto"  # --device (helpers.cli.add_device_argument)
    repair: RepairConfig = field(default_factory=RepairConfig)


def ensure_cifar10(data_root: Path) -> None:
    """Load CIFAR-10, downloading it; offline, build it from ``../shared`` when that exists."""
    try:
        load_split("cifar10", "test", data_root=data_root)
        return
    except UserError:
        if not OFFLINE_BUILDER.exists():
            raise
    log.info("CIFAR-10 could not be downloaded; building it offline with %s", OFFLINE_BUILDER)
    subprocess.run([sys.executable, str(OFFLINE_BUILDER), str(data_root)], check=True)
    load_split("cifar10", "test", data_root=data_root)


def run_quickstart(settings: QuickstartSettings) -> dict:
    """Run (or resume) every step and return the repair report."""
    folder = settings.folder
    device = resolve_device(settings.device)
    check_location(folder, folder=True)  # before any work: a clear line, not a traceback
    folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    ensure_cifar10(settings.data_root)
    timings["data"] = time.perf_counter() - started

    started = time.perf_counter()
    weights = settings.base_model
    if not weights.exists():
        weights = folder / "alexnet_quick.pth"
        if settings.force or not weights.exists():
            config = TrainConfig(data_root=str(settings.data_root), epochs=settings.epochs,
                                 label_overrides=(str(settings.label_overrides)
                                                  if settings.label_overrides else None),
                                 train_subset=settings.train_subset, run_name="quick",
                                 checkpoint_dir=str(folder / "checkpoints"), output=str(weights),
                                 device=str(device))
            if settings.time_budget:
                config = _fit_to_budget(config, settings, folder,
                                        settings.time_budget - sum(timings.values()))
            log.info("no %s: training a quick base model (%d epochs of %s images)",
                     settings.base_model, config.epochs, config.train_subset or "all")
            train(config, force=settings.force)
    timings["model"] = time.perf_counter() - started

    started = time.perf_counter()
    edit_path = folder / "misclassified_edit_dataset.pt"
    source = None
    if settings.force or not edit_path.exists():
        source = Source.load(weights, data_root=settings.data_root, device=device,
                             label_overrides=settings.label_overrides)
        generate_edit_set(source, "misclassified", edit_path,
                          max_samples=settings.edit_set_size, seed=0, force=True)
    timings["edit_set"] = time.perf_counter() - started

    report_path = folder / "repair_report.json"
    if report_path.exists() and not settings.force:
        report = json.loads(report_path.read_text())
        if report.get("base_model", {}).get("path") == str(weights):
            return report
    started = time.perf_counter()
    source = source or Source.load(weights, data_root=settings.data_root, device=device,
                                   label_overrides=settings.label_overrides)
    train_split = load_split("cifar10", "train", data_root=settings.data_root,
                             label_overrides=settings.label_overrides)
    job = run_repair_job(source.loaded, load_edit_set(edit_path), settings.repair,
                         test_split=source.split, train_split=train_split,
                         output=folder / "alexnet_repaired.pth", report_path=report_path,
                         force=True, base_test_predictions=source.predictions.predicted)
    timings["repair_job"] = time.perf_counter() - started
    job.report["quickstart_seconds"] = timings
    return job.report


# Images the steps after training pass forward once: the edit-set search over the test split,
# the reference sample and the evaluation after the repair.
FORWARD_IMAGES_AFTER_TRAINING = 25_000
FIXED_SECONDS_AFTER_TRAINING = 30.0  # loading, the symbolic forward, the solve, the report


def _fit_to_budget(config: TrainConfig, settings: QuickstartSettings, folder: Path,
                   seconds_left: float) -> TrainConfig:
    """``config`` with its epochs and subset cut so the rest of the quick start fits."""
    train_split = load_split(config.dataset, "train", data_root=settings.data_root,
                             label_overrides=settings.label_overrides)
    per_batch = time_training_steps(config.arch, train_split, batch_size=config.batch_size)
    after = (FIXED_SECONDS_AFTER_TRAINING + FORWARD_SHARE * per_batch
             * FORWARD_IMAGES_AFTER_TRAINING / config.batch_size)
    plan: TrainingPlan = plan_training(
        per_batch, max(seconds_left - after, 0.0), epochs=config.epochs,
        train_subset=min(config.train_subset or len(train_split), len(train_split)),
        batch_size=config.batch_size, test_images=10_000)
    atomic_write_json(folder / "training_plan.json",
                      {**plan.to_dict(), "seconds_reserved_after_training": after})
    log.info("training plan: %d epoch(s) of %d images, about %.0f s (%.2f s per batch here)",
             plan.epochs, plan.train_subset, plan.expected_seconds, per_batch)
    return replace(config, epochs=plan.epochs, train_subset=plan.train_subset)


def summary(report: dict) -> str:
    return format_before_after(report)
