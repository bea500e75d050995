"""Every script and benchmark answers ``--help`` with examples (exit 0).

A benchmark is run rarely and by hand, so a broken import there goes unseen until someone
needs the numbers; this test imports each one and asks for its help, in process (fast).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

SCRIPTS = sorted([*PROJECT_ROOT.glob("*.py"), *(PROJECT_ROOT / "benchmarks").glob("*.py")])


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_help_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


@pytest.mark.parametrize("path", SCRIPTS, ids=[str(p.relative_to(PROJECT_ROOT)) for p in SCRIPTS])
def test_help_exits_0_and_shows_examples(path, capsys):
    module = _load(path)
    with pytest.raises(SystemExit) as leaving:
        module.main(["--help"])
    assert leaving.value.code == 0
    text = capsys.readouterr().out
    assert "usage:" in text and "example" in text.lower(), text[-800:]
