"""One entry point for every data set: :func:`load_split`.

A data set is named by a spec string:

* ``cifar10``: the official python batches in ``<data_root>/cifar-10-batches-py/``, downloaded
  through torchvision when absent and the network allows. The batches are read without
  torchvision's checksum test, so the offline rebuild in ``../shared/datasets/cifar10`` loads.
* ``imagefolder:<path>``: torchvision's ImageFolder layout, ``<path>/<split>/<class>/*.png``.
* ``npz:<dir>``: ImageNet64-style batch files ``*_batch_<n>.npz`` (see :mod:`helpers.npz_batches`).

Every image keeps the index it has in its split (for CIFAR-10, the official order), so an image
is identified everywhere by (data set, split, index).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from helpers.cache import cached_tensors, source_fingerprint
from helpers.errors import NotFoundError, UserError
from helpers.label_overrides import LabelOverrides
from helpers.records import ImageRecord

log = logging.getLogger(__name__)

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_SPLIT_FILES = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
}
SHARED_CIFAR10_HINT = (
    "offline, build it with "
    "`uv run python ../shared/datasets/cifar10/build_cifar10_batches.py data/`"
)


@dataclass
class ImageSplit:
    """All images of one split of one data set, decoded, with their class names.

    ``images`` is ``uint8`` of shape ``(N, C, H, W)``; ``labels`` is ``int64`` of shape ``(N,)``.
    Position ``i`` is the image's stable index in the split.
    """

    dataset: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    # How the images were corrupted ({"corruption", "severity", "corruption_seed"}; see
    # helpers.corruptions), None for the clean split. Edit-set records made from it carry it.
    corruption: dict | None = None
    # The reviewer's corrected labels in force ({"file", "sha256", "applied", ...}; see
    # helpers.label_overrides), None when the labels are the data set's own.
    label_overrides: dict | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if len(self.labels) != len(self.images):
            raise ValueError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def unit_images(self, indices: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """Images as float32 in [0, 1], the form models and edit sets use."""
        selected = self.images if indices is None else self.images[torch.as_tensor(indices)]
        return selected.float().div_(255.0)

    def class_name(self, label: int) -> str:
        return self.class_names[label]

    def record(self, index: int) -> ImageRecord:
        label = int(self.labels[index])
        return ImageRecord(self.dataset, self.split, int(index), label, self.class_names[label])

    def content_digest(self) -> str:
        """A hash of the pixels and labels, for caches keyed by *what* was evaluated.

        Names and lengths are not enough: two data roots can both be ``cifar10/test`` with the
        same labels and different images (a rebuilt or a test copy).
        """
        digest = hashlib.sha256()
        digest.update(repr((tuple(self.images.shape), len(self.labels))).encode())
        digest.update(self.images.contiguous().numpy().tobytes())
        digest.update(self.labels.to(torch.int64).contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def check_indices(self, indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Indices as a tensor, with a user-facing error for any that fall outside the split."""
        tensor = torch.as_tensor(indices, dtype=torch.long)
        if len(tensor) and (int(tensor.min()) < 0 or int(tensor.max()) >= len(self)):
            raise UserError(
                f"image index out of range for {self.dataset}/{self.split} (0..{len(self) - 1}): "
                f"got {int(tensor.min())}..{int(tensor.max())}; was the edit set made from "
                "another data set or split?"
            )
        return tensor


Loader = Callable[[str, str, Path, bool], ImageSplit]


def load_split(
    dataset: str = "cifar10",
    split: str = "test",
    *,
    data_root: str | Path = "data",
    download: bool = True,
    label_overrides: str | Path | LabelOverrides | None = None,
) -> ImageSplit:
    """Load one split of a named data set (see the module docstring for the spec forms).

    ``label_overrides`` (a file exported by the review page, or one already read) replaces the
    labels of the images it names; the split records the file (``split.label_overrides``).
    """
    kind, _, argument = dataset.partition(":")
    if kind not in LOADERS:
        raise UserError(
            f"unknown data set {dataset!r}; use one of: cifar10, imagefolder:<path>, npz:<dir>"
        )
    if kind != "cifar10" and not argument:
        raise UserError(f"data set {kind!r} needs a path: {kind}:<path>")
    if label_overrides is not None and not isinstance(label_overrides, LabelOverrides):
        label_overrides = LabelOverrides.read(label_overrides)  # a bad file fails before decoding
    loaded = LOADERS[kind](argument, split, Path(data_root), download)
    if label_overrides is None:
        return loaded
    return apply_label_overrides(loaded, label_overrides)


def apply_label_overrides(split: ImageSplit, overrides: LabelOverrides) -> ImageSplit:
    """A copy of ``split`` whose labels follow ``overrides`` (the cached tensors are kept)."""
    new = overrides.labels_for(split.dataset, split.split, len(split), split.class_names)
    labels = split.labels.clone()
    changed = 0
    for index, label in new.items():
        changed += int(labels[index]) != label
        labels[index] = label
    if new:
        log.info("%s: %d label overrides for %s/%s (%d labels changed)", overrides.path,
                 len(new), split.dataset, split.split, changed)
    return replace(split, labels=labels,
                   label_overrides={**overrides.describe(len(new)), "changed": changed})


def dataset_class_names(dataset: str, *, data_root: str | Path = "data") -> list[str]:
    """Class names of a data set without decoding its images where that is possible."""
    if dataset == "cifar10":
        return list(CIFAR10_CLASSES)
    return load_split(dataset, "test" if dataset == "cifar10" else _first_split(dataset),
                      data_root=data_root).class_names


def _first_split(dataset: str) -> str:
    root = Path(dataset.partition(":")[2])
    for split in ("test", "val", "train"):
        if (root / split).exists() or any(root.glob(f"{split}*")):
            return split
    return "train"


# ----------------------------------------------------------------------------- CIFAR-10


def load_cifar10(_argument: str, split: str, data_root: Path, download: bool) -> ImageSplit:
    if split not in CIFAR10_SPLIT_FILES:
        raise UserError(f"CIFAR-10 has splits 'train' and 'test', not {split!r}")
    folder = data_root / CIFAR10_FOLDER
    files = [folder / name for name in CIFAR10_SPLIT_FILES[split]]
    if not all(f.exists() for f in files) and (download or not folder.is_dir()):
        _download_cifar10(data_root, download)
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise NotFoundError(f"{folder} lacks {', '.join(missing)}; pass --data-root DIR holding a "
                            f"complete {CIFAR10_FOLDER}/ ({SHARED_CIFAR10_HINT})")
    fingerprint = source_fingerprint(files, "cifar10-v1", split)
    tensors = cached_tensors(f"cifar10-{split}", fingerprint, lambda: _decode_cifar10(files))
    class_names = _cifar10_class_names(folder)
    return ImageSplit("cifar10", split, tensors["images"], tensors["labels"], class_names)


def _download_cifar10(data_root: Path, download: bool) -> None:
    """Fetch the official archive through torchvision; a failure becomes a one-line hint."""
    where = data_root / CIFAR10_FOLDER
    if not download:
        raise NotFoundError(f"CIFAR-10 not found in {where}; pass --data-root DIR holding "
                            f"{CIFAR10_FOLDER}/ ({SHARED_CIFAR10_HINT})")
    import torchvision  # imported here: only a download needs it

    log.info("CIFAR-10 not found in %s; downloading it through torchvision", where)
    try:
        torchvision.datasets.CIFAR10(str(data_root), train=True, download=True)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise NotFoundError(
            f"CIFAR-10 not found in {where} and the download failed ({reason}); pass "
            f"--data-root DIR holding {CIFAR10_FOLDER}/ ({SHARED_CIFAR10_HINT})"
        ) from None


def _read_pickle(path: Path) -> dict:
    with open(path, "rb") as handle:
        try:
            return pickle.load(handle, encoding="latin1")
        except Exception as error:
            raise UserError(f"{path} is not a CIFAR-10 python batch ({error})") from None


def _decode_cifar10(files: list[Path]) -> dict[str, torch.Tensor]:
    images, labels = [], []
    for path in files:
        batch = _read_pickle(path)
        batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
        if "data" not in batch or "labels" not in batch:
            raise UserError(f"{path} has no 'data'/'labels' keys; is it a CIFAR-10 python batch?")
        data = np.asarray(batch["data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise UserError(f"{path}: expected rows of 3072 pixels, got shape {data.shape}")
        images.append(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()))
        labels.append(torch.as_tensor(batch["labels"], dtype=torch.long))
    labels_tensor = torch.cat(labels)
    if int(labels_tensor.min()) < 0 or int(labels_tensor.max()) > 9:
        raise UserError(f"CIFAR-10 labels outside 0..9 in {files[0].parent}")
    return {"images": torch.cat(images), "labels": labels_tensor}


def _cifar10_class_names(folder: Path) -> list[str]:
    meta = folder / "batches.meta"
    if not meta.exists():
        return list(CIFAR10_CLASSES)
    content = {(k.decode() if isinstance(k, bytes) else k): v
               for k, v in _read_pickle(meta).items()}  # bytes keys when pickled with Python 2
    names = content.get("label_names")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names] if names else list(
        CIFAR10_CLASSES)


# ----------------------------------------------------------------------------- ImageFolder


def load_image_folder(argument: str, split: str, _data_root: Path, _download: bool) -> ImageSplit:
    import torchvision

    root = Path(argument) / split
    if not root.is_dir():
        raise NotFoundError(f"{root} is not a folder; imagefolder:<path> needs <path>/{split}/"
                            "<class>/*.png|jpg")
    try:
        folder = torchvision.datasets.ImageFolder(str(root))
    except (FileNotFoundError, RuntimeError) as error:
        raise UserError(f"{root}: {str(error).splitlines()[0]}") from None
    files = [Path(p) for p, _ in folder.samples]
    fingerprint = source_fingerprint(files, "imagefolder-v1", str(root.resolve()))
    name = f"imagefolder-{Path(argument).resolve().name}-{split}"
    tensors = cached_tensors(name, fingerprint, lambda: _decode_image_folder(folder))
    return ImageSplit(f"imagefolder:{argument}", split, tensors["images"], tensors["labels"],
                      list(folder.classes))


def _decode_image_folder(folder) -> dict[str, torch.Tensor]:
    from PIL import Image
    from tqdm import tqdm

    images, shape = [], None
    for path, _ in tqdm(folder.samples, desc="decoding images", unit="img", leave=False):
        try:
            with Image.open(path) as image:
                array = np.array(image.convert("RGB"), dtype=np.uint8)  # writable, for torch
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            # UnidentifiedImageError (a text file named .png) and a truncated PNG both land here
            raise UserError(f"{path} is not a readable image ({type(error).__name__}: "
                            f"{str(error)[:120]}); remove or replace it") from None
        if shape is None:
            shape = array.shape
        elif array.shape != shape:
            raise UserError(f"{path} is {array.shape[1]}x{array.shape[0]} but earlier images are "
                            f"{shape[1]}x{shape[0]}; resize the folder's images to one size")
        images.append(torch.from_numpy(array).permute(2, 0, 1))
    if not images:
        raise UserError(f"{folder.root} holds no images")
    return {"images": torch.stack(images),
            "labels": torch.as_tensor(folder.targets, dtype=torch.long)}


# ----------------------------------------------------------------------------- NPZ batches


def load_npz(argument: str, split: str, _data_root: Path, _download: bool) -> ImageSplit:
    from helpers.npz_batches import NpzBatchSet

    batch_set = NpzBatchSet(Path(argument), split)
    if batch_set.total_bytes > npz_cache_limit():
        # a second on-disk copy of an ImageNet-sized split is not worth its gigabytes; large
        # sets are meant to be drawn from with helpers.npz_stream instead of loaded whole
        log.info("%s (%s) is %.1f GB: read without the whole-split cache", argument, split,
                 batch_set.total_bytes / 1e9)
        tensors = batch_set.read_all()
    else:
        fingerprint = source_fingerprint(batch_set.files, "npz-v1", split)
        name = f"npz-{Path(argument).resolve().name}-{split}"
        tensors = cached_tensors(name, fingerprint, batch_set.read_all)
    # read_all names unnamed classes, but a cache hit skips it: name them from the labels here.
    labels = tensors["labels"]
    class_names = batch_set.class_names or [
        f"class_{i}" for i in range(int(labels.max()) + 1 if len(labels) else 0)]
    return ImageSplit(f"npz:{argument}", split, tensors["images"], tensors["labels"], class_names)


NPZ_CACHE_LIMIT_BYTES = 2 * 1024**3


def npz_cache_limit() -> int:
    """Largest NPZ split (bytes on disk) kept in the decoded-tensor cache.

    ``$ALEXNET_REPAIR_NPZ_CACHE_LIMIT`` overrides the default of 2 GiB (CIFAR-sized sets are far
    below it, ImageNet64's 16 GB training split far above).
    """
    import os

    raw = os.environ.get("ALEXNET_REPAIR_NPZ_CACHE_LIMIT")
    if raw is None:
        return NPZ_CACHE_LIMIT_BYTES
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"ALEXNET_REPAIR_NPZ_CACHE_LIMIT must be a number of bytes, got "
                        f"{raw!r}") from None


LOADERS: dict[str, Loader] = {
    "cifar10": load_cifar10,
    "imagefolder": load_image_folder,
    "npz": load_npz,
}
