"""Presets fill in the options they name, never over a value the user gave."""

from __future__ import annotations

import argparse

import pytest

from edits.config import RepairConfig, add_repair_arguments
from edits.presets import PRESETS
from helpers.errors import UserError


def _parse(*argv: str) -> RepairConfig:
    parser = argparse.ArgumentParser()
    add_repair_arguments(parser)
    return RepairConfig.from_args(parser.parse_args(list(argv)))


def test_a_preset_sets_its_options():
    config = _parse("--preset", "large")
    for name, value in PRESETS["large"].overrides.items():
        assert getattr(config, name) == value


def test_the_users_own_values_win_over_the_preset():
    config = _parse("--preset", "large", "--keep-set", "3000", "--margin", "0.5")
    assert config.keep_set == 3000 and config.margin == 0.5
    assert config.keep_rule == PRESETS["large"].overrides["keep_rule"]


def test_no_preset_changes_nothing_and_an_unknown_one_is_refused():
    assert RepairConfig().resolved() == RepairConfig()
    with pytest.raises(UserError, match="unknown preset"):
        RepairConfig(preset="huge").resolved()
