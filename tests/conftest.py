"""Shared fixtures: a tiny CIFAR-format data root and a small trained model on it.

Tests that need the real CIFAR-10 or the real base model use ``real_cifar_root`` /
``real_base_model``; those skip with the reason when the files are absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.cache import PROJECT_ROOT  # the one definition
from tests.data_factory import write_cifar_batches

CAT = 3  # class the stand-in repair (repaired_model_path) favours
REAL_CIFAR_ROOT = PROJECT_ROOT / "data"
REAL_BASE_MODEL = PROJECT_ROOT / "artifacts" / "alexnet_base.pth"

# Tests use tiny models: one thread is as fast, and it does not fight other work for the cores.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep decoded-tensor caches of test data out of the project's data/cache."""
    monkeypatch.setenv("ALEXNET_REPAIR_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_cifar_root(tmp_path_factory) -> Path:
    """300 training and 200 test images, 32 px, in the official CIFAR-10 batch format."""
    return write_cifar_batches(tmp_path_factory.mktemp("tiny_cifar"))


@pytest.fixture(scope="session")
def tiny_model_path(tiny_cifar_root, tmp_path_factory) -> Path:
    """A small MLP trained for a few epochs on the tiny data: right on most, wrong on some."""
    import os

    from model_classes.training import TrainConfig, train

    os.environ.setdefault("ALEXNET_REPAIR_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    out = tmp_path_factory.mktemp("tiny_model")
    torch.manual_seed(0)
    config = TrainConfig(arch="small_mlp", data_root=str(tiny_cifar_root), epochs=4,
                         batch_size=32, max_lr=0.05, run_name="tiny",
                         checkpoint_dir=str(out / "checkpoints"), output=str(out / "tiny.pth"))
    train(config)
    return out / "tiny.pth"


@pytest.fixture(scope="module")
def tiny(tiny_cifar_root, tiny_model_path):
    """The tiny test split and the tiny model's predicted class for each of its images."""
    from helpers.datasets import load_split
    from model_classes.checkpoints import load_checkpoint

    split = load_split("cifar10", "test", data_root=tiny_cifar_root, download=False)
    with torch.no_grad():
        predicted = load_checkpoint(tiny_model_path).model(split.unit_images()).argmax(dim=1)
    return split, predicted


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_path):
    """The tiny model, loaded once (read-only: tests that change a model copy it)."""
    from model_classes.checkpoints import load_checkpoint

    return load_checkpoint(tiny_model_path)


@pytest.fixture(scope="session")
def repaired_model_path(tiny_model_path, tmp_path_factory) -> Path:
    """The tiny model with the cat logit raised: a stand-in for a repair with side effects."""
    from model_classes.checkpoints import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(tiny_model_path)
    last = [m for m in loaded.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias[CAT] += 1.5
    return save_checkpoint(loaded.model, tmp_path_factory.mktemp("repaired") / "repaired.pth",
                           loaded.metadata)


@pytest.fixture(scope="session")
def visualizer_sets(tiny_model_path, tiny_cifar_root, tmp_path_factory) -> Path:
    """A folder of edit sets: three generated, one by hand, one corrupt, one not an edit set."""
    from editset_helpers.generation import Source, generate_edit_set
    from tests.edit_set_factory import write_hand_made_set

    folder = tmp_path_factory.mktemp("edit_sets")
    source = Source.load(tiny_model_path, data_root=tiny_cifar_root)
    generate_edit_set(source, "misclassified", folder / "misclassified_edit_dataset.pt")
    generate_edit_set(source, "closest", folder / "closest_edit_dataset.pt",
                      parameters={"min_true_prob": 0.0, "max_margin": 1.0})
    generate_edit_set(source, "class_homogeneous_correct", folder / "class_3_cat_edit_dataset.pt",
                      parameters={"target_class": CAT})
    write_hand_made_set(folder / "handmade.pt", source)
    (folder / "corrupt.pt").write_bytes(b"these bytes are not a torch file")
    torch.save({"weights": torch.zeros(3)}, folder / "not_an_edit_set.pt")
    return folder


@pytest.fixture(scope="session")
def real_cifar_root() -> Path:
    if not (REAL_CIFAR_ROOT / "cifar-10-batches-py" / "test_batch").exists():
        pytest.skip("real CIFAR-10 not present in data/cifar-10-batches-py (build it with "
                    "`uv run python ../shared/datasets/cifar10/build_cifar10_batches.py data/`)")
    return REAL_CIFAR_ROOT


@pytest.fixture(scope="session")
def real_base_model(real_cifar_root) -> Path:
    if not REAL_BASE_MODEL.exists():
        pytest.skip("real base model artifacts/alexnet_base.pth not present (train it with "
                    "`uv run python train.py`)")
    return REAL_BASE_MODEL


@pytest.fixture(scope="session")
def review_folder(tiny_cifar_root, tiny_model_path, tmp_path_factory):
    """Real data-quality reports of the tiny model on tiny data with planted label flips and a
    leaked training copy: ``(folder, flipped)``, ``folder/data`` and ``folder/dq``."""
    from tests.review_factory import make_review_folder

    return make_review_folder(tiny_cifar_root, tiny_model_path, tmp_path_factory.mktemp("review"))


@pytest.fixture(scope="module")
def chromium_browser():
    """Headless Debian Chromium through Playwright for one test module; skips, saying what is
    missing, when either is absent (no browser is ever downloaded)."""
    from editset_helpers.web.browser import BrowserUnavailable, chromium

    try:
        with chromium() as launched:
            yield launched
    except BrowserUnavailable as error:
        pytest.skip(f"no headless browser: {error}")
