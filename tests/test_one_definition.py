"""Every repair option is declared once: each script has exactly one flag per RepairConfig
field, with the field's default; the sweep's and the quick start's settings agree with it."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

import experiment_runner
import quickstart
import run_repair
from edits.config import RepairConfig
from edits.experiments.grid import TrialConfig
from edits.quickstart import QuickstartSettings
from helpers.cli import field_default, flag_of, option_fields


def _run_parser(module) -> argparse.ArgumentParser:
    parser = module.build_parser()
    if module is experiment_runner:  # the flags live on the `run` command
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return subparsers.choices["run"]
    return parser


SCRIPTS = {"run_repair.py": run_repair, "experiment_runner.py": experiment_runner,
           "quickstart.py": quickstart}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_repair_field_has_exactly_one_flag_with_the_same_default(script):
    parser = _run_parser(SCRIPTS[script])
    axes = getattr(SCRIPTS[script], "GRID_AXES", ())
    for field in dataclasses.fields(RepairConfig):
        actions = [a for a in parser._actions if a.dest == field.name]
        assert len(actions) == 1, f"{script}: {len(actions)} flags set {field.name}"
        (action,) = actions
        assert action.option_strings == [flag_of(field)], (script, action.option_strings)
        expected = field_default(field)
        default = action.default
        if field.name in axes:
            assert default == [expected], (script, field.name, default)
        else:
            assert default == expected, f"{script}: --{field.name} defaults to {default!r}, " \
                                        f"RepairConfig to {expected!r}"
    # Nothing else writes to a repair field under another name.
    repair_names = {f.name for f in dataclasses.fields(RepairConfig)}
    assert len([a for a in parser._actions if a.dest in repair_names]) == len(repair_names)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_parsing_no_flags_gives_the_default_config(script):
    module = SCRIPTS[script]
    parser = _run_parser(module)
    argv = ["misclassified"] if module is run_repair else []
    args = parser.parse_args(argv)
    values = RepairConfig.values_from_args(args)
    for name in getattr(module, "GRID_AXES", ()):
        values[name] = values[name][0]
    assert RepairConfig(**values) == RepairConfig()


def test_flags_reach_the_config_converted():
    args = run_repair.build_parser().parse_args(
        ["misclassified", "--param-bound", "0", "--neurons", "3", "7", "--margin", "0.5",
         "--norm", "linf", "--max-rounds", "4"])
    config = RepairConfig.from_args(args)
    assert config.param_bound is None and config.neurons == [3, 7]
    assert (config.margin, config.norm, config.max_rounds) == (0.5, "linf", 4)


def test_the_sweep_trial_inherits_every_repair_default():
    trial_fields = {f.name: f for f in dataclasses.fields(TrialConfig)}
    for field in dataclasses.fields(RepairConfig):
        assert field_default(trial_fields[field.name]) == field_default(field), field.name
    trial = TrialConfig(repair_set_type="misclassified", requested_size=1, target_class=None,
                        sizing="flexible", weights="w.pth")
    assert trial.repair_config() == RepairConfig()


def test_quickstart_flags_are_its_settings_defaults():
    parser = quickstart.build_parser()
    for field in option_fields(QuickstartSettings):
        (action,) = [a for a in parser._actions if a.dest == field.name]
        assert action.default == field_default(field), field.name
    args = parser.parse_args([])
    settings = QuickstartSettings(**{f.name: getattr(args, f.name)
                                     for f in option_fields(QuickstartSettings)})
    assert settings == QuickstartSettings()
