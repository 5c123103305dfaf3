"""Each function's import path stays light: no ragas, torch, OCR, Gemini or Pub/Sub libraries at cold start."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.cold_start import measure


@pytest.mark.parametrize(
    "function", ["extract", "feedback", "datasets", "experiments", "experiments_scheduled", "experiments_worker"]
)
def test_function_imports_no_heavy_library(function):
    assert measure(function, runs=1)["heavy_on_import_path"] == []


# The package rules (STYLE.md): each package is used through its face, adapters do not reach back
# into use cases, and nothing private crosses a package boundary. Read from the source's own
# import statements (lazy ones inside functions included), over everything that ships or runs the
# product; tests are exempt, since unit tests exercise a package's own modules by design.
ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("shared", "functions", "infra", "bench", "frontend")


def product_imports() -> list[tuple[str, str, list[str]]]:
    """(importing module, imported module, names imported) for every import in the product."""
    found = []
    for folder in PRODUCT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ".venv" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    found += [(module, alias.name, []) for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.append((module, node.module, [alias.name for alias in node.names]))
    return found


def package_of(module: str) -> str:
    """`shared.llm.gemini` -> `shared.llm`; `functions.extract.main` -> `functions.extract`."""
    return ".".join(module.split(".")[:2])


def test_the_experiments_package_is_used_through_its_face_only():
    reaching_in = [
        f"{importer} imports {imported}"
        for importer, imported, _ in product_imports()
        if imported.startswith("shared.experiments.") and not importer.startswith("shared.experiments")
    ]
    assert reaching_in == []


def test_observability_does_not_import_the_evaluation_package():
    backwards = [
        f"{importer} imports {imported}"
        for importer, imported, _ in product_imports()
        if importer.startswith("shared.observability") and imported.startswith("shared.evaluation")
    ]
    assert backwards == []


def test_no_private_name_crosses_a_package_boundary():
    crossing = []
    for importer, imported, names in product_imports():
        if not imported.startswith(("shared", "functions", "infra", "bench", "frontend")):
            continue
        if package_of(importer) == package_of(imported):
            continue
        private_module = any(part.startswith("_") and part != "__init__" for part in imported.split("."))
        private_names = [name for name in names if name.startswith("_")]
        if private_module or private_names:
            crossing.append(f"{importer} imports {imported} {private_names or ''}".strip())
    assert crossing == []


def test_the_rules_above_see_lazy_imports():
    # The checks read imports inside functions too (the functions import their services lazily).
    imports = {(importer, imported) for importer, imported, _ in product_imports()}
    assert ("functions.experiments_worker.main", "shared.experiments") in imports
