"""What an NPZ batch file must hold, checked in one place the reader calls.

``np.load`` parses the file; these functions check the values: pixels as whole numbers in
0..255 (a float 300.7 would be cast to 44 by ``astype(uint8)``), labels as finite whole numbers
(a NaN label becomes -9223372036854775808), rows of a non-zero width, and class-name files
that are text. Each problem is named with the file and the field.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from helpers.errors import UserError

# What np.load raises on a damaged file: a truncated zip, a bad header, a short array.
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError)


def checked_labels(path: Path, raw: np.ndarray) -> np.ndarray:
    """``labels`` as int64, refusing non-numbers, NaN, infinity and fractions."""
    raw = np.asarray(raw).reshape(-1)
    if not (np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)):
        raise UserError(f"{path}: 'labels' must be whole numbers, got dtype {raw.dtype}")
    if np.issubdtype(raw.dtype, np.floating):
        if not np.isfinite(raw).all():
            raise UserError(f"{path}: 'labels' holds NaN or infinite values")
        if not (raw == np.round(raw)).all():
            raise UserError(f"{path}: 'labels' holds fractions; labels are whole class numbers")
    return raw.astype(np.int64)


def checked_pixels(path: Path, data: np.ndarray) -> np.ndarray:
    """``data`` as uint8 rows, refusing zero-width rows and values outside 0..255."""
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] == 0:
        raise UserError(f"{path}: 'data' must be (N, 3*H*W) pixel rows of non-zero width, got "
                        f"shape {data.shape}")
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise UserError(f"{path}: 'data' must be numbers, got dtype {data.dtype}")
    if data.size and data.dtype != np.uint8:
        if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
            raise UserError(f"{path}: 'data' holds NaN or infinite pixel values")
        low, high = data.min(), data.max()
        if low < 0 or high > 255:
            raise UserError(f"{path}: 'data' pixel values must lie in 0..255, found {low}..{high}")
        if np.issubdtype(data.dtype, np.floating) and not (data == np.round(data)).all():
            raise UserError(f"{path}: 'data' holds fractional pixel values; NPZ batches hold "
                            "whole 0..255 values")
    return data.astype(np.uint8, copy=False)


def read_text_lines(path: Path) -> list[str]:
    """A class-name file's lines; a folder or binary file is named, not a traceback."""
    if not path.is_file():
        raise UserError(f"{path} must be a text file of class names, but it is a folder")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text; it must list class names") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None


def parse_clsloc(path: Path) -> list[tuple[int, str]]:
    """``map_clsloc.txt`` lines ``wnid index name``; a non-number index names its line."""
    entries = []
    for number, line in enumerate(read_text_lines(path), start=1):
        parts = line.split()
        if len(parts) >= 3:
            if not (parts[1].isascii() and parts[1].isdigit()):
                raise UserError(f"{path} line {number}: the class index {parts[1]!r} is not a "
                                "whole number (lines are `wnid index name`)")
            entries.append((int(parts[1]), parts[2]))
    return entries
