"""Each function's import path stays light: no ragas, torch, OCR, Gemini or Pub/Sub libraries at cold start."""

from __future__ import annotations

import ast
import subprocess
import sys
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


# The experiments package's public modules (its face lists them): each function imports the part
# it needs, so the scheduled function never loads the runner; the other modules are the package's own.
EXPERIMENTS_PUBLIC = {
    "shared.experiments.plan",
    "shared.experiments.commands",
    "shared.experiments.queries",
    "shared.experiments.recovery",
    "shared.experiments.completion",
    "shared.experiments.shards",
    "shared.experiments.worker",
    "shared.experiments.runner",
    "shared.experiments.schedules",
    "shared.experiments.alerts",
    "shared.experiments.traffic_alerts",
    "shared.experiments.trends",
    "shared.experiments.side_by_side",
    "shared.experiments.comparison",  # compare_runs (bench.aa_simulation); McNemar for a judge's alignment
}


def test_the_experiments_package_is_used_through_its_public_modules_only():
    reaching_in = [
        f"{importer} imports {imported}"
        for importer, imported, _ in product_imports()
        if within(imported, "shared.experiments")
        and not within(importer, "shared.experiments")
        and imported not in EXPERIMENTS_PUBLIC
    ]
    assert reaching_in == []


def test_the_experiments_face_lists_every_public_module():
    face = (ROOT / "shared" / "experiments" / "__init__.py").read_text()
    assert [m for m in sorted(EXPERIMENTS_PUBLIC) if f"{m.rpartition('.')[2]}.py" not in face] == []


def test_the_scheduled_function_does_not_load_the_runner():
    loaded = subprocess.run(
        [sys.executable, "-c", "import shared.wiring.experiments_scheduled, sys; print(sorted(sys.modules))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "shared.experiments.runner" not in loaded and "shared.reading" not in loaded


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
    # The checks read imports inside functions too (the report is imported where it is used).
    imports = {(importer, imported) for importer, imported, _ in product_imports()}
    assert ("shared.experiments.queries", "shared.experiments.report") in imports


# The import graph of our own modules (`shared`, `functions`), every import statement counted:
# those inside functions and under TYPE_CHECKING too. An import inside a function is for a heavy
# library on a cold path; a heavy library is not our module, so it never closes a circle here.
OURS = ("shared", "functions")
# A lazy import between our own modules that closes a circle, (importer, imported) -> why it must
# stay. Keep it empty: a circle is cut by moving code, not by hiding an import in a function.
CIRCLE_ALLOWED: dict[tuple[str, str], str] = {}


def within(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def our_modules() -> set[str]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for folder in OURS
        for path in (ROOT / folder).rglob("*.py")
    }


def our_imports() -> set[tuple[str, str]]:
    """(importer, imported) between our own modules: `from a import b` names module `a.b` when
    there is one, else `a`; an import of a name inside a module names that module."""
    modules = our_modules()
    found = set()
    for importer, imported, names in product_imports():
        if not within(importer, *OURS) or not within(imported, *OURS):
            continue
        submodules = [f"{imported}.{name}" for name in names if f"{imported}.{name}" in modules]
        targets = submodules if submodules and len(submodules) == len(names) else [imported, *submodules]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != importer:
                found.add((importer, target))
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_circle_finder_finds_a_circle_and_only_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}

    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_our_modules_import_one_another_in_no_circle():
    imports = our_imports()
    graph: dict[str, set[str]] = {}
    for importer, imported in imports - set(CIRCLE_ALLOWED):
        graph.setdefault(importer, set()).add(imported)

    found = circles(graph)

    described = [
        ", ".join(f"{a} -> {b}" for a, b in sorted(imports) if a in circle and b in circle) for circle in found
    ]
    assert described == []
    assert set(CIRCLE_ALLOWED) <= imports, "an allowed import that is gone: take it off CIRCLE_ALLOWED"


def test_the_graph_sees_lazy_imports_between_our_modules():
    # `from shared.evaluation import cross_check, ...` inside a function: each module named is an arrow.
    assert ("shared.evaluation.catalog", "shared.evaluation.llm_judge") in our_imports()


def test_the_experiments_package_never_imports_the_services():
    reaching = sorted(
        f"{importer} imports {imported}"
        for importer, imported in our_imports()
        if within(importer, "shared.experiments") and within(imported, "shared.services")
    )
    assert reaching == []


def test_use_cases_never_import_a_storage_adapter():
    # Ports live in `shared.ports`; which adapter serves a port is chosen in `shared.wiring`.
    reaching = sorted(
        f"{importer} imports {imported}"
        for importer, imported in our_imports()
        if within(importer, "shared.services", "shared.experiments") and within(imported, "shared.storage")
    )
    assert reaching == []


# An import of our own module inside a function (STYLE.md rule 11): only to keep a heavy library
# off a cold path, each named here with what it brings. (importer, imported) -> the heavy part.
LAZY_ALLOWED: dict[tuple[str, str], str] = {
    ("shared.evaluation.catalog", "shared.evaluation"): "the built-in evaluators, Ragas' wrappers among them, "
    "registered on the first lookup: datasets needs none",
    ("shared.evaluation.llm_judge", "shared.llm.gemini"): "google-genai",
    ("shared.evaluation.ragas_metrics", "shared.llm.gemini"): "google-genai",
    ("shared.llm", "shared.llm.gemini"): "google-genai",
    ("shared.synthetic", "shared.synthetic"): "typed papers (shared.form_types), which the console is "
    "not shipped with: it draws generic forms",
    ("shared.llm.tesseract", "shared.llm.ocr.reader"): "pytesseract, Pillow and numpy",
    ("shared.experiments.alerts", "shared.experiments.analysis"): "numpy and scipy",
    ("shared.experiments.completion", "shared.experiments.analysis"): "numpy and scipy",
    ("shared.experiments.queries", "shared.experiments.analysis"): "numpy and scipy",
    ("shared.experiments.queries", "shared.experiments.report"): "numpy, scipy and Pillow",
    ("shared.experiments.trends", "shared.experiments.comparison"): "numpy and scipy",
    ("shared.experiments.trends", "shared.experiments.summary"): "numpy and scipy",
    ("shared.experiments.side_by_side", "shared.experiments.comparison"): "numpy and scipy",
    ("shared.evaluation.judges.alignment", "shared.experiments.comparison"): "numpy and scipy",
}


def lazy_imports_of_ours() -> set[tuple[str, str]]:
    found = set()
    for folder in OURS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for function in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.ImportFrom) and node.module and within(node.module, *OURS):
                        found.add((module, node.module))
                    elif isinstance(node, ast.Import):
                        found |= {(module, alias.name) for alias in node.names if within(alias.name, *OURS)}
    return found


def test_an_import_of_our_own_module_inside_a_function_is_a_heavy_one_named_here():
    assert sorted(lazy_imports_of_ours() - set(LAZY_ALLOWED)) == []


def test_every_lazy_import_named_here_is_still_made():
    assert sorted(set(LAZY_ALLOWED) - lazy_imports_of_ours()) == []
