"""Shared argument types: what argparse accepts is what the code can use, and every refusal is
one ``error:`` line with exit code 2; ``--device`` resolves or names what is missing."""

from __future__ import annotations

import argparse

import pytest
import torch

from helpers.cli import (
    ArgumentParser,
    add_class_list_argument,
    class_ids,
    fraction,
    max_samples,
    non_negative_int,
    number,
    positive_int,
    positive_number,
    run_main,
)
from helpers.devices import resolve_device
from helpers.errors import UserError


@pytest.mark.parametrize("text", ["²", "\u0661", "1.0", "1e3", "", " ", "0x10", "1_000", "--1",
                                  "9" * 5001, "9" * 19])
def test_integers_refuse_what_int_alone_would_misread(text):
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int(text)


def test_integers_accept_plain_digits_within_bounds():
    assert positive_int("42") == 42 and non_negative_int("0") == 0 and max_samples("-1") == -1
    for bad, convert in [("0", positive_int), ("-1", non_negative_int), ("0", max_samples),
                         ("-2", max_samples)]:
        with pytest.raises(argparse.ArgumentTypeError):
            convert(bad)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e999", "infinity", "\u0661",
                                  "0x1p3", "1,5", "", "1" * 100])
def test_numbers_refuse_nan_infinity_and_other_scripts(text):
    with pytest.raises(argparse.ArgumentTypeError):
        number(text)


def test_numbers_keep_their_bounds():
    assert number("-2.5") == -2.5 and number("1e-4") == 1e-4 and number(".5") == 0.5
    assert fraction("1") == 1.0
    for bad, convert in [("0", positive_number), ("1.01", fraction), ("-0.1", fraction)]:
        with pytest.raises(argparse.ArgumentTypeError):
            convert(bad)


def test_class_lists_take_spaces_and_the_seed_comma_list():
    parser = ArgumentParser(prog="x")
    add_class_list_argument(parser, "--target-classes", help="classes")
    assert parser.parse_args(["--target-classes", "0,1,2"]).target_classes == [0, 1, 2]
    assert parser.parse_args(["--target-classes", "3", "4,5"]).target_classes == [3, 4, 5]
    assert parser.parse_args([]).target_classes is None
    for bad in ["0,,1", "a,b", "1,-2", ","]:
        with pytest.raises(argparse.ArgumentTypeError):
            class_ids(bad)


def test_a_huge_number_is_one_line_and_exit_2(capsys):
    def main(argv):
        parser = ArgumentParser(prog="script.py")
        parser.add_argument("--count", type=positive_int)
        parser.parse_args(argv)
        return 0

    assert run_main(main, ["--count", "9" * 5001]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --count:") and err.count("\n") == 1
    assert "too large" in err and len(err) < 300


def test_device_cpu_and_auto_resolve_here():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_an_absent_cuda_device_is_a_user_error():
    with pytest.raises(UserError, match=r"--device cuda.*no CUDA GPU.*--device cpu"):
        resolve_device("cuda")
