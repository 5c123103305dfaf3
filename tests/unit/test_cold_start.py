"""A new instance pays for the first request's libraries when `main.py` is imported, not in the request.

`shared.wiring.instance.prepare_instance` (called by each `main.py`) imports ddtrace's LLM
Observability and the Google clients' libraries; `bench.cold_start`'s probe imports a function's
`main.py` in a fresh interpreter, then does what its first request does and reports what that imported.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.cold_start import ROOT, measure

FUNCTIONS = ["extract", "feedback", "datasets", "experiments", "experiments_scheduled", "experiments_worker"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_first_request_imports_neither_ddtrace_nor_firestore(function):
    measured = measure(function, runs=1)
    assert "ddtrace" not in measured["imported_by_setup"], measured
    assert "google.cloud.firestore_v1" not in measured["imported_by_setup"], measured
    assert measured["heavy_on_import_path"] == []


def test_ddtrace_is_imported_without_pydantic_evals_which_stays_importable():
    # ddtrace.llmobs would import pydantic_evals (and pydantic_ai, rich, griffe) when installed, as
    # it is here for a benchmark; the functions do not ship it.
    probe = """
import sys
from shared.config import get_settings
from shared.observability.llmobs import preload_llmobs
preload_llmobs(get_settings())
assert "ddtrace.llmobs" in sys.modules, "ddtrace.llmobs was not imported"
assert "pydantic_ai" not in sys.modules and "pydantic_evals" not in sys.modules, "pydantic_evals came in"
import pydantic_evals
print("ok")
"""
    env_free = {"DD_TRACE_AGENT_URL": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env_free, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_an_instance_whose_settings_do_not_load_still_imports_its_main():
    # prepare_instance never fails the import: the first request reports what is wrong.
    probe = """
import functions_framework
functions_framework.create_app(target="feedback", source="functions/feedback/main.py")
print("ok")
"""
    env = {"PATH": "/usr/bin:/bin", "LLMOBS_ENABLED": "not-a-boolean"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert "could not load the first request's libraries at instance start" in done.stderr
