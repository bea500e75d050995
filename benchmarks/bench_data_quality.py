"""Measure the data-quality checks on real data: planted label noise, planted copies, scale.

Suites (``--suite``):

* ``label-noise``: flip a seeded 5% of the test split's labels to another class, rank every
  image with cleanlab (each quality score) and with the baseline (the model's probability of the
  given label), and report precision and recall of the flipped images among the top 1x, 2x and
  4x as many images as were flipped; also each cleanlab filter's own flagged set.
* ``duplicates``: copy 200 test images into a training subset, each with one of a horizontal
  flip, a 2-4 pixel shift (edges repeated), colour jitter (per-channel gain and offset) or JPEG
  re-encoding (quality 75); for each embedding, how many copies are their original's nearest
  training image (top-1), and how many planted pairs are among the 200 and 500 most similar
  test/train pairs of the whole test split.
* ``scale``: wall time, CPU time and peak memory of label issues on the full training split
  (forward passes and the 5-fold probe) and of the train x test duplicate search with the
  default (spectrum) embedding, each cold (a fresh cache) in its own process. The model
  embedding's cost is its forward passes (two per image, mirror-averaged): ``duplicates``
  reports its seconds per 20,200 images.

Prints JSON with machine, commit, command and ``os.getloadavg()`` before and after; ``--out``
also writes it. Examples:

  uv run python benchmarks/bench_data_quality.py --suite label-noise \\
      --out benchmarks/results/label_noise.json
  uv run python benchmarks/bench_data_quality.py --suite duplicates \\
      --out benchmarks/results/near_duplicates.json
  uv run python benchmarks/bench_data_quality.py --suite scale \\
      --out benchmarks/results/data_quality_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.atomic_io import atomic_write_json, check_writable
from helpers.cli import ArgumentParser, HelpFormatter, fraction, positive_int, run_main
from helpers.provenance import peak_memory_mb, provenance

SUITES = ("label-noise", "duplicates", "scale")
KINDS = ("flip", "shift", "jitter", "jpeg")
EMBEDDINGS = ("pixels", "thumbnail", "spectrum", "model")


def load(args: argparse.Namespace, *, model: bool = True) -> tuple[Any, Any, Any]:
    from helpers.datasets import load_split
    from model_classes.checkpoints import load_checkpoint

    loaded = load_checkpoint(args.weights) if model else None
    test = load_split("cifar10", "test", data_root=args.data_root, download=False)
    train = load_split("cifar10", "train", data_root=args.data_root, download=False)
    return loaded, test, train


# ------------------------------------------------------------------------------ label noise


def precision_recall(order: np.ndarray, flipped: set[int], k: int) -> dict[str, float]:
    hits = len(flipped & set(order[:k].tolist()))
    return {"k": k, "precision": round(hits / k, 4), "recall": round(hits / len(flipped), 4)}


def label_noise(args: argparse.Namespace) -> dict[str, Any]:
    from data_quality.label_issues import (
        FILTERS,
        RANKINGS,
        rank_by_given_probability,
        rank_label_issues,
    )
    from data_quality.probabilities import model_probabilities

    loaded, test, _ = load(args)
    probs = model_probabilities(loaded, test.images, test.num_classes)
    labels = test.labels.numpy().copy()
    rng = np.random.default_rng(args.seed)
    count = round(args.noise * len(labels))
    flipped = rng.choice(len(labels), count, replace=False)
    labels[flipped] = (labels[flipped] + rng.integers(1, test.num_classes, size=count)) \
        % test.num_classes
    truth = set(flipped.tolist())
    ks = [count, 2 * count, 4 * count]
    rankings: dict[str, Any] = {}
    baseline = rank_by_given_probability(labels, probs)
    rankings["baseline: p(given label)"] = [precision_recall(baseline.order, truth, k)
                                            for k in ks]
    timings = {}
    for method in RANKINGS:
        started = time.perf_counter()
        ranking = rank_label_issues(labels, probs, rank_by=method)
        timings[method] = round(time.perf_counter() - started, 3)
        rankings[f"cleanlab {method}"] = [precision_recall(ranking.order, truth, k) for k in ks]
    flagged = {}
    for filter_by in FILTERS:
        ranking = rank_label_issues(labels, probs, filter_by=filter_by)
        hits = len(truth & set(ranking.issues.tolist()))
        flagged[filter_by] = {"flagged": len(ranking.issues),
                              "precision": round(hits / max(len(ranking.issues), 1), 4),
                              "recall": round(hits / count, 4)}
    clean_accuracy = float((probs.argmax(1) == test.labels.numpy()).mean())
    return {"suite": "label-noise", "images": len(labels), "flipped": count,
            "noise_fraction": args.noise, "seed": args.seed,
            "model_accuracy_clean_labels": round(clean_accuracy, 4),
            "rankings_at_1x_2x_4x": rankings, "cleanlab_flagged_sets": flagged,
            "ranking_seconds": timings,
            "note": "cleanlab's self_confidence score is p(given label), so its ranking is the "
                    "baseline's by definition; the filters decide how many to flag"}


# ------------------------------------------------------------------------------- duplicates


def duplicates(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from data_quality.duplicates import pairs_across
    from data_quality.embeddings import EmbeddingContext, embed_sets
    from data_quality.planted import DESCRIPTIONS, TRANSFORMS

    loaded, test, train = load(args, model="model" in args.embeddings)
    rng = np.random.default_rng(args.seed)
    subset = np.sort(rng.choice(len(train), args.train_subset, replace=False))
    originals = rng.choice(len(test), args.copies, replace=False)
    kinds = [KINDS[i % len(KINDS)] for i in range(args.copies)]
    copies = np.stack([TRANSFORMS[k](test.images[i].numpy(), rng)
                       for i, k in zip(originals, kinds, strict=True)])
    pool = torch.cat([train.images[torch.as_tensor(subset)], torch.from_numpy(copies)])
    planted = {(int(o), len(subset) + q) for q, o in enumerate(originals)}
    results = {}
    for name in args.embeddings:
        started = time.perf_counter()
        context = EmbeddingContext(loaded if name == "model" else None, progress=False)
        queries, reference = embed_sets(name, [test.images, pool], context,
                                        pca_dim=128 if name == "model" else None)
        embed_seconds = time.perf_counter() - started
        pairs = pairs_across(queries, reference, k=1, progress=False)
        search_seconds = time.perf_counter() - started - embed_seconds
        nearest = dict(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True))
        per_kind = dict.fromkeys(KINDS, 0)
        for q, (o, kind) in enumerate(zip(originals.tolist(), kinds, strict=True)):
            per_kind[kind] += nearest[o] == len(subset) + q
        ranked = list(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True))
        sims = {(a, b): s for a, b, s in zip(pairs.a.tolist(), pairs.b.tolist(),
                                             pairs.similarity.tolist(), strict=True)}
        found = [sims[p] for p in planted if p in sims]
        results[name] = {
            "top1": sum(per_kind.values()), "top1_by_transform": per_kind,
            "recall_top200_pairs": round(len(planted & set(ranked[:200])) / len(planted), 4),
            "recall_top500_pairs": round(len(planted & set(ranked[:500])) / len(planted), 4),
            "similarity_of_found_copies": {
                "min": round(min(found), 4) if found else None,
                "median": round(float(np.median(found)), 4) if found else None},
            "similarity_rank_200": round(float(pairs.similarity[199]), 4),
            "embed_seconds": round(embed_seconds, 2),
            "search_seconds": round(search_seconds, 2),
            "dimensions": int(queries.shape[1]),
        }
        print(f"{name}: {results[name]['top1']}/{args.copies} top-1, "
              f"{per_kind}", file=sys.stderr)
    return {"suite": "duplicates", "test_images": len(test), "train_subset": len(subset),
            "copies": args.copies, "per_transform": args.copies // len(KINDS),
            "transforms": DESCRIPTIONS,
            "seed": args.seed, "model_layer": "penultimate (flip-averaged, PCA 128)",
            "embeddings": results}


# ------------------------------------------------------------------------------------ scale


def scale(args: argparse.Namespace) -> dict[str, Any]:
    """Each measured command in its own process, with a fresh (empty) feature cache."""
    runs = {}
    commands = {
        "label_issues_train_split": [
            "find_label_issues.py", "--split", "train", "--weights", str(args.weights),
            "--data-root", str(args.data_root)],
        "near_duplicates_train_x_test_spectrum": [
            "find_near_duplicates.py", "--split", "test", "--against", "train",
            "--embedding", "spectrum", "--data-root", str(args.data_root)],
    }
    root = Path(__file__).resolve().parent.parent
    for name, command in commands.items():
        with tempfile.TemporaryDirectory() as scratch:
            env = {**os.environ, "ALEXNET_REPAIR_CACHE": str(Path(scratch) / "cache")}
            load_before = os.getloadavg()
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--measure-child",
                 *command, "--output", str(Path(scratch) / "report.json")],
                cwd=root, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
            child = json.loads(done.stdout.strip().splitlines()[-1])
            report = json.loads((Path(scratch) / "report.json").read_text())
        runs[name] = {"command": " ".join(command), "wall_seconds": round(seconds, 1),
                      "cpu_seconds": child["cpu_seconds"],
                      "peak_rss_mb": child["peak_rss_mb"], "summary": report["summary"],
                      "load_average_before": [round(v, 2) for v in load_before],
                      "load_average_after": [round(v, 2) for v in os.getloadavg()],
                      "goal_seconds": 300, "met": seconds < 300}
        print(f"{name}: {seconds:.0f} s wall, {child['cpu_seconds']} s CPU, "
              f"{child['peak_rss_mb']} MB", file=sys.stderr)
    return {"suite": "scale", "runs": runs,
            "note": "each run cold: a fresh feature and logits cache, one process; on a "
                    "shared machine wall time depends on the load (see the load averages), "
                    "cpu_seconds (user + system, all threads) much less"}


def measure_child(argv: list[str]) -> int:
    """Run a script's main in this process and print its peak memory as JSON."""
    import importlib

    script, *rest = argv
    module = importlib.import_module(Path(script).stem)
    code = run_main(module.main, rest)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"code": code, "peak_rss_mb": round(peak_memory_mb(), 1),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1)}))
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1], formatter_class=HelpFormatter)
    parser.add_argument("--suite", choices=SUITES, required=True)
    parser.add_argument("--weights", type=Path, default=Path("artifacts/alexnet_base.pth"))
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--noise", type=fraction, default=0.05, help="fraction of labels flipped")
    parser.add_argument("--copies", type=positive_int, default=200)
    parser.add_argument("--train-subset", type=positive_int, default=10_000)
    parser.add_argument("--embeddings", nargs="+", choices=EMBEDDINGS, default=list(EMBEDDINGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--force", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--measure-child":
        return measure_child(argv[1:])
    args = build_parser().parse_args(argv)
    if args.out:
        check_writable(args.out, force=args.force)
    load_before = os.getloadavg()
    started = time.perf_counter()
    body = {"label-noise": label_noise, "duplicates": duplicates, "scale": scale}[args.suite](args)
    result = {**provenance(), "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()],
              "seconds": round(time.perf_counter() - started, 1),
              "peak_rss_mb": round(peak_memory_mb(), 1), **body}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
