"""Each function's import path stays light: no ragas, torch, OCR, Gemini or Pub/Sub libraries at cold start."""

from __future__ import annotations

import pytest

from bench.cold_start import measure


@pytest.mark.parametrize(
    "function", ["extract", "feedback", "datasets", "experiments", "experiments_scheduled", "experiments_worker"]
)
def test_function_imports_no_heavy_library(function):
    assert measure(function, runs=1)["heavy_on_import_path"] == []
