"""An experiment's runs as a file: JSONL (one run a line, as `/results` answers it) or CSV (one
row a run, one column per evaluation label).

Runs are read a page at a time (`PAGE_SIZE`), each page one bounded Firestore query read to its
end before the next (shared/deadlines.py: a stream may last 6 s, and a stream cut mid-way is not
resumed), so memory does not grow with the experiment. CSV needs its columns before its first row:
a first pass over the pages collects the evaluation labels (only the labels are kept), the second
writes the rows. A run finished between the two passes is still written; a label that only such
a run carries has no column.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from shared.errors import MalformedRequest
from shared.models import ExperimentRecord, RunRecord

FORMATS = ("jsonl", "csv")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
PAGE_SIZE = 500
RUN_COLUMNS = (
    "entry_id",
    "variant",
    "repetition",
    "status",
    "latency_ms",
    "error",
    "trace_id",
    "span_id",
    "prompt_version",
    "input_tokens",
    "output_tokens",
)


class RunPages(Protocol):
    def get(self, experiment_id: str) -> ExperimentRecord: ...

    def page(self, experiment_id: str, *, page_size: int, after: str | None) -> list[RunRecord]: ...


@dataclass(frozen=True)
class RunsExport:
    """What the route answers: the lines, their media type and the download's file name."""

    lines: Iterator[str]
    media_type: str
    filename: str


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise MalformedRequest("format must be csv or jsonl.", details={"field": "format"})
    return fmt


def export_runs(experiments: RunPages, experiment_id: str, fmt: str) -> RunsExport:
    """The experiment's runs as `fmt`; an unknown experiment raises NotFound before any line."""
    check_format(fmt)
    experiment = experiments.get(experiment_id)
    if fmt == "jsonl":
        lines = _jsonl_lines(_runs(experiments, experiment_id))
    else:
        labels, assessed = _evaluation_labels(experiments, experiment_id)
        lines = _csv_lines(_runs(experiments, experiment_id), labels, assessed)
    return RunsExport(lines=lines, media_type=MEDIA_TYPES[fmt], filename=download_name(experiment, fmt))


def download_name(experiment: ExperimentRecord, fmt: str) -> str:
    """`{name}-{id}.{fmt}`, the name cut to ASCII letters, digits, `_` and `-` (safe in a header)."""
    ascii_name = unicodedata.normalize("NFKD", experiment.name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_name).strip("-")[:40]
    return f"{slug + '-' if slug else ''}{experiment.experiment_id}.{fmt}"


def _runs(experiments: RunPages, experiment_id: str) -> Iterator[RunRecord]:
    after: str | None = None
    while True:
        page = experiments.page(experiment_id, page_size=PAGE_SIZE, after=after)
        yield from page
        if len(page) < PAGE_SIZE:
            return
        after = page[-1].run_id


def _evaluation_labels(experiments: RunPages, experiment_id: str) -> tuple[list[str], set[str]]:
    """Every evaluation label of the runs (sorted), and those with an assessment on some run."""
    labels: set[str] = set()
    assessed: set[str] = set()
    for run in _runs(experiments, experiment_id):
        for evaluation in run.evaluations:
            labels.add(evaluation.label)
            if evaluation.assessment is not None:
                assessed.add(evaluation.label)
    return sorted(labels), assessed


def _jsonl_lines(runs: Iterator[RunRecord]) -> Iterator[str]:
    for run in runs:
        yield run.model_dump_json() + "\n"


def _csv_lines(runs: Iterator[RunRecord], labels: list[str], assessed: set[str]) -> Iterator[str]:
    columns = [*RUN_COLUMNS]
    for label in labels:
        columns.append(label)
        if label in assessed:
            columns.append(f"{label}.assessment")
    yield _csv_line(columns)
    for run in runs:
        row: dict[str, Any] = {
            "entry_id": run.entry_id,
            "variant": run.variant,
            "repetition": run.repetition,
            "status": run.status,
            "latency_ms": run.latency_ms,
            "error": run.error,
            "trace_id": run.trace_id,
            "span_id": run.span_id,
            "prompt_version": run.prompt_version,
            "input_tokens": run.usage.input_tokens,
            "output_tokens": run.usage.output_tokens,
        }
        for evaluation in run.evaluations:
            row[evaluation.label] = evaluation.value
            if evaluation.assessment is not None:
                row[f"{evaluation.label}.assessment"] = evaluation.assessment
        yield _csv_line([_cell(row.get(column)) for column in columns])


def _cell(value: Any) -> str:
    """A CSV cell: nothing for None, true/false for booleans, JSON for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()
