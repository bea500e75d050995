"""Configurations of a sweep: one :class:`TrialConfig` per repair, named by a stable hash.

A configuration is plain data (strings and numbers), so it pickles to a process pool or a
remote worker unchanged. Its ``experiment_id`` hashes the fields that decide the *result* and
leaves out where inputs are found, outputs go and the model runs (``data_root``,
``edit_sets_dir``, ``models_dir``, ``device``): moving the data or the output folders does not
make finished rows look new. The weights enter by their path as given (normalised), not by
content: sweeping a retrained model belongs in a new ``--output-file``.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from edits.config import RepairConfig
from editset_helpers.selectors import get_selector
from helpers.cli import field_default
from helpers.errors import UserError

SIZING_STRATEGIES = ("flexible", "strict")

SET_FOCUS = {  # what an edit set of each type asks the repair to do, in the seed runner's words
    "misclassified": "incorrect_only",
    "class_homogeneous_incorrect": "incorrect_only",
    "class_homogeneous_correct": "correct_only",
    "confident_wrong": "confident_wrong",
    "closest": "closest",
}

ID_LENGTH = 16
_LOCATION = {"identity": False}  # field metadata: where things are, not what is computed
# Field metadata: hashed only when set, so rows written before the field existed keep their ids.
_OPTIONAL = {"identity": "when-set"}


def set_focus(set_type: str) -> str:
    """The CSV's ``repair_set_focus``: the seed's ``incorrect_only`` / ``correct_only`` (and
    the type's own name for the ranked types and any newer selector)."""
    return SET_FOCUS.get(set_type, set_type)


def takes_target_class(set_type: str) -> bool:
    """Whether the selector is per class: read from its signature, so new selectors need no
    entry here."""
    return "target_class" in inspect.signature(get_selector(set_type)).parameters


# The repair fields that were hashed before every RepairConfig field was part of a trial: they
# always enter the hash; a newer field enters it only when it differs from its default, so the
# rows of older sweeps keep their experiment ids and are still recognised on a resume.
_ALWAYS_HASHED = frozenset({"margin", "param_bound", "layer", "norm", "geometry", "solver",
                            "seed", "time_limit", "keep_set", "reference_size"})


@dataclass(frozen=True, kw_only=True)
class TrialConfig(RepairConfig):
    """Everything one repair of a sweep needs; ``experiment_id`` names its row.

    The repair settings are :class:`RepairConfig`'s fields, defaults included; the fields below
    say which edit set to make and where files are.
    """

    repair_set_type: str
    requested_size: int
    target_class: int | None
    sizing: str
    weights: str
    dataset: str = "cifar10"
    corruption: str | None = field(default=None, metadata=_OPTIONAL)  # a shift: edit sets of it
    severity: int | None = field(default=None, metadata=_OPTIONAL)
    data_root: str = field(default="data", metadata=_LOCATION)
    edit_sets_dir: str = field(default="results/edit_sets", metadata=_LOCATION)
    models_dir: str | None = field(default="results/models", metadata=_LOCATION)  # None: no save
    device: str = field(default="auto", metadata=_LOCATION)  # --device; never changes a result
    # Data-quality inputs: the files are locations, their contents (hashes) are identity, and
    # only when given, so sweeps without them keep their experiment ids.
    label_overrides: str | None = field(default=None, metadata=_LOCATION)
    label_overrides_sha256: str | None = field(default=None, metadata=_OPTIONAL)
    exclude_flagged: str | None = field(default=None, metadata=_LOCATION)
    exclude_flagged_sha256: str | None = field(default=None, metadata=_OPTIONAL)

    def __post_init__(self) -> None:
        # One spelling per value, so the hash does not depend on 5 vs 5.0 or ./a vs a.
        for name in ("param_bound", "margin", "time_limit", "eps", "keep_margin",
                     "margin_slack"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))
        object.__setattr__(self, "weights", os.path.normpath(str(self.weights)))

    def identity(self) -> dict[str, Any]:
        """The fields that decide the result (the hashed part; see ``_ALWAYS_HASHED``)."""
        repair_fields = {f.name: f for f in fields(RepairConfig)}
        identity = {}
        for f in fields(self):
            kept = f.metadata.get("identity", True)
            value = getattr(self, f.name)
            if kept is False or (kept == "when-set" and value is None):
                continue
            if (f.name in repair_fields and f.name not in _ALWAYS_HASHED
                    and value == field_default(repair_fields[f.name])):
                continue
            identity[f.name] = value
        return identity

    @property
    def experiment_id(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]

    @property
    def set_label(self) -> str:
        """``misclassified`` or ``class_homogeneous_incorrect[3]``."""
        label = (self.repair_set_type if self.target_class is None
                 else f"{self.repair_set_type}[{self.target_class}]")
        return label if self.corruption is None else f"{label}@{self.corruption}{self.severity}"

    @property
    def label(self) -> str:
        """Short human name for logs: ``class_homogeneous_incorrect[3] n=50 bound=5 margin=2``."""
        bound = "none" if self.param_bound is None else f"{self.param_bound:g}"
        return f"{self.set_label} n={self.requested_size} bound={bound} margin={self.margin:g}"

    def repair_config(self) -> RepairConfig:
        """The repair settings alone, as a plain :class:`RepairConfig`."""
        return RepairConfig(**{f.name: getattr(self, f.name) for f in fields(RepairConfig)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expand_grid(template: TrialConfig, *, set_types: Sequence[str], sizes: Sequence[int],
                target_classes: Sequence[int], param_bounds: Sequence[float | None],
                margins: Sequence[float]) -> list[TrialConfig]:
    """The cross product, types outermost, in a fixed order, without duplicates.

    ``target_classes`` multiply only the per-class types (``class_homogeneous_*``); the other
    types get one configuration with ``target_class=None``. Every axis is checked here, so a
    mistake fails before any repair runs.
    """
    if template.sizing not in SIZING_STRATEGIES:
        raise UserError(f"unknown sizing strategy {template.sizing!r}; use "
                        f"{' or '.join(SIZING_STRATEGIES)}")
    template.repair_config().validate()
    if template.corruption is not None:
        from helpers.corruptions import check_corruption, check_severity

        check_corruption(template.corruption)
        check_severity(template.severity)
    for size in sizes:
        if size < 1:
            raise UserError(f"repair-set sizes must be positive, got {size}")
    for bound in param_bounds:
        replace(template, param_bound=bound).repair_config().validate()
    for margin in margins:
        replace(template, margin=margin).repair_config().validate()
    configs: dict[str, TrialConfig] = {}
    for set_type in set_types:
        get_selector(set_type)
        classes: Sequence[int | None] = (list(target_classes) if takes_target_class(set_type)
                                         else [None])
        if not classes:
            raise UserError(f"{set_type} needs target classes; give --target-classes")
        for target, size, bound, margin in itertools.product(classes, sizes, param_bounds,
                                                             margins):
            config = replace(template, repair_set_type=set_type, target_class=target,
                             requested_size=int(size), param_bound=bound, margin=margin)
            configs.setdefault(config.experiment_id, config)
    return list(configs.values())


def check_target_classes(target_classes: Sequence[int] | None, class_names: Sequence[str]
                         ) -> list[int]:
    """``None`` means every class; an id outside the data set is the user's mistake."""
    if target_classes is None:
        return list(range(len(class_names)))
    for target in target_classes:
        if not 0 <= target < len(class_names):
            raise UserError(f"unknown class {target}; classes are 0..{len(class_names) - 1} "
                            f"({', '.join(class_names)})")
    return list(dict.fromkeys(target_classes))
