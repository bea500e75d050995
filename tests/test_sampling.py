"""The class-balanced selector: exact quotas, class choice, shortfall, early stop, seeding."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from helpers.errors import UserError
from helpers.sampling import ClassBalancedSelector, resolve_classes, select_balanced

LABELS = torch.arange(200) % 10  # 20 images of each of 10 classes


def class_counts(selection, labels=LABELS) -> Counter:
    return Counter(int(labels[i]) for i in selection.indices)


def test_exact_quota_for_the_first_num_classes():
    selection = select_balanced(LABELS, 3, num_classes=4, seed=0)
    assert class_counts(selection) == {0: 3, 1: 3, 2: 3, 3: 3}
    assert len(set(selection.indices)) == 12
    assert selection.complete and not selection.exhausted
    assert selection.counts == {0: 3, 1: 3, 2: 3, 3: 3}


def test_target_classes_choose_exactly_those_classes():
    selection = select_balanced(LABELS, 5, target_classes=[0, 3, 5], seed=1)
    assert class_counts(selection) == {0: 5, 3: 5, 5: 5}
    assert selection.classes == [0, 3, 5]


def test_default_is_every_class():
    selection = select_balanced(LABELS, 2, seed=0)
    assert class_counts(selection) == dict.fromkeys(range(10), 2)


def test_shortfall_is_reported_not_hidden():
    labels = torch.tensor([0] * 10 + [1] * 10 + [2])  # class 2 has a single image
    selection = select_balanced(labels, 4, num_classes=3, seed=0)
    assert class_counts(selection, labels) == {0: 4, 1: 4, 2: 1}
    assert selection.shortfall == {2: 3} and not selection.complete and selection.exhausted
    assert "short: 2 bird by 3" in selection.summary(["airplane", "automobile", "bird"])


def test_candidates_restrict_the_pool():
    candidates = [i for i in range(200) if i % 7 == 0]
    selection = select_balanced(LABELS, 2, num_classes=10, candidates=candidates, seed=0)
    assert set(selection.indices) <= set(candidates)
    assert class_counts(selection) == dict.fromkeys(range(10), 2)


def test_same_seed_same_choice_other_seed_other_choice():
    a = select_balanced(LABELS, 3, num_classes=5, seed=7)
    b = select_balanced(LABELS, 3, num_classes=5, seed=7)
    c = select_balanced(LABELS, 3, num_classes=5, seed=8)
    assert a.indices == b.indices
    assert a.indices != c.indices


def test_offer_returns_true_once_full_and_takes_nothing_more():
    selector = ClassBalancedSelector(2, [0, 1])
    assert selector.offer([0, 1, 2], [0, 0, 1]) is False
    assert selector.offer([3, 4, 5], [0, 1, 1]) is True  # full after index 4
    assert selector.indices == [0, 1, 2, 4]
    assert selector.offer([6, 7], [0, 1]) is True and selector.indices == [0, 1, 2, 4]


def test_stream_is_not_read_past_the_point_where_quotas_are_met():
    read = []

    def batches():
        for start in range(0, 200, 10):
            read.append(start)
            yield list(range(start, start + 10)), LABELS[start:start + 10].tolist()

    selector = ClassBalancedSelector(1, range(10))
    for indices, labels in batches():
        if selector.offer(indices, labels):
            break
    assert read == [0]  # the first batch of 10 holds one image of each class
    assert selector.result(exhausted=False).complete


def test_bad_requests_are_user_errors():
    with pytest.raises(UserError, match="at least 1"):
        ClassBalancedSelector(0, [0])
    with pytest.raises(UserError, match=r"unknown class id\(s\) \[12\]"):
        resolve_classes(10, target_classes=[1, 12])
    with pytest.raises(UserError, match="between 1 and 10"):
        resolve_classes(10, num_classes=11)
    assert resolve_classes(10, num_classes=3) == [0, 1, 2]
