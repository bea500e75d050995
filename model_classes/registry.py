"""Name -> architecture. A CLI ``--arch`` flag maps to an entry here.

Besides our own classes, any torchvision classifier (``resnet18``, ``vgg11``, ...) can be named:
it is wrapped after the input transform, and its last Linear layer can be repaired like
AlexNet's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torchvision
from torch import nn

from helpers.errors import UserError
from helpers.transforms import CIFAR10_MEAN, CIFAR10_STD, InputTransform
from model_classes.alexnet import AlexNet
from model_classes.small import SmallCNN, SmallMLP

Builder = Callable[..., nn.Module]

ARCHITECTURES: dict[str, Builder] = {
    "alexnet": AlexNet,
    "small_mlp": SmallMLP,
    "small_cnn": SmallCNN,
}
DEFAULT_INPUT_SIZE = {"alexnet": 64, "small_mlp": 8, "small_cnn": 16}


class TorchvisionClassifier(nn.Sequential):
    """A torchvision classification model behind our input transform (child ``net``)."""

    def __init__(self, name: str, num_classes: int = 10, *, input_size: int = 64,
                 mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD):
        super().__init__(OrderedDict(
            preprocess=InputTransform(input_size, mean, std),
            net=torchvision.models.get_model(name, weights=None, num_classes=num_classes),
        ))


def available_architectures() -> list[str]:
    return [*sorted(ARCHITECTURES), "<any torchvision classifier, e.g. resnet18>"]


def build_model(arch: str, num_classes: int, *, input_size: int | None = None,
                mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD
                ) -> nn.Module:
    """Build an untrained model by name, in eval mode."""
    size = input_size or DEFAULT_INPUT_SIZE.get(arch, 64)
    if arch in ARCHITECTURES:
        model = ARCHITECTURES[arch](num_classes, input_size=size, mean=mean, std=std)
    elif arch in torchvision.models.list_models(module=torchvision.models):
        model = TorchvisionClassifier(arch, num_classes, input_size=size, mean=mean, std=std)
    else:
        raise UserError(f"unknown architecture {arch!r}; use one of "
                        f"{', '.join(sorted(ARCHITECTURES))} or a torchvision classifier name")
    return model.eval()
