"""Batch augmentation (crops are shifted copies, flips mirrors) and the model's input transform."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from helpers.transforms import CIFAR10_MEAN, CIFAR10_STD, InputTransform, augment_batch


def random_images(n: int = 16, side: int = 12, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, side, side), generator=generator, dtype=torch.uint8)


def test_no_padding_no_flip_is_the_identity():
    images = random_images()
    out = augment_batch(images, torch.Generator().manual_seed(0), padding=0, flip=False)
    assert torch.equal(out, images)


def test_crops_are_shifted_copies_of_the_padded_image():
    images = random_images()
    padding = 3
    out = augment_batch(images, torch.Generator().manual_seed(1), padding=padding, flip=False)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    padded = F.pad(images.float(), (padding,) * 4, mode="reflect").to(torch.uint8)
    side = images.shape[-1]
    shifts = []
    for image, crop in zip(padded, out, strict=True):
        found = [(dy, dx) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)
                 if torch.equal(image[:, dy:dy + side, dx:dx + side], crop)]
        assert found, "a crop is not a window of the padded image"
        shifts.append(found[0])
    assert len(set(shifts)) > 1  # not one shift for the whole batch


def test_flips_are_mirrors_and_both_outcomes_occur():
    images = random_images(n=64)
    out = augment_batch(images, torch.Generator().manual_seed(2), padding=0, flip=True)
    same = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert any(same) and any(mirrored)


def test_same_generator_seed_same_augmentation():
    images = random_images()
    a = augment_batch(images, torch.Generator().manual_seed(5))
    b = augment_batch(images, torch.Generator().manual_seed(5))
    c = augment_batch(images, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_input_transform_resizes_normalises_and_has_no_state():
    transform = InputTransform(16, CIFAR10_MEAN, CIFAR10_STD)
    mean_image = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1).expand(2, 3, 8, 8)
    out = transform(mean_image)
    assert out.shape == (2, 3, 16, 16)
    assert torch.allclose(out, torch.zeros_like(out), atol=1e-6)
    one_std_up = torch.tensor(CIFAR10_MEAN) + torch.tensor(CIFAR10_STD)
    out = transform(one_std_up.view(1, 3, 1, 1).expand(1, 3, 16, 16))
    assert torch.allclose(out, torch.ones_like(out), atol=1e-5)
    assert transform.state_dict() == {}
