"""How fast the visualizer's gallery answers for a 2,000-image edit set, cold and warm.

Times requests through Flask's test client (no network), so the numbers are the app's own work:
decoding the set, the model pass, filtering, rendering, PNG encoding. Prints one JSON object
naming the machine, the commit and the command; all times are in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import numpy as np
import torch

from editset_helpers.io import EditSet, save_edit_set
from editset_helpers.web.app import create_app
from helpers.atomic_io import atomic_write_json, check_writable
from helpers.cache import PROJECT_ROOT
from helpers.cli import ArgumentParser, HelpFormatter, run_main
from helpers.datasets import CIFAR10_CLASSES, load_split
from helpers.errors import UserError
from helpers.provenance import commit, machine

DEFAULT_WEIGHTS = PROJECT_ROOT / "artifacts" / "alexnet_base.pth"

EXAMPLES = """\
examples:
  # 2,000 real CIFAR-10 test images, judged by the base model when it exists
  uv run python benchmarks/visualizer_gallery.py

  # an existing edit set, without any model
  uv run python benchmarks/visualizer_gallery.py --no-model \\
      --edit-set data/edit_sets/misclassified_edit_dataset.pt
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.splitlines()[0], epilog=EXAMPLES,
                            formatter_class=HelpFormatter)
    parser.add_argument("--edit-set", type=Path, default=None,
                        help="benchmark this set (default: build one of --images CIFAR-10 "
                             "test images with closest-style records in a temporary folder)")
    parser.add_argument("--images", type=int, default=2000, help="size of the built set")
    parser.add_argument("--data-root", default="data",
                        help="folder holding cifar-10-batches-py/ (random pixels when absent)")
    parser.add_argument("--weights", type=Path, default=None,
                        help=f"base model (default: {DEFAULT_WEIGHTS.relative_to(PROJECT_ROOT)} "
                             "when it exists)")
    parser.add_argument("--no-model", action="store_true", help="run without any model")
    parser.add_argument("--repeats", type=int, default=7, help="warm requests per measurement")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--force", action="store_true", help="overwrite --output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.output is not None:
        check_writable(args.output, force=args.force)
    weights = None if args.no_model else (args.weights or
                                          (DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.exists() else None))
    with tempfile.TemporaryDirectory(prefix="visualizer-bench-") as tmp:
        if args.edit_set is None:
            folder, name = Path(tmp), "bench"
            source = build_set(folder / f"{name}_edit_dataset.pt", args.images, args.data_root)
        else:
            if not args.edit_set.is_file():
                raise UserError(f"--edit-set {args.edit_set} not found")
            folder, source = Path(tmp), str(args.edit_set)
            name = args.edit_set.name.removesuffix("_edit_dataset.pt").removesuffix(".pt")
            os.symlink(args.edit_set.resolve(), folder / args.edit_set.name)
        client = create_app(folder, weights=weights).test_client()
        results = measure(client, name, args.repeats)
    report = {
        "benchmark": "visualizer_gallery",
        "machine": machine(),
        "commit": commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "set": {"images": results.pop("images"), "source": source,
                "model": str(weights) if weights else None},
        "seconds": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        atomic_write_json(args.output, report)
    return 0


def build_set(path: Path, count: int, data_root: str) -> str:
    """``count`` CIFAR-10 test images with margin, confidence and probability records."""
    try:
        split = load_split("cifar10", "test", data_root=data_root, download=False)
        count = min(count, len(split))
        images, labels = split.unit_images(torch.arange(count)), split.labels[:count].clone()
        origin = f"CIFAR-10 test images 0..{count - 1}"
    except UserError:
        generator = torch.Generator().manual_seed(0)
        images = torch.rand(count, 3, 32, 32, generator=generator)
        labels = torch.randint(0, 10, (count,), generator=generator)
        origin = f"{count} random 32x32 images (no CIFAR-10 in {data_root})"
    rng = np.random.default_rng(0)
    metadata = []
    for i, label in enumerate(labels.tolist()):
        guess = int((label + 1 + rng.integers(0, 9)) % 10)
        true_p = float(rng.uniform(0.05, 0.45))
        margin = float(rng.uniform(0.0, 0.3))
        metadata.append({"dataset": "cifar10", "split": "test", "image_idx": i, "true_label": label,
                         "predicted_label": guess, "true_class": CIFAR10_CLASSES[label],
                         "predicted_class": CIFAR10_CLASSES[guess], "type": "closest",
                         "true_probability": true_p, "predicted_probability": true_p + margin,
                         "margin": margin})
    save_edit_set(EditSet(images, labels, metadata, {"class_names": list(CIFAR10_CLASSES)}),
                  path)
    return origin


def measure(client: Any, name: str, repeats: int) -> dict[str, Any]:
    def timed(url: str) -> tuple[float, Any]:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise UserError(f"{url} answered {response.status_code}: "
                            f"{response.get_data(as_text=True)[:200]}")
        return elapsed, response

    def warm(url: str) -> float:
        return statistics.median(timed(url)[0] for _ in range(repeats))

    gallery = f"/gallery?set={name}"
    results: dict[str, Any] = {}
    results["first_gallery_page_cold"], _ = timed(gallery)  # decode + model pass + render
    results["gallery_page_60_warm_median"] = warm(gallery)
    results["gallery_page_60_sorted_filtered_warm_median"] = warm(
        f"{gallery}&sort=-score&min_score=0.05&page=3")
    results["gallery_page_2000_warm_median"] = warm(f"{gallery}&per_page=2000")
    results["api_images_page_60_warm_median"] = warm(f"/api/sets/{name}/images")
    results["api_sets_rescan_warm_median"] = warm("/api/sets")
    thumbs = [i["thumbnail"] for i in client.get(f"/api/sets/{name}/images").get_json()["images"]]
    start = time.perf_counter()
    for url in thumbs:
        timed(url)
    results["thumbnails_60_cold_total"] = time.perf_counter() - start
    start = time.perf_counter()
    for url in thumbs:
        timed(url)
    results["thumbnails_60_warm_total"] = time.perf_counter() - start
    results["overview_page_cold"], _ = timed(f"/?set={name}")
    results["overview_charts_cold"] = sum(timed(f"/api/sets/{name}/charts/{kind}.png")[0]
                                          for kind in ("class_distribution", "confusion"))
    results["overview_page_warm_median"] = warm(f"/?set={name}")
    results = {k: round(v, 4) for k, v in results.items()}
    results["images"] = client.get(f"/api/sets/{name}/summary").get_json()["images"]
    return results


if __name__ == "__main__":
    sys.exit(run_main(main))
