"""CIFAR-10-C corruptions: range, shape, determinism, severity, and independent checks."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch

from helpers.cli import run_main
from helpers.corruptions import (
    CORRUPTIONS,
    FAMILIES,
    check_corruption,
    check_severity,
    corrupt_images,
    corrupted_split,
    disk_kernel,
)
from helpers.datasets import ImageSplit, load_split
from helpers.errors import UserError
from tests.data_factory import make_images

IMAGES = torch.from_numpy(make_images(6, side=16, seed=3, noise=40.0)[0])  # (6, 3, 16, 16)
# saturate's CIFAR parameters first lower the saturation (x0.3, x0.1), then raise it (x1.5 ...):
# by design its change grows from 1 to 2 (desaturating) and again from 3 to 5 (saturating).
NOT_MONOTONE_FROM_1 = {"saturate"}
# glass_blur's severities raise the blur (0.05 -> 0.4) and then the shuffle passes (1 -> 2); a
# stronger blur makes the shuffled neighbours more alike, so the mean change dips from 1 to 3
# before the second pass lifts it: only the two-pass severities exceed the one-pass ones.
STEPWISE_EXEMPT = {"glass_blur"}
# A warp's pixel change measures how far edges move, and CIFAR-10-C's elastic severities trade a
# shrinking affine jitter (2.6 -> 1.0 px) for a growing elastic field: the mean change falls
# (22 -> 14 of 255 on 200 real CIFAR test images) while the published error rates rise. It is
# checked as a warp instead (test_elastic_transform_is_a_warp).
GEOMETRIC = {"elastic_transform"}


def change(name: str, severity: int) -> float:
    out = corrupt_images(IMAGES, name, severity, seed=0)
    return float((out.float() - IMAGES.float()).abs().mean())


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_range_shape_and_determinism(name):
    first = corrupt_images(IMAGES, name, 3, seed=7)
    assert first.dtype == torch.uint8 and first.shape == IMAGES.shape
    assert torch.equal(first, corrupt_images(IMAGES, name, 3, seed=7))
    if CORRUPTIONS[name].random:
        assert not torch.equal(first, corrupt_images(IMAGES, name, 3, seed=8))
    # An image's result does not depend on the other images corrupted with it.
    alone = corrupt_images(IMAGES[4:5], name, 3, seed=7, indices=[4])
    assert torch.equal(alone[0], first[4])


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_severity_increases_the_change(name):
    if name in GEOMETRIC:
        pytest.skip(f"{name} moves pixels; its severity is not a pixel change (see GEOMETRIC)")
    changes = [change(name, s) for s in range(1, 6)]
    assert changes[0] > 0 or name == "jpeg_compression", changes
    start = 2 if name in NOT_MONOTONE_FROM_1 else 0
    if name in NOT_MONOTONE_FROM_1:
        assert changes[1] > changes[0], changes
    if name in STEPWISE_EXEMPT:
        assert min(changes[3:]) > max(changes[:3]) - 1.5 and changes[4] > changes[0], changes
        return
    for lower, higher in zip(changes[start:], changes[start + 1:], strict=False):
        assert higher >= lower - 0.15, changes  # noise-based ones within their draw's wobble
    assert changes[-1] > changes[start] + 1.0, changes


def test_elastic_transform_is_a_warp():
    """It only moves pixels: a flat image stays flat (within the reference's truncation to
    uint8, which turns an interpolated 76.99999 into 76) and values stay within the input's."""
    flat = torch.full((2, 3, 16, 16), 77, dtype=torch.uint8)
    for severity in range(1, 6):
        moved = corrupt_images(flat, "elastic_transform", severity)
        assert (moved.int() - flat.int()).abs().max() <= 1
    out = corrupt_images(IMAGES, "elastic_transform", 3)
    assert out.min() >= IMAGES.min() and out.max() <= IMAGES.max()


def test_every_family_is_covered():
    assert {c.family for c in CORRUPTIONS.values()} == set(FAMILIES)


def test_contrast_keeps_each_channels_mean_and_scales_deviations():
    x = IMAGES[0].permute(1, 2, 0).double().numpy() / 255
    expected = (x - x.mean(axis=(0, 1))) * 0.4 + x.mean(axis=(0, 1))  # severity 3: c = 0.4
    got = corrupt_images(IMAGES[:1], "contrast", 3)[0].permute(1, 2, 0).double().numpy()
    assert np.abs(got - np.floor(np.clip(expected, 0, 1) * 255)).max() <= 1


def test_brightness_against_the_standard_library_hsv():
    x = IMAGES[1].permute(1, 2, 0).double().numpy() / 255
    got = corrupt_images(IMAGES[1:2], "brightness", 5)[0].permute(1, 2, 0).numpy()
    for i, j in [(0, 0), (5, 11), (15, 15), (12, 3)]:
        h, s, v = colorsys.rgb_to_hsv(*x[i, j])
        expected = np.array(colorsys.hsv_to_rgb(h, s, min(v + 0.3, 1.0)))
        assert np.abs(got[i, j] - np.floor(np.clip(expected, 0, 1) * 255)).max() <= 1


def test_defocus_kernel_is_a_normalised_disk():
    kernel = disk_kernel(1.5, 0.1)
    assert kernel.shape == (17, 17)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    assert kernel[8, 8] == kernel.max() and kernel[0, 0] == 0


def test_corrupted_split_is_cached_and_keeps_identity(tiny_cifar_root):
    clean = load_split("cifar10", "test", data_root=tiny_cifar_root, download=False)
    foggy = corrupted_split(clean, "fog", 2)
    assert (foggy.dataset, foggy.split, len(foggy)) == (clean.dataset, clean.split, len(clean))
    assert foggy.corruption == {"corruption": "fog", "severity": 2, "corruption_seed": 0}
    assert torch.equal(foggy.labels, clean.labels)
    assert torch.equal(corrupted_split(clean, "fog", 2).images, foggy.images)  # from the cache
    assert torch.equal(foggy.images[:3], corrupt_images(clean.images[:3], "fog", 2))
    with pytest.raises(UserError, match="already corrupted"):
        corrupted_split(foggy, "fog", 2)


def test_unknown_corruption_and_bad_severity_are_user_errors():
    with pytest.raises(UserError, match=r"unknown corruption 'mist'.*fog"):
        check_corruption("mist")
    for bad in (0, 6, 2.5, True):
        with pytest.raises(UserError, match="severity must be"):
            check_severity(bad)
    split = ImageSplit("cifar10", "test", IMAGES, torch.zeros(6, dtype=torch.long), ["a"])
    with pytest.raises(UserError):
        corrupted_split(split, "fog", 9)


@pytest.mark.parametrize("flags, message", [
    (["--corruption", "mist"], "invalid choice: 'mist'"),
    (["--corruption", "fog", "--severity", "6"], "invalid choice: 6"),
    (["--corruption", "fog", "--severity", "0"], "invalid choice: 0"),
    ([], "corrupted needs --corruption"),
])
def test_cli_bad_corruption_input_is_one_line_and_exit_2(flags, message, capsys, tmp_path):
    from editset_generator import main

    code = run_main(main, ["corrupted", "--weights", str(tmp_path / "none.pth"), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert "Traceback" not in err


def test_real_cifar_images(real_cifar_root):
    """On real CIFAR-10 test images every corruption stays in range and grows with severity."""
    images = load_split("cifar10", "test", data_root=real_cifar_root).images[:40]
    for name in ("gaussian_noise", "defocus_blur", "fog", "contrast"):
        mild = corrupt_images(images, name, 1)
        severe = corrupt_images(images, name, 5)
        assert mild.shape == severe.shape == images.shape
        d1 = (mild.float() - images.float()).abs().mean()
        d5 = (severe.float() - images.float()).abs().mean()
        assert d5 > d1 > 0
