"""The seed's script name: confidently wrong images, as `generate_specialized_repairsets.py
confident_wrong [threshold] [max_samples]` (same code, same options, same files).

Examples:
  uv run python generate_confident_wrong_repairset.py            # confidence >= 0.8, all
  uv run python generate_confident_wrong_repairset.py 0.9 200    # the 200 most confident
  uv run python generate_confident_wrong_repairset.py 0.9 --per-class 5 --num-classes 4
"""

from __future__ import annotations

import sys

import generate_specialized_repairsets
from helpers.cli import run_main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return generate_specialized_repairsets.main(["confident_wrong", *argv])


if __name__ == "__main__":
    sys.exit(run_main(main))
