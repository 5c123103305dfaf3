"""The export's file name goes into a Content-Disposition header: a hostile experiment name
cannot break out of it; and CSV cells say booleans, lists and absences plainly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.experiments.export import _cell, download_name
from shared.models import ExperimentRecord


def experiment(name: str) -> ExperimentRecord:
    return ExperimentRecord(
        experiment_id="exp-123",
        name=name,
        dataset_name="demo",
        dataset_version="v1",
        variants=[],
        evaluators=[],
        repetitions=1,
        concurrency=1,
        run_timeout_s=60,
        created_at=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("flash vs pro", "flash-vs-pro-exp-123.csv"),
        ('a"; filename="evil.exe\r\nX: y', "a-filename-evil-exe-X-y-exp-123.csv"),
        ("élection 2026 / résultats", "election-2026-resultats-exp-123.csv"),
        ("///", "exp-123.csv"),
        ("x" * 200, "x" * 40 + "-exp-123.csv"),
    ],
)
def test_the_file_name_holds_only_safe_characters(name: str, expected: str):
    assert download_name(experiment(name), "csv") == expected


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0.5, "0.5"),
        (3, "3"),
        ("pass", "pass"),
        ({"b": 1, "a": [2]}, '{"a": [2], "b": 1}'),
    ],
)
def test_csv_cells(value, cell):
    assert _cell(value) == cell
