"""Small sequential classifiers: fast stand-ins for AlexNet in tests and quick experiments.

They have the same shape of problem as AlexNet's classifier (Linear, ReLU, Linear at the end),
so everything the repair engine does on AlexNet runs on them in a fraction of a second.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from helpers.transforms import CIFAR10_MEAN, CIFAR10_STD, InputTransform


class SmallMLP(nn.Sequential):
    def __init__(self, num_classes: int = 10, *, input_size: int = 8,
                 mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD,
                 hidden: int = 32, channels: int = 3):
        super().__init__(OrderedDict(
            preprocess=InputTransform(input_size, mean, std),
            flatten=nn.Flatten(1),
            fc1=nn.Linear(channels * input_size * input_size, hidden),
            relu1=nn.ReLU(),
            fc2=nn.Linear(hidden, hidden),
            relu2=nn.ReLU(),
            fc3=nn.Linear(hidden, num_classes),
        ))


class SmallCNN(nn.Sequential):
    def __init__(self, num_classes: int = 10, *, input_size: int = 16,
                 mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD,
                 width: int = 8, hidden: int = 32):
        side = input_size // 2
        super().__init__(OrderedDict(
            preprocess=InputTransform(input_size, mean, std),
            conv=nn.Conv2d(3, width, 3, padding=1),
            relu0=nn.ReLU(),
            pool=nn.MaxPool2d(2),
            flatten=nn.Flatten(1),
            fc1=nn.Linear(width * side * side, hidden),
            relu1=nn.ReLU(),
            dropout=nn.Dropout(0.1),
            fc2=nn.Linear(hidden, num_classes),
        ))
