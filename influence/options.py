"""Flags the influence scripts share, declared once (see helpers.cli)."""

from __future__ import annotations

import argparse

from helpers.cli import ArgumentParser, HelpFormatter


def figure_parser(doc: str, result_help: str) -> argparse.ArgumentParser:
    """The parser of a script that draws a result's figures: the result, where the images
    are, where the PNGs go, ``--force`` and ``-v``; the script adds its own flags."""
    parser = ArgumentParser(description=doc.split("\n\n")[0], epilog=doc.split("\n\n", 1)[1],
                            formatter_class=HelpFormatter)
    parser.add_argument("result", help=result_help)
    parser.add_argument("--data-root", default="data",
                        help="where the data set's images are (for the thumbnails)")
    parser.add_argument("--output-dir", default=None,
                        help="where the PNGs go (default: results/tracin/figures/<result name>)")
    parser.add_argument("--force", action="store_true", help="overwrite existing PNGs")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser
