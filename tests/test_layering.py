"""The packages form layers a folder listing explains: each imports only the ones below it.

    helpers          shared plumbing; imports nothing of this project
    sytorch          symbolic PyTorch and LP/QP solvers; imports nothing of this project
    model_classes    architectures, checkpoints, training      -> helpers
    activations      activation extraction and 2-D embeddings  -> helpers, model_classes
    data_quality     label issues, duplicates, review decisions -> helpers, model_classes,
                                                                  activations
    influence        TracIn over a run's checkpoints, figures  -> helpers, model_classes
    editset_helpers  edit sets, evaluation, analysis, web       -> helpers, model_classes,
                                                                  activations (the map view),
                                                                  data_quality (exclusions,
                                                                  the review page),
                                                                  influence (the image page)
    edits            repair and sweeps                          -> all of the above

Every import counts, including those inside functions and under ``TYPE_CHECKING``: an
annotation-only upward import is still an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

ALLOWED: dict[str, set[str]] = {
    "helpers": set(),
    "sytorch": set(),
    "model_classes": {"helpers"},
    "activations": {"helpers", "model_classes"},
    "data_quality": {"helpers", "model_classes", "activations"},
    "influence": {"helpers", "model_classes"},
    "editset_helpers": {"helpers", "model_classes", "activations", "data_quality", "influence"},
    "edits": {"helpers", "model_classes", "sytorch", "editset_helpers", "data_quality"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(project package, line) of every import in ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in ALLOWED:
                found.add((top, node.lineno))
    return found


def layering_violations(root: Path) -> list[str]:
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            for imported, line in sorted(imported_packages(path)):
                if imported != package and imported not in allowed:
                    may = (f"only {', '.join(sorted(allowed))}" if allowed
                           else "nothing of this project")
                    problems.append(f"{path.relative_to(root)}:{line} imports {imported} "
                                    f"({package} may import {may})")
    return problems


def test_no_package_imports_upwards_or_in_a_circle():
    assert layering_violations(PROJECT_ROOT) == []


def test_the_allowed_graph_has_no_cycle():
    order = list(ALLOWED)  # listed bottom-up: a package may only import earlier ones
    for package, allowed in ALLOWED.items():
        assert all(order.index(a) < order.index(package) for a in allowed), package


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_says_what_it_holds(package):
    docstring = ast.get_docstring(ast.parse((PROJECT_ROOT / package / "__init__.py").read_text()))
    assert docstring and len(docstring.splitlines()[0]) > 20, package


def test_an_upward_import_is_found(tmp_path):
    for package in ALLOWED:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text('"""x"""\n')
    (tmp_path / "helpers" / "bad.py").write_text(
        "def f():\n    from editset_helpers.io import EditSet\n")
    (tmp_path / "sytorch" / "bad.py").write_text("import helpers.errors\n")
    assert layering_violations(tmp_path) == [
        "helpers/bad.py:2 imports editset_helpers (helpers may import nothing of this project)",
        "sytorch/bad.py:1 imports helpers (sytorch may import nothing of this project)"]
