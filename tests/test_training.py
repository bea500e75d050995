"""Tiny training: seeded runs repeat exactly; a resumed run ends where a straight one does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.datasets import load_split
from helpers.errors import UserError
from model_classes import training
from model_classes.checkpoints import load_checkpoint
from model_classes.training import TrainConfig, train


@pytest.fixture(scope="module")
def splits(tiny_cifar_root):
    return (load_split("cifar10", "train", data_root=tiny_cifar_root, download=False),
            load_split("cifar10", "test", data_root=tiny_cifar_root, download=False))


def config_for(folder: Path, **changes) -> TrainConfig:
    settings = dict(arch="small_mlp", epochs=1, batch_size=64, max_lr=0.05, seed=0,
                    run_name="run", checkpoint_dir=str(folder / "checkpoints"),
                    output=str(folder / "model.pth"))
    return TrainConfig(**{**settings, **changes})


def run(folder: Path, splits, **changes) -> dict[str, torch.Tensor]:
    train(config_for(folder, **changes), train_split=splits[0], test_split=splits[1])
    return load_checkpoint(folder / "model.pth").model.state_dict()


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def test_same_seed_gives_identical_weights(tmp_path, splits):
    first = run(tmp_path / "a", splits, seed=3)
    second = run(tmp_path / "b", splits, seed=3)
    other = run(tmp_path / "c", splits, seed=4)
    assert_same_weights(first, second)
    assert not torch.equal(first["fc1.weight"], other["fc1.weight"])


@pytest.mark.parametrize("arch", ["small_mlp", "small_cnn"])  # small_cnn: dropout's RNG too
def test_resumed_run_equals_straight_run(tmp_path, splits, monkeypatch, arch):
    straight = run(tmp_path / "straight", splits, arch=arch, epochs=2)

    real_write = training.atomic_write_json

    def interrupt_after_first_epoch(path, obj):
        real_write(path, obj)
        raise KeyboardInterrupt  # as if Ctrl-C arrived right after epoch 1 was saved

    monkeypatch.setattr(training, "atomic_write_json", interrupt_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", splits, arch=arch, epochs=2)
    assert not (tmp_path / "resumed" / "model.pth").exists()
    monkeypatch.setattr(training, "atomic_write_json", real_write)

    resumed = run(tmp_path / "resumed", splits, arch=arch, epochs=2)
    assert_same_weights(straight, resumed)
    history = load_checkpoint(tmp_path / "resumed" / "model.pth").metadata.extra["training"]
    assert [h["epoch"] for h in history["history"]] == [1, 2]


def test_resume_with_other_settings_is_refused(tmp_path, splits):
    def train_with(**changes):
        train(config_for(tmp_path, **changes), train_split=splits[0], test_split=splits[1])

    train_with(epochs=1, output=str(tmp_path / "first.pth"))
    # Without the check, OneCycleLR would crash mid-epoch on a longer schedule it never planned.
    with pytest.raises(UserError, match=r"epochs 1 -> 2"):
        train_with(epochs=2, output=str(tmp_path / "second.pth"))
    with pytest.raises(UserError, match=r"max_lr 0\.05 -> 0\.1"):
        train_with(epochs=1, max_lr=0.1, output=str(tmp_path / "third.pth"))


def test_existing_output_is_refused_before_training(tmp_path, splits):
    (tmp_path / "model.pth").write_bytes(b"keep me")
    with pytest.raises(UserError, match="already exists; pass --force"):
        run(tmp_path, splits)
    assert (tmp_path / "model.pth").read_bytes() == b"keep me"
    assert not (tmp_path / "checkpoints").exists()


def test_train_script_writes_a_usable_model(tmp_path, tiny_cifar_root, capsys):
    import train as train_script

    output = tmp_path / "script.pth"
    code = train_script.main(["--arch", "small_mlp", "--data-root", str(tiny_cifar_root),
                              "--epochs", "1", "--batch-size", "64", "--run-name", "s",
                              "--checkpoint-dir", str(tmp_path / "ck"), "--output", str(output)])
    assert code == 0
    loaded = load_checkpoint(output)
    assert loaded.metadata.architecture == "small_mlp"
    assert loaded.metadata.class_names[3] == "cat"
    assert f"model written to {output}" in capsys.readouterr().out
    assert (tmp_path / "ck" / "s" / "epoch_001.pt").exists()
