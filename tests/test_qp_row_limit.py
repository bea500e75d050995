"""A repair whose QP would outgrow --max-qp-rows stops at once and says which rows grew."""

from __future__ import annotations

import pytest
import torch

from edits.config import RepairConfig
from edits.repair import repair
from helpers.datasets import load_split
from helpers.errors import UserError


def test_bound_rows_that_explode_are_named_with_the_cure(tiny_loaded, tiny, tiny_cifar_root):
    split, predicted = tiny
    wrong = torch.nonzero(predicted != split.labels).flatten()[:10]
    train = load_split("cifar10", "train", data_root=tiny_cifar_root)
    config = RepairConfig(margin=1.0, param_bound=1e-3, reference_size=300, max_qp_rows=60)
    with pytest.raises(UserError) as caught:
        repair(tiny_loaded.model, split.unit_images(wrong), split.labels[wrong], config,
               train_split=train)
    message = str(caught.value)
    assert "bound" in message and "--param-bound 0" in message
    assert "limit --max-qp-rows 60" in message
    unlimited = repair(tiny_loaded.model, split.unit_images(wrong), split.labels[wrong],
                       RepairConfig(margin=1.0, param_bound=None, reference_size=300,
                                    max_qp_rows=60), train_split=train)
    assert unlimited.status == "repaired"  # without the bound the same repair fits the limit
