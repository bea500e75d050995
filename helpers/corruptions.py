"""CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019) with the CIFAR parameters.

Why written here: the maintained package, ``imagecorruptions``, carries the *ImageNet*
parameters (a fog of 224-pixel images, blurs sized for them) and calls scikit-image's removed
``multichannel=`` argument and ImageMagick (Wand); ``torchvision.transforms.v2`` and ``kornia``
offer blurs, noise and JPEG but not these formulas (CIFAR-10-C's contrast keeps each channel's
own mean, its fog is a plasma fractal, its zoom blur averages 6-26 zooms). So the formulas of
the reference script (``make_cifar_c.py`` of the CIFAR-10-C release) are followed line by line
with the libraries we already have: NumPy, SciPy's ``ndimage`` (for scikit-image's and OpenCV's
filters, with their border modes) and Pillow (JPEG and the box resize of pixelate). Parameters
are the CIFAR ones, per severity 1..5, quoted in :data:`CORRUPTIONS`.

``motion_blur`` and ``snow`` use ImageMagick's motion blur in the reference; here it is the
NumPy line kernel ``imagecorruptions`` switched to (whole-pixel taps: close to, not bit-exact
with, ImageMagick). ``elastic_transform``'s OpenCV affine warp is SciPy's ``affine_transform``
with the same border rule. Not here (each needs what we do not ship): ``frost`` (the
release's frost photographs) and ``spatter`` (OpenCV's Canny edges, distance transform and
histogram equalisation).

Determinism: image ``i`` of a split gets its own NumPy generator seeded by ``(seed, corruption,
severity, i)``, so a corrupted image is the same whatever other images are corrupted with it,
and a subset of a split equals the same subset of the corrupted whole split. As in the
reference, the corrupted float image is truncated (not rounded) to ``uint8``.
"""

from __future__ import annotations

import io
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from helpers.cache import cached_tensors
from helpers.cli import integer_type, non_negative_int
from helpers.datasets import ImageSplit
from helpers.errors import UserError

log = logging.getLogger(__name__)

SEVERITIES = (1, 2, 3, 4, 5)
FAMILIES = ("noise", "blur", "weather", "digital")
FORMAT_VERSION = "c2"  # part of the cache key: bump when a formula changes

# One corruption: image (H, W, C) float64 in [0, 1], its parameter, a generator -> float
# image in [0, 1] (values outside are clipped by the caller).
Function = Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Corruption:
    """A CIFAR-10-C corruption: its family, its function and its five CIFAR parameters."""

    name: str
    family: str
    parameters: tuple[Any, ...]  # severity s uses parameters[s - 1]
    function: Function
    random: bool = True  # whether the result depends on the seed

    def parameter(self, severity: int) -> Any:
        return self.parameters[check_severity(severity) - 1]


CORRUPTIONS: dict[str, Corruption] = {}


def register(name: str, family: str, parameters: Sequence[Any], *, random: bool = True
             ) -> Callable[[Function], Function]:
    def decorate(function: Function) -> Function:
        if len(parameters) != len(SEVERITIES):
            raise ValueError(f"{name}: need one parameter per severity")
        CORRUPTIONS[name] = Corruption(name, family, tuple(parameters), function, random)
        return function
    return decorate


# ----------------------------------------------------------------------------- noise


@register("gaussian_noise", "noise", [0.04, 0.06, 0.08, 0.09, 0.10])
def gaussian_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(size=x.shape, scale=c)


@register("shot_noise", "noise", [500, 250, 100, 75, 50])
def shot_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return rng.poisson(x * c) / c


@register("impulse_noise", "noise", [0.01, 0.02, 0.03, 0.05, 0.07])
def impulse_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper on a fraction ``c`` of the values, half each (scikit-image's ``s&p``)."""
    out = x.copy()
    flipped = rng.random(x.shape) < c
    salted = rng.random(x.shape) < 0.5
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return out


@register("speckle_noise", "noise", [0.06, 0.1, 0.12, 0.16, 0.2])
def speckle_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return x + x * rng.normal(size=x.shape, scale=c)


# ----------------------------------------------------------------------------- blur


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """scikit-image's ``gaussian(x, sigma, multichannel=True)``: nearest border, truncate 4."""
    return ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0)


@register("gaussian_blur", "blur", [0.4, 0.6, 0.7, 0.8, 1.0], random=False)
def gaussian_blur(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    return _gaussian(x, c)


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The reference's anti-aliased disk: a 17x17 (or larger) 0/1 disk, normalised, then a 3x3
    Gaussian blur of ``alias_blur`` (OpenCV's ``GaussianBlur``: reflect-101 border)."""
    half = 8 if radius <= 8 else int(np.ceil(radius))
    taps = 3 if radius <= 8 else 5
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)
    disk /= disk.sum()
    offsets = np.arange(taps) - taps // 2
    weights = np.exp(-(offsets ** 2) / (2.0 * alias_blur ** 2))
    weights /= weights.sum()
    blurred = ndimage.correlate1d(disk, weights, axis=0, mode="mirror")
    return ndimage.correlate1d(blurred, weights, axis=1, mode="mirror")


@register("defocus_blur", "blur", [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
          random=False)
def defocus_blur(x: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    kernel = disk_kernel(*c).astype(np.float64)
    # OpenCV's filter2D per channel: a correlation with a reflect-101 (SciPy "mirror") border.
    return np.stack([ndimage.correlate(x[..., d], kernel, mode="mirror")
                     for d in range(x.shape[2])], axis=2)


@register("glass_blur", "blur",
          [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)])
def glass_blur(x: np.ndarray, c: tuple[float, int, int], rng: np.random.Generator) -> np.ndarray:
    """Blur, shuffle pixels locally (``max_delta``, ``iterations`` passes), blur again.

    The reference's "swap" assigns through NumPy views, so it copies the neighbour's pixel and
    leaves the neighbour as it was; CIFAR-10-C was made that way, and so is this.
    """
    sigma, delta, iterations = c
    pixels = (np.clip(_gaussian(x, sigma), 0, 1) * 255).astype(np.uint8)
    height, width = pixels.shape[:2]
    for _ in range(iterations):
        for h in range(height - delta, delta, -1):
            for w in range(width - delta, delta, -1):
                dx, dy = rng.integers(-delta, delta, size=2)
                hp, wp = h + dy, w + dx
                pixels[h, w] = pixels[hp, wp]
    return _gaussian(pixels / 255.0, sigma)


def _clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Zoom the centre crop by ``factor`` (bilinear) and cut it back to the image's size."""
    height, width = x.shape[:2]
    ch, cw = int(np.ceil(height / factor)), int(np.ceil(width / factor))
    top, left = (height - ch) // 2, (width - cw) // 2
    zoomed = ndimage.zoom(x[top:top + ch, left:left + cw], (factor, factor, 1), order=1)
    trim_top, trim_left = (zoomed.shape[0] - height) // 2, (zoomed.shape[1] - width) // 2
    return zoomed[trim_top:trim_top + height, trim_left:trim_left + width]


@register("zoom_blur", "blur", [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01),
                                np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.01),
                                np.arange(1, 1.26, 0.01)], random=False)
def zoom_blur(x: np.ndarray, c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = x.astype(np.float32)
    out = np.zeros_like(x)
    for factor in c:
        out += _clipped_zoom(x, float(factor))
    return ((x + out) / (len(c) + 1)).astype(np.float64)


def _shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``x`` moved by (dy, dx) pixels, the border pixels repeated into the gap."""
    height, width = x.shape[:2]
    padded = np.pad(x, ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[top:top + height, left:left + width]


def motion_blur_kernel(x: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's ``MotionBlurImage``: a one-sided Gaussian line kernel of ``2 * radius + 1``
    taps along ``angle`` degrees, each tap a whole-pixel shift with repeated borders. This is
    the NumPy form ``imagecorruptions`` adopted when it dropped Wand; not bit-exact with
    ImageMagick, which interpolates sub-pixel taps."""
    width = 2 * int(np.ceil(radius)) + 1
    taps = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    taps /= taps.sum()
    sin, cos = np.sin(np.deg2rad(angle)), np.cos(np.deg2rad(angle))
    out = np.zeros_like(x)
    for k, weight in enumerate(taps):
        dy, dx = -int(np.ceil(k * sin - 0.5)), -int(np.ceil(k * cos - 0.5))
        out += weight * _shifted(x, dy, dx)
    return out


def _png_round_trip(x: np.ndarray) -> np.ndarray:
    """The reference passes images through PNG (Wand) between steps: 8-bit quantisation."""
    return np.uint8(np.clip(x, 0, 1) * 255 + 0.5) / 255.0


@register("motion_blur", "blur", [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)])
def motion_blur(x: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    return _png_round_trip(motion_blur_kernel(x, c[0], c[1], rng.uniform(-45, 45)))


# ----------------------------------------------------------------------------- weather


def plasma_fractal(rng: np.random.Generator, mapsize: int = 32, wibbledecay: float = 3
                   ) -> np.ndarray:
    """A diamond-square height map in [0, 1], ``(mapsize, mapsize)``; ``mapsize`` a power of 2."""
    if mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two, got {mapsize}")
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100.0

    def wibbledmean(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        square = corners + np.roll(corners, shift=-1, axis=0)
        square += np.roll(square, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(square)
        centres = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        left = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(left)
        top = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(top)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


@register("fog", "weather", [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)])
def fog(x: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    height, width = x.shape[:2]
    mapsize = 1 << max(int(np.ceil(np.log2(max(height, width)))), 1)
    max_val = x.max()
    x = x + c[0] * plasma_fractal(rng, mapsize, c[1])[:height, :width][..., np.newaxis]
    return x * max_val / (max_val + c[0])


def _grey(x: np.ndarray) -> np.ndarray:
    """OpenCV's ``COLOR_RGB2GRAY`` weights, keeping a channel axis."""
    if x.shape[2] == 1:
        return x
    return (x @ np.array([0.299, 0.587, 0.114]))[..., np.newaxis]


@register("snow", "weather", [(0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
                              (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
                              (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
                              (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)])
def snow(x: np.ndarray, c: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Flakes (thresholded zoomed noise), streaked by a motion blur, over a greyed image."""
    mean, scale, zoom, threshold, radius, sigma, keep = c
    flakes = rng.normal(size=(*x.shape[:2], 1), loc=mean, scale=scale)
    flakes = _clipped_zoom(flakes, zoom)
    flakes[flakes < threshold] = 0
    flakes = _png_round_trip(flakes)
    flakes = _png_round_trip(motion_blur_kernel(flakes, radius, sigma, rng.uniform(-135, -45)))
    x = keep * x + (1 - keep) * np.maximum(x, _grey(x) * 1.5 + 0.5)
    return x + flakes + np.rot90(flakes, k=2)


def _rgb_only(x: np.ndarray, name: str) -> None:
    if x.shape[2] != 3:
        raise UserError(f"{name} works in HSV and needs RGB images, got {x.shape[2]} channel(s)")


@register("brightness", "weather", [0.05, 0.1, 0.15, 0.2, 0.3], random=False)
def brightness(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    _rgb_only(x, "brightness")
    hsv = rgb_to_hsv(x)
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return hsv_to_rgb(hsv)


# ----------------------------------------------------------------------------- digital


@register("contrast", "digital", [0.75, 0.5, 0.4, 0.3, 0.15], random=False)
def contrast(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    means = x.mean(axis=(0, 1), keepdims=True)  # each channel keeps its own mean
    return (x - means) * c + means


@register("saturate", "digital", [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
          random=False)
def saturate(x: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    _rgb_only(x, "saturate")
    hsv = rgb_to_hsv(x)
    hsv[..., 1] = np.clip(hsv[..., 1] * c[0] + c[1], 0, 1)
    return hsv_to_rgb(hsv)


def _to_pil(x: np.ndarray):
    from PIL import Image

    pixels = np.uint8(np.clip(x, 0, 1) * 255 + 0.5)  # x came from uint8: exact
    return Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)


def _from_pil(image, channels: int) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64) / 255.0
    return array[..., np.newaxis] if channels == 1 else array


@register("jpeg_compression", "digital", [80, 65, 58, 50, 40], random=False)
def jpeg_compression(x: np.ndarray, c: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    _to_pil(x).save(buffer, "JPEG", quality=c)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return _from_pil(decoded.convert(decoded.mode), x.shape[2])


@register("pixelate", "digital", [0.95, 0.9, 0.85, 0.75, 0.65], random=False)
def pixelate(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    height, width = x.shape[:2]
    small = _to_pil(x).resize((int(width * c), int(height * c)), Image.BOX)
    return _from_pil(small.resize((width, height), Image.BOX), x.shape[2])


def _affine_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 affine map taking three (x, y) points to three others (OpenCV's
    ``getAffineTransform``)."""
    design = np.hstack([source, np.ones((3, 1))])
    return np.linalg.solve(design, target).T


@register("elastic_transform", "digital",
          [(32 * 0, 32 * 0, 32 * 0.08), (32 * 0.05, 32 * 0.2, 32 * 0.07),
           (32 * 0.08, 32 * 0.06, 32 * 0.06), (32 * 0.1, 32 * 0.04, 32 * 0.05),
           (32 * 0.1, 32 * 0.03, 32 * 0.03)])
def elastic_transform(x: np.ndarray, c: tuple[float, float, float], rng: np.random.Generator
                      ) -> np.ndarray:
    """A random affine warp of three anchor points (mirrored borders, OpenCV's
    ``BORDER_REFLECT_101`` = SciPy's ``mirror``), then a smoothed random displacement field."""
    alpha, sigma, jitter = c
    height, width = x.shape[:2]
    centre = np.float64([width, height]) // 2
    size = min(height, width) // 3
    source = np.array([centre + size, [centre[0] + size, centre[1] - size], centre - size])
    target = source + rng.uniform(-jitter, jitter, size=source.shape)
    forward = _affine_matrix(source, target)  # (x, y) -> (x, y); output pixel = input(inverse)
    inverse = np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2]
    # SciPy indexes (row, col) = (y, x): swap the axes of the inverse map.
    swap = np.array([[0, 1], [1, 0]])
    matrix, offset = swap @ inverse[:, :2] @ swap, swap @ inverse[:, 2]
    warped = np.stack([ndimage.affine_transform(x[..., k], matrix, offset=offset, order=1,
                                                mode="mirror") for k in range(x.shape[2])],
                      axis=-1)
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, size=(height, width)), sigma,
                                 mode="reflect", truncate=3) * alpha
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, size=(height, width)), sigma,
                                 mode="reflect", truncate=3) * alpha
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([ndimage.map_coordinates(warped[..., k], [rows + dy, cols + dx], order=1,
                                             mode="reflect") for k in range(x.shape[2])],
                    axis=-1)


# ----------------------------------------------------------------------------- applying them


def check_corruption(name: str) -> Corruption:
    """The registered corruption, or a one-line error listing those that exist."""
    if name not in CORRUPTIONS:
        raise UserError(f"unknown corruption {name!r}; use one of {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name]


def check_severity(severity: int) -> int:
    if isinstance(severity, bool) or int(severity) != severity or severity not in SEVERITIES:
        raise UserError(f"severity must be a whole number from 1 to 5, got {severity}")
    return int(severity)


def image_generator(seed: int, name: str, severity: int, index: int) -> np.random.Generator:
    """The generator of one image: independent of which other images are corrupted."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), severity, index])


def corrupt_images(images: torch.Tensor, name: str, severity: int, *, seed: int = 0,
                   indices: Sequence[int] | torch.Tensor | None = None,
                   progress: bool | str = False) -> torch.Tensor:
    """Corrupt ``uint8`` images ``(N, C, H, W)``; returns ``uint8`` of the same shape.

    ``indices`` are the images' indices in their split (default ``0..N-1``): they seed each
    image's generator, so a subset matches the same images of a corrupted whole split.
    """
    corruption = check_corruption(name)
    parameter = corruption.parameter(severity)
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} "
                         f"{tuple(images.shape)}")
    ids = (range(len(images)) if indices is None
           else [int(i) for i in torch.as_tensor(indices).tolist()])
    if len(ids) != len(images):
        raise ValueError(f"{len(ids)} indices for {len(images)} images")
    pixels = images.permute(0, 2, 3, 1).numpy()
    out = np.empty_like(pixels)
    positions: Any = range(len(pixels))
    if progress:
        from tqdm import tqdm

        desc = progress if isinstance(progress, str) else f"{name} {severity}"
        positions = tqdm(positions, desc=desc, unit="img", leave=False)
    for position in positions:
        rng = image_generator(seed, name, severity, ids[position])
        result = corruption.function(pixels[position] / 255.0, parameter, rng)
        # The reference truncates with np.uint8 after scaling to 0..255.
        out[position] = np.uint8(np.clip(result, 0, 1) * 255)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def corruption_record(name: str, severity: int, seed: int) -> dict[str, Any]:
    """How a corrupted image was made: the fields its edit-set record and report carry."""
    return {"corruption": name, "severity": int(severity), "corruption_seed": int(seed)}


def corrupted_split(split: ImageSplit, name: str, severity: int, *, seed: int = 0,
                    cache: bool = True) -> ImageSplit:
    """The whole split corrupted, cached in ``data/cache/`` by its content and the settings.

    The result keeps the split's data set name, split name and indices (image ``i`` is the
    corrupted clean image ``i``), and says how it was made in ``split.corruption``.
    """
    check_corruption(name)
    check_severity(severity)
    if split.corruption is not None:
        raise UserError(f"{split.dataset}/{split.split} is already corrupted "
                        f"({split.corruption['corruption']}); corrupt the clean split")

    def build() -> dict[str, torch.Tensor]:
        log.info("corrupting %d images of %s/%s with %s, severity %d", len(split), split.dataset,
                 split.split, name, severity)
        return {"images": corrupt_images(split.images, name, severity, seed=seed,
                                         progress=f"{name} {severity}")}

    if cache:
        fingerprint = f"{split.content_digest()}-s{seed}-{FORMAT_VERSION}"
        images = cached_tensors(f"corrupted-{split.split}-{name}-{severity}", fingerprint,
                                build)["images"]
    else:
        images = build()["images"]
    return replace(split, images=images, corruption=corruption_record(name, severity, seed))


def corruption_names(family: str | None = None) -> list[str]:
    return [c.name for c in CORRUPTIONS.values() if family is None or c.family == family]


def add_corruption_arguments(parser, *, required: bool = False, seed: bool = True) -> None:
    """``--corruption``, ``--severity`` and ``--corruption-seed``, declared once for every script.

    ``choices`` come from the registry, so an unknown name or a severity outside 1..5 fails
    while the arguments are parsed, in one line that lists what exists.
    """
    group = parser.add_argument_group(
        "distribution shift", "corrupt the images first (CIFAR-10-C, CIFAR parameters)")
    group.add_argument("--corruption", choices=list(CORRUPTIONS), required=required,
                       default=None, metavar="NAME",
                       help=f"corruption: {', '.join(CORRUPTIONS)}")
    group.add_argument("--severity", type=integer_type(name="severity"), choices=SEVERITIES,
                       default=3, metavar="S",
                       help="severity 1 (mild) to 5 (severe) (default: 3)")
    if seed:
        group.add_argument("--corruption-seed", type=non_negative_int, default=0, metavar="N",
                           help="seed of the corruption's noise (default: 0)")
