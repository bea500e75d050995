"""Wall time of one sweep under each executor: local with 1 and 2 workers, and Ray.

Runs the same 12-trial sweep (misclassified sets of 12 sizes) three times through
``experiment_runner.py`` in a subprocess, each into a fresh folder, and prints one JSON object
per run and a summary naming the machine, the commit and the command. Ray's overhead per task is
(Ray's wall time minus the 2-worker pool's) / trials: both use 2 processes on the same cores,
so the difference is starting Ray, shipping the inputs and the per-task round trips.

Example:
  uv run python benchmarks/bench_executors.py --weights artifacts/alexnet_base.pth \\
      --data-root data --output benchmarks/results/executors.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere

from helpers.atomic_io import atomic_write_json, check_writable  # noqa: E402
from helpers.cli import ArgumentParser, HelpFormatter, run_main  # noqa: E402
from helpers.provenance import provenance  # noqa: E402

RUNS = {"local-1": ["--workers", "1"], "local-2": ["--workers", "2"],
        "ray": ["--executor", "ray"]}


def build_parser() -> argparse.ArgumentParser:
    description, epilog = __doc__.split("\n\n", 1)
    parser = ArgumentParser(description=description, epilog=epilog,
                            formatter_class=HelpFormatter)
    parser.add_argument("--weights", default="artifacts/alexnet_base.pth")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--trials", type=int, default=12, help="sizes 1..N, one trial each")
    parser.add_argument("--reference-size", type=int, default=1000)
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--output", type=Path, default=None, help="JSON file for the summary")
    parser.add_argument("--force", action="store_true")
    return parser


def run_once(name: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    command = [sys.executable, str(ROOT / "experiment_runner.py"),
               "--weights", str(Path(args.weights).resolve()),
               "--data-root", str(Path(args.data_root).resolve()),
               "--repair-set-types", "misclassified",
               "--repair-set-sizes", *[str(n) for n in range(1, args.trials + 1)],
               "--reference-size", str(args.reference_size), "--no-save-models", "--no-progress",
               "--output-file", str(folder / "rows.csv"),
               "--edit-sets-dir", str(folder / "edit_sets"), *RUNS[name]]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr[-2000:]}")
    rows = (folder / "rows.csv").read_text().count("\n") - 1
    return {"kind": "run", "run": name, "wall_seconds": round(seconds, 2), "rows": rows,
            "flags": RUNS[name]}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.output:
        check_writable(args.output, force=args.force)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as scratch:
        for name in args.runs:
            folder = Path(scratch) / name
            folder.mkdir()
            record = run_once(name, args, folder)
            results.append(record)
            print(json.dumps(record), flush=True)
    wall = {r["run"]: r["wall_seconds"] for r in results}
    summary: dict[str, Any] = {"kind": "summary", "weights": str(args.weights),
                               "data_root": str(args.data_root), "trials": args.trials,
                               "reference_size": args.reference_size, "wall_seconds": wall}
    if "ray" in wall and "local-2" in wall:
        summary["ray_overhead_seconds_per_trial"] = round(
            (wall["ray"] - wall["local-2"]) / args.trials, 2)
    summary.update(provenance())
    print(json.dumps(summary), flush=True)
    if args.output:
        atomic_write_json(args.output, {**summary, "runs": results})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
