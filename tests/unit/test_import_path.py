"""The extract function's import path stays light: no ragas, torch or OCR libraries at cold start."""

from __future__ import annotations

from bench.cold_start import measure


def test_extract_imports_no_heavy_library():
    assert measure("extract", runs=1)["heavy_on_import_path"] == []
