"""One virtual environment per staged function, with only that function's requirements.

Building one takes minutes on a cold pip cache (the experiment functions carry Ragas), so each is
kept, keyed by the hash of its requirements and the Python version, under
`$STAGED_VENV_CACHE` (default `~/.cache/vote-extractor/staged-venvs`: outside the work tree, so
a fresh clone on the same machine reuses it). A venv counts only once pip finished (its `.ready`
file); a lock keeps two test runs from building the same one at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_PIP_TIMEOUT_S = 1800


def cache_root() -> Path:
    configured = os.environ.get("STAGED_VENV_CACHE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vote-extractor" / "staged-venvs"


def venv_for(requirements: Path) -> tuple[Path, dict[str, object]]:
    """The venv with exactly `requirements` installed, and how it was built (seconds, cached or not)."""
    text = requirements.read_text()
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{text}".encode()).hexdigest()[:16]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / key
    ready = venv / ".ready"
    with _locked(root / f"{key}.lock"):
        if ready.is_file():
            return venv, {**json.loads(ready.read_text()), "cached": True}
        if venv.exists():
            shutil.rmtree(venv)  # a build that was interrupted
        started = time.perf_counter()
        _run([sys.executable, "-m", "venv", str(venv)], "create the venv")
        _run(
            [
                str(python_of(venv)),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(requirements),
            ],
            f"pip install -r {requirements.name}",
        )
        built = {"seconds": round(time.perf_counter() - started, 1), "requirements": text}
        ready.write_text(json.dumps(built))
        return venv, {**built, "cached": False}


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"could not {what} (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
