"""The seed's script name: almost-right images, as `generate_specialized_repairsets.py closest
[min_true_prob] [max_margin] [max_samples]` (same code, same options, same files).

Examples:
  uv run python generate_closest_repairset.py                  # defaults 0.1 0.3, all
  uv run python generate_closest_repairset.py 0.2 0.2 100      # the 100 smallest margins
  uv run python generate_closest_repairset.py 0.1 0.3 --dry-run
"""

from __future__ import annotations

import sys

import generate_specialized_repairsets
from helpers.cli import run_main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return generate_specialized_repairsets.main(["closest", *argv])


if __name__ == "__main__":
    sys.exit(run_main(main))
