"""Time a class-balanced draw from a big NPZ set: early stop, peak memory below two batch files.

Writes (once, reused) an ImageNet64-style set of ``--files`` batch files of ``--per-file``
synthetic 64x64 images in ``--classes`` classes, laid out so that reading can stop early:
file k holds only classes 1..10k, so the last classes first appear in file 10 and a draw of
``--per-class`` images of every class is complete there, before the last files. The draw runs
in a child process so that its peak memory is its own (not the writer's). Prints JSON with
machine, commit and command; ``--out`` also writes it.

  uv run python benchmarks/bench_npz_stream.py --root /tmp/npz_bench \\
      --out benchmarks/results/npz_stream.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.atomic_io import atomic_write_json
from helpers.cli import ArgumentParser, HelpFormatter, positive_int, run_main
from helpers.provenance import peak_memory_mb, provenance

SIDE = 64


def write_set(root: Path, files: int, per_file: int, classes: int, seed: int) -> float:
    """The batch files (skipped when present); returns the seconds spent writing."""
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    for k in range(1, files + 1):
        path = root / f"train_data_batch_{k}.npz"
        if path.exists():
            continue
        present = min(classes, 10 * k)
        labels = rng.integers(1, present + 1, size=per_file, dtype=np.int64)
        data = rng.integers(0, 256, size=(per_file, 3 * SIDE * SIDE), dtype=np.uint8)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, data=data, labels=labels)
        partial.replace(path)
    (root / "classes.txt").write_text("".join(f"class_{c}\n" for c in range(classes)))
    return time.perf_counter() - started


def draw(root: Path, per_class: int, classes: int) -> dict:
    """The measured part: one balanced draw, in this (child) process."""
    from helpers.npz_batches import NpzBatchSet
    from helpers.npz_stream import draw_balanced_npz

    batch_set = NpzBatchSet(root, "train", expected_num_classes=classes)
    started = time.perf_counter()
    result = draw_balanced_npz(batch_set, per_class, list(range(classes)), progress=False)
    seconds = time.perf_counter() - started
    file_bytes = batch_set.files[0].stat().st_size
    return {"images": len(result.labels), "seconds": round(seconds, 2),
            "files_total": result.stats.files_total,
            "files_scanned": result.stats.files_scanned,
            "files_decoded": result.stats.files_decoded,
            "peak_rss_mb": round(peak_memory_mb(), 1),
            "batch_file_mb": round(file_bytes / 2**20, 1),
            "peak_below_two_files": peak_memory_mb() < 2 * file_bytes / 2**20}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                            epilog="examples:\n" + __doc__.split("\n\n")[2],
                            formatter_class=HelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("/tmp/npz_bench"))
    parser.add_argument("--files", type=positive_int, default=12)
    parser.add_argument("--per-file", type=positive_int, default=100_000)
    parser.add_argument("--classes", type=positive_int, default=100)
    parser.add_argument("--per-class", type=positive_int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(draw(args.root, args.per_class, args.classes)))
        return 0
    write_seconds = write_set(args.root, args.files, args.per_file, args.classes, args.seed)
    child = subprocess.run([sys.executable, __file__, "--child", "--root", str(args.root),
                            "--classes", str(args.classes), "--per-class", str(args.per_class)],
                           capture_output=True, text=True, check=True)
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    result = {"kind": "npz_balanced_draw", "files": args.files, "per_file": args.per_file,
              "side": SIDE, "classes": args.classes, "per_class": args.per_class,
              "write_seconds": round(write_seconds, 1), **measured, **provenance()}
    print(json.dumps(result, indent=2))
    if args.out:
        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
