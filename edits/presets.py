"""Named bundles of repair options (``--preset NAME``), chosen by measurement.

A preset sets the options it names wherever the configuration still holds the default, so
``--preset large --keep-set 3000`` keeps the user's 3,000. What each preset costs and buys,
measured on the base model, is in docs/repair-measurements.md ("Drawdown at large N") and
benchmarks/results/drawdown_study.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Preset:
    overrides: dict[str, Any]
    summary: str


PRESETS: dict[str, Preset] = {
    "large": Preset(
        {"keep_set": 5000, "keep_rule": "boundary", "reference_neighbours": 5,
         "solver": "piqp"},
        "for hundreds to thousands of edit images: keep the 5,000 correctly classified training "
        "images nearest the decision boundary right, add each edit image's 5 nearest training "
        "images to the reference sample, solve with PIQP (N=1000, margin 0.5: drawdown 4.93 -> "
        "2.96 points; repair 64 -> 514 s)"),
}


def preset_help() -> str:
    return "; ".join(f"{name}: {preset.summary}" for name, preset in PRESETS.items())
