"""Measure TracIn on real data: scale of self-influence, test influence, checkpoint subsets,
and the TracIn paper's label-noise experiment.

Suites (``--suite``):

* ``self``: self-influence of the whole training split over every checkpoint of a run, cold
  (a fresh factor cache). Reports the wall and CPU seconds, the seconds spent inside the
  model's forward calls (the part no method avoids: one pass per image and checkpoint), their
  ratio, where the rest went, and peak memory. Also the accuracy cost of checkpoint subsets
  (``every:2``, ``every:5``, ``last:1``, ``last:3``...): Spearman correlation with the full
  sum and overlap of the top 1% / 5%, computed from the per-checkpoint terms of the same run
  (a subset's scores are a partial sum of them), with time estimated as that share of the
  forward passes.
* ``test``: 100 misclassified test images (seed 0) against the whole training split with the
  training side cached (run ``self`` first): wall seconds.
* ``label-noise``: flip a seeded 10% of the labels of a training subset, train on it
  (``--arch``, ``--epochs``), then the fraction of flipped images found among the top 5/10/20%
  of the subset ranked by raw and normalised self-influence, by the loss at the last
  checkpoint, and at random.

Prints JSON with machine, commit and command; ``--out`` also writes it. Examples:

  uv run python benchmarks/bench_influence.py --suite self \\
      --checkpoint-dir artifacts/checkpoints/alexnet_base --out benchmarks/results/tracin_self.json
  uv run python benchmarks/bench_influence.py --suite test \\
      --checkpoint-dir artifacts/checkpoints/alexnet_base --out benchmarks/results/tracin_test.json
  nice -n 5 uv run python benchmarks/bench_influence.py --suite label-noise --subset 4000 \\
      --epochs 5 --out benchmarks/results/tracin_label_noise.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.atomic_io import atomic_write_json, check_writable
from helpers.cli import (
    ArgumentParser,
    HelpFormatter,
    fraction,
    non_negative_int,
    positive_int,
    positive_number,
    run_main,
)
from helpers.provenance import peak_memory_mb, provenance

SUITES = ("self", "test", "label-noise")
FRACTIONS = (0.05, 0.10, 0.20)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def top_overlap(a: np.ndarray, b: np.ndarray, share: float) -> float:
    k = max(1, round(share * len(a)))
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def subset_costs(result: Any) -> dict[str, Any]:
    """Accuracy of checkpoint subsets against all checkpoints, from one run's terms."""
    from influence.run import select_checkpoints

    per = result.per_checkpoint.numpy()
    full = per.sum(0)
    rows = {}
    for selection in ("every:2", "every:3", "every:5", "last:5", "last:3", "last:1"):
        chosen = select_checkpoints(result.checkpoints, selection)
        positions = [result.checkpoints.index(c) for c in chosen]
        partial = per[positions].sum(0)
        rows[selection] = {"epochs": [c.epoch for c in chosen],
                           "time_share": round(len(chosen) / len(result.checkpoints), 3),
                           "spearman_vs_all": round(spearman(partial, full), 4),
                           "top1pct_overlap": round(top_overlap(partial, full, 0.01), 4),
                           "top5pct_overlap": round(top_overlap(partial, full, 0.05), 4)}
    return rows


def self_suite(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from helpers.datasets import load_split
    from influence.cache import FactorCache
    from influence.run import find_checkpoints
    from influence.tracin import TracInLastLayer

    split = load_split("cifar10", "train", data_root=args.data_root, download=False)
    checkpoints = find_checkpoints(args.checkpoint_dir)
    cache_dir = Path(args.cache_dir or tempfile.mkdtemp(prefix="tracin_bench_"))
    wall, cpu = time.perf_counter(), cpu_seconds()
    tracin = TracInLastLayer(checkpoints, cache=FactorCache(cache_dir), batch_size=args.batch_size)
    result = tracin.self_influence(split, None if args.limit is None else range(args.limit))
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    t = result.timings
    forward = t.get("forward_seconds", 0.0)
    return {"suite": "self", "images": len(result.indices), "checkpoints": len(checkpoints),
            "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "forward_seconds": round(forward, 1),
            "ratio_wall_to_forward": round(wall / max(forward, 1e-9), 3),
            "where_the_rest_went_seconds": {k: round(v, 1) for k, v in t.items()
                                            if k.endswith("_seconds") and k not in (
                                                "forward_seconds", "total_seconds")},
            "peak_memory_mb": round(peak_memory_mb(), 1), "cache_dir": str(cache_dir),
            "checkpoint_subsets": subset_costs(result),
            "note": "forward_seconds is the time inside model(x) for every image and "
                    "checkpoint; the rest is checkpoint loading (and hashing), turning uint8 "
                    "into float, the softmax/one-hot/norm arithmetic and writing the cache"}


def test_suite(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from helpers.datasets import load_split
    from helpers.inference import predict_labels
    from influence.cache import FactorCache
    from influence.run import find_checkpoints
    from influence.tracin import TracInLastLayer

    split = load_split("cifar10", "train", data_root=args.data_root, download=False)
    test = load_split("cifar10", "test", data_root=args.data_root, download=False)
    checkpoints = find_checkpoints(args.checkpoint_dir)
    model = checkpoints[-1].load().model
    wrong = torch.nonzero(predict_labels(model, test.images) != test.labels)[:, 0]
    generator = torch.Generator().manual_seed(0)
    chosen = wrong[torch.randperm(len(wrong), generator=generator)[:100]].sort().values
    tracin = TracInLastLayer(checkpoints, cache=FactorCache(args.cache_dir),
                             batch_size=args.batch_size)
    wall = time.perf_counter()
    result = tracin.influence(test.unit_images(chosen), test.labels[chosen], split, top_k=20)
    wall = time.perf_counter() - wall
    return {"suite": "test", "test_images": len(chosen), "train_images": len(split),
            "checkpoints": len(checkpoints), "wall_seconds": round(wall, 1),
            "cache_hits": int(result.timings.get("cache_hits", 0)),
            "timings": {k: round(v, 2) for k, v in result.timings.items()},
            "peak_memory_mb": round(peak_memory_mb(), 1)}


def found_fraction(scores: np.ndarray, flipped: np.ndarray, share: float) -> float:
    k = round(share * len(scores))
    top = np.argsort(-scores, kind="stable")[:k]
    return round(float(np.isin(top, flipped).sum() / len(flipped)), 4)


def label_noise(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from helpers.datasets import ImageSplit, load_split
    from influence.cache import FactorCache
    from influence.run import find_checkpoints
    from influence.tracin import TracInLastLayer
    from model_classes.training import TrainConfig, train

    full = load_split("cifar10", "train", data_root=args.data_root, download=False)
    test = load_split("cifar10", "test", data_root=args.data_root, download=False)
    rng = np.random.default_rng(args.seed)
    chosen = np.sort(rng.choice(len(full), args.subset, replace=False))
    labels = full.labels.numpy()[chosen].copy()
    count = round(args.noise * len(labels))
    flipped = np.sort(rng.choice(len(labels), count, replace=False))
    labels[flipped] = (labels[flipped] + rng.integers(1, 10, size=count)) % 10
    noisy = ImageSplit("cifar10", "train", full.images[torch.as_tensor(chosen)].clone(),
                       torch.as_tensor(labels), list(full.class_names))
    test_part = np.sort(rng.choice(len(test), 1000, replace=False))
    small_test = ImageSplit("cifar10", "test", test.images[torch.as_tensor(test_part)].clone(),
                            test.labels[torch.as_tensor(test_part)].clone(),
                            list(test.class_names))
    work = Path(args.work_dir)
    run_name = (f"label_noise_{args.arch}_{args.input_size or 'default'}px_{args.subset}_"
                f"{args.epochs}ep_seed{args.seed}")
    config = TrainConfig(arch=args.arch, epochs=args.epochs, batch_size=128, max_lr=args.max_lr,
                         seed=args.seed, input_size=args.input_size, run_name=run_name,
                         checkpoint_dir=str(work), output=str(work / f"{run_name}.pth"))
    started = time.perf_counter()
    trained = train(config, force=True, train_split=noisy, test_split=small_test)
    train_seconds = time.perf_counter() - started
    checkpoints = find_checkpoints(work / run_name)
    started = time.perf_counter()
    result = TracInLastLayer(checkpoints, cache=FactorCache(work / "cache")).self_influence(noisy)
    influence_seconds = time.perf_counter() - started
    rankings = {
        "tracin_raw": result.raw.numpy(),
        "tracin_normalized": result.normalized.numpy(),
        "loss_last_checkpoint": result.loss.double().numpy(),
        "random": rng.permutation(len(labels)).astype(np.float64),
    }
    table = {name: {f"top_{round(100 * s)}pct": found_fraction(scores, flipped, s)
                    for s in FRACTIONS} for name, scores in rankings.items()}
    train_accuracy_noisy = float((result.predicted == noisy.labels).float().mean())
    return {"suite": "label-noise", "arch": args.arch, "epochs": args.epochs,
            "input_size": args.input_size,
            "subset": args.subset, "noise_fraction": args.noise, "flipped": count,
            "seed": args.seed, "test_accuracy_1000": round(trained.test_accuracy, 4),
            "train_accuracy_on_noisy_labels": round(train_accuracy_noisy, 4),
            "train_seconds": round(train_seconds, 1),
            "self_influence_seconds": round(influence_seconds, 1),
            "fraction_of_flipped_found": table,
            "random_expected": {f"top_{round(100 * s)}pct": s for s in FRACTIONS}}


SUITE_FUNCTIONS = {"self": self_suite, "test": test_suite, "label-noise": label_noise}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    parser.add_argument("--suite", choices=SUITES, required=True)
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--checkpoint-dir", default="artifacts/checkpoints/alexnet_base",
                        help="the run replayed by the self and test suites")
    parser.add_argument("--cache-dir", default=None,
                        help="factor cache (self: a fresh temporary folder unless given)")
    parser.add_argument("--batch-size", type=positive_int, default=500)
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="self: only the first N training images (a quick check)")
    parser.add_argument("--arch", default="alexnet", help="label-noise: architecture trained")
    parser.add_argument("--epochs", type=positive_int, default=6)
    parser.add_argument("--input-size", type=positive_int, default=None,
                        help="label-noise: side the model resizes to (default: the arch's)")
    parser.add_argument("--max-lr", type=positive_number, default=0.02)
    parser.add_argument("--subset", type=positive_int, default=6000,
                        help="label-noise: training images")
    parser.add_argument("--noise", type=fraction, default=0.1, help="share of labels flipped")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--work-dir", default="artifacts/bench_influence",
                        help="label-noise: checkpoints and cache of the noisy run")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out:
        check_writable(args.out, force=args.force)
    load_before = os.getloadavg()
    origin = provenance()  # the commit whose code runs, not whatever HEAD is at the end
    result = SUITE_FUNCTIONS[args.suite](args)
    document = {**origin, "load_average_before": load_before,
                "load_average_after": os.getloadavg(), "result": result}
    print(json.dumps(document, indent=2))
    if args.out:
        atomic_write_json(args.out, document)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
