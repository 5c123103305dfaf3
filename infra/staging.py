"""Stage a deployable source: a function's folder plus `shared/`, or the console plus a few shared files.

On Cloud Functions only the uploaded folder is on `sys.path`, so `shared/` must travel inside
each function's source (LOCAL-STACK-NOTES.md, "functions-framework"). Only what the function
runs is copied: no tests, benchmarks, caches or local-stack tooling, and not `shared/synthetic`
(the synthetic form generator of the demo and the tests). The console (Cloud Run,
built from its Dockerfile) gets only the shared files its catalog entry lists: it is a client of
the API, so no storage, services or model code travels with it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from infra.catalog import ROOT, ConsoleSpec, FunctionSpec

SHARED_PACKAGE = ROOT / "shared"
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")
# No function runs these; the console, whose "Generate a sample form" draws a synthetic form,
# lists `shared/synthetic` in its own shared_paths.
SHARED_NOT_DEPLOYED = frozenset({"synthetic"})
CONSOLE_STAGED_NAME = "console"
_CONSOLE_REQUIRED = ("app.py", "requirements.txt", "Dockerfile")
# Streamlit's settings travel; its local secrets (API keys for `streamlit run`) never do.
_CONSOLE_DOT_FOLDERS = (".streamlit",)
_CONSOLE_NEVER = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "secrets.toml", ".*")


class StagingError(Exception):
    """The function's source folder cannot be staged (missing or incomplete)."""


def stage_function(spec: FunctionSpec, build_root: Path) -> Path:
    """Copy `spec`'s folder and `shared/` into `build_root/<name>` (replaced if present).

    Returns the staged folder, ready for `gcloud functions deploy --source`.
    """
    source = spec.source_dir
    for required in ("main.py", "requirements.txt"):
        if not (source / required).is_file():
            raise StagingError(f"{spec.name}: {spec.source}/{required} does not exist (looked in {source})")
    staged = build_root / spec.name
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    for item in sorted(source.iterdir()):
        if item.name.startswith(".") or item.name == "__pycache__" or item.suffix in (".pyc", ".pyo"):
            continue
        if item.name == "shared":
            raise StagingError(f"{spec.name}: its folder has its own shared/, which would shadow the package")
        if item.is_dir():
            shutil.copytree(item, staged / item.name, ignore=_SKIPPED)
        else:
            shutil.copy2(item, staged / item.name)
    shutil.copytree(SHARED_PACKAGE, staged / "shared", ignore=_deployed_shared)
    return staged


def _deployed_shared(directory: str, names: list[str]) -> set[str]:
    """copytree's ignore for `shared/`: caches and dot files anywhere, SHARED_NOT_DEPLOYED at its top."""
    skipped = set(_SKIPPED(directory, names))
    if Path(directory) == SHARED_PACKAGE:
        skipped |= SHARED_NOT_DEPLOYED & set(names)
    return skipped


def stage_console(console: ConsoleSpec, build_root: Path) -> Path:
    """Copy the console's folder and its listed shared files into `build_root/console` (replaced if present).

    Returns the staged folder, ready for `gcloud run deploy --source` (built from its Dockerfile).
    """
    source = console.source_dir
    for required in _CONSOLE_REQUIRED:
        if not (source / required).is_file():
            raise StagingError(f"console: {console.source}/{required} does not exist (looked in {source})")
    staged = build_root / CONSOLE_STAGED_NAME
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    for item in sorted(source.iterdir()):
        if item.name.startswith(".") and item.name not in _CONSOLE_DOT_FOLDERS:
            continue
        if item.name == "__pycache__" or item.suffix in (".pyc", ".pyo"):
            continue
        if item.name == "shared":
            raise StagingError("console: its folder has its own shared/, which would shadow the package")
        if item.is_dir():
            shutil.copytree(item, staged / item.name, ignore=_CONSOLE_NEVER)
        else:
            shutil.copy2(item, staged / item.name)
    for relative in console.shared_paths:
        origin = ROOT / relative
        if not origin.exists():
            raise StagingError(f"console: shared path {relative} does not exist (looked in {origin})")
        target = staged / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=_SKIPPED)
        else:
            shutil.copy2(origin, target)
    return staged
