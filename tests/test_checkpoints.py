"""Checkpoints: save -> load is the same function; plain torchvision weights load; no overwrites."""

from __future__ import annotations

import pytest
import torch
import torchvision

from helpers.errors import NotFoundError, UserError
from helpers.transforms import CIFAR10_MEAN, CIFAR10_STD, InputTransform
from model_classes.checkpoints import ModelMetadata, load_checkpoint, save_checkpoint
from model_classes.registry import build_model


def inputs(n: int = 3, side: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def alexnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("alexnet", 10)


def test_small_mlp_round_trip_is_the_same_function(tmp_path):
    torch.manual_seed(1)
    model = build_model("small_mlp", 7, input_size=6)
    metadata = ModelMetadata(architecture="small_mlp", num_classes=7, input_size=6,
                             class_names=[f"k{i}" for i in range(7)], dataset="npz:x",
                             test_accuracy=0.5, extra={"note": "kept"})
    path = save_checkpoint(model, tmp_path / "mlp.pth", metadata)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded.model(inputs()), model.eval()(inputs()))
    assert loaded.metadata.input_size == 6 and loaded.class_names[6] == "k6"
    assert loaded.metadata.extra == {"note": "kept"} and loaded.metadata.created
    assert not loaded.model.training


def test_alexnet_round_trip_is_the_same_function(tmp_path, alexnet):
    path = save_checkpoint(alexnet, tmp_path / "alexnet.pth", ModelMetadata())
    loaded = load_checkpoint(path)
    x = inputs(2)
    assert torch.equal(loaded.model(x), alexnet.eval()(x))
    assert list(loaded.model.state_dict()) == list(alexnet.state_dict())
    assert "features.0.weight" in loaded.model.state_dict()  # torchvision's key names


def test_plain_torchvision_alexnet_state_dict_loads(tmp_path):
    torch.manual_seed(2)
    reference = torchvision.models.alexnet(weights=None, num_classes=10).eval()
    torch.save(reference.state_dict(), tmp_path / "plain.pth")
    loaded = load_checkpoint(tmp_path / "plain.pth")
    assert loaded.metadata.architecture == "alexnet" and loaded.metadata.num_classes == 10
    x = inputs(2)
    expected = reference(InputTransform(64, CIFAR10_MEAN, CIFAR10_STD)(x))
    assert torch.allclose(loaded.model(x), expected, atol=1e-6)


def test_refuses_to_overwrite_without_force(tmp_path):
    model_a = build_model("small_mlp", 10)
    path = save_checkpoint(model_a, tmp_path / "m.pth", ModelMetadata(architecture="small_mlp",
                                                                      input_size=8))
    before = path.read_bytes()
    with pytest.raises(UserError, match="already exists; pass --force"):
        save_checkpoint(build_model("small_mlp", 10), path, ModelMetadata("small_mlp"))
    assert path.read_bytes() == before
    torch.manual_seed(3)
    model_b = build_model("small_mlp", 10)
    save_checkpoint(model_b, path, ModelMetadata(architecture="small_mlp", input_size=8),
                    force=True)
    assert torch.equal(load_checkpoint(path).model(inputs()), model_b(inputs()))
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_training_epoch_checkpoint_loads(tmp_path):
    model = build_model("small_mlp", 10)
    torch.save({"epoch": 1, "model_state": model.state_dict(),
                "metadata": ModelMetadata(architecture="small_mlp", input_size=8).to_dict()},
               tmp_path / "epoch_001.pt")
    assert torch.equal(load_checkpoint(tmp_path / "epoch_001.pt").model(inputs()),
                       model(inputs()))


def test_bad_files_are_user_errors(tmp_path):
    with pytest.raises(NotFoundError, match="--weights"):
        load_checkpoint(tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(UserError, match="not a readable model weights file"):
        load_checkpoint(tmp_path / "junk.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="not torchvision AlexNet's"):
        load_checkpoint(tmp_path / "other.pth")
    mlp = build_model("small_mlp", 10)
    torch.save({"state_dict": mlp.state_dict(),
                "metadata": ModelMetadata(architecture="small_mlp", num_classes=5,
                                          input_size=8).to_dict()}, tmp_path / "wrong.pth")
    with pytest.raises(UserError, match="does not fit architecture 'small_mlp' with 5 classes"):
        load_checkpoint(tmp_path / "wrong.pth")
