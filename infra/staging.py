"""Stage one function's deployable source: its own folder's files at the root, plus `shared/`.

On Cloud Functions only the uploaded folder is on `sys.path`, so `shared/` must travel inside
each function's source (LOCAL-STACK-NOTES.md, "functions-framework"). Only what the function
runs is copied: no tests, benchmarks, caches or local-stack tooling.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from infra.catalog import ROOT, FunctionSpec

SHARED_PACKAGE = ROOT / "shared"
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")


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
    shutil.copytree(SHARED_PACKAGE, staged / "shared", ignore=_SKIPPED)
    return staged
