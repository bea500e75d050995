"""Class-balanced selection of images: the same number from each chosen class.

The selector visits candidates in a seeded random order and stops as soon as every class has
its quota, so a stream of large batch files (ImageNet-style NPZ) need not be read to the end.
It reports what it achieved: a class with fewer images than asked is a shortfall the caller
sees, not a silent imbalance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from helpers.errors import UserError


@dataclass
class BalancedSelection:
    """Chosen indices (in visiting order) and the count reached per class."""

    indices: list[int]
    counts: dict[int, int]
    per_class: int
    classes: list[int]
    exhausted: bool = False  # the candidates ran out before every quota was met
    shortfall: dict[int, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.shortfall

    def summary(self, class_names: Sequence[str] | None = None) -> str:
        def name(c: int) -> str:
            return f"{c} {class_names[c]}" if class_names else str(c)

        parts = [f"{name(c)}: {self.counts[c]}" for c in self.classes]
        text = (f"{len(self.indices)} images, {self.per_class} per class requested "
                f"({', '.join(parts)})")
        if self.shortfall:
            text += "; short: " + ", ".join(f"{name(c)} by {n}" for c, n in self.shortfall.items())
        return text


class ClassBalancedSelector:
    """Accepts offered (index, label) pairs until each target class holds ``per_class``."""

    def __init__(self, per_class: int, classes: Sequence[int]):
        if per_class < 1:
            raise UserError(f"samples per class must be at least 1, got {per_class}")
        self.per_class = per_class
        self.classes = list(dict.fromkeys(int(c) for c in classes))
        self.counts = dict.fromkeys(self.classes, 0)
        self.indices: list[int] = []

    @property
    def done(self) -> bool:
        return all(n >= self.per_class for n in self.counts.values())

    def offer(self, indices: Iterable[int], labels: Iterable[int]) -> bool:
        """Take what fits; return True once every quota is met (the caller may stop reading)."""
        for index, label in zip(indices, labels, strict=True):
            label = int(label)
            if label in self.counts and self.counts[label] < self.per_class:
                self.counts[label] += 1
                self.indices.append(int(index))
                if self.done:
                    return True
        return self.done

    def result(self, *, exhausted: bool) -> BalancedSelection:
        shortfall = {c: self.per_class - n for c, n in self.counts.items() if n < self.per_class}
        return BalancedSelection(list(self.indices), dict(self.counts), self.per_class,
                                 list(self.classes), exhausted, shortfall)


def resolve_classes(num_available: int, *, num_classes: int | None = None,
                    target_classes: Sequence[int] | None = None) -> list[int]:
    """``target_classes`` as given, else the first ``num_classes`` ids, else every class."""
    if target_classes:
        bad = [c for c in target_classes if not 0 <= int(c) < num_available]
        if bad:
            raise UserError(f"unknown class id(s) {bad}; this data set has classes "
                            f"0..{num_available - 1}")
        return [int(c) for c in target_classes]
    if num_classes is not None:
        if not 1 <= num_classes <= num_available:
            raise UserError(f"--num-classes must be between 1 and {num_available}, "
                            f"got {num_classes}")
        return list(range(num_classes))
    return list(range(num_available))


def select_balanced(
    labels: torch.Tensor,
    per_class: int,
    *,
    num_available: int | None = None,
    num_classes: int | None = None,
    target_classes: Sequence[int] | None = None,
    candidates: Sequence[int] | torch.Tensor | None = None,
    seed: int = 0,
    shuffle: bool = True,
) -> BalancedSelection:
    """Pick ``per_class`` indices from each chosen class, in a seeded random order.

    Parameters
    ----------
    labels : (N,) int tensor, the labels of the whole split.
    candidates : indices allowed to be picked (default: all); the order among them is shuffled.
    shuffle : False visits ``candidates`` in the given order, so a ranked selection keeps its
        most extreme images of each class instead of a random share.
    num_available : how many classes the data set has (default: ``labels.max() + 1``).
    """
    labels = torch.as_tensor(labels)
    total = num_available if num_available is not None else int(labels.max()) + 1
    classes = resolve_classes(total, num_classes=num_classes, target_classes=target_classes)
    pool = torch.arange(len(labels)) if candidates is None else torch.as_tensor(candidates,
                                                                                dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    order = pool[torch.randperm(len(pool), generator=generator)] if shuffle else pool
    selector = ClassBalancedSelector(per_class, classes)
    done = selector.offer(order.tolist(), labels[order].tolist())
    return selector.result(exhausted=not done)
