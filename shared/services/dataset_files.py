"""A dataset version as a file: JSONL and CSV, read line by line and written a line at a time.

Reading turns each line into an `EntryRequest` or the reason it is refused, so an import can
report every bad line (`ImportReport`) instead of stopping at the first. An export imports back
as it is: the fields only an export carries are dropped on the way in.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared.errors import InvalidField
from shared.models import DatasetEntry
from shared.services.dataset_entries import EntryRequest

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = (
    "id",
    "image_uri",
    "image_sha256",
    "content_type",
    "metadata",
    "expected_output",
    "reference_docs",
    "tags",
    "validated",
    "source_kind",
    "created_at",
)
CSV_REQUIRED = {"id", "image_uri", "expected_output"}
# The importer records its own (the form type and checks: from the expected output, checked again).
_EXPORT_ONLY_FIELDS = ("source", "created_at", "created_by", "content_sha256", "form_type", "checks")
_EXPORT_ONLY_INPUT_FIELDS = ("image_sha256", "content_type")
MAX_REJECTIONS_REPORTED = 1000


@dataclass
class ImportReport:
    """How many entries an import stored, and which lines it refused and why (the first 1,000)."""

    imported: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rejected_count: int = 0

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTIONS_REPORTED:
            self.rejected.append({"line": line, "reason": reason})


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidField("format must be jsonl or csv.", details={"field": "format"})
    return fmt


def parse_entries(lines: Iterable[bytes], *, fmt: str) -> Iterator[tuple[int, EntryRequest | str]]:
    """(line number, entry or the reason it is refused) for each line of a CSV or JSONL upload."""
    return parse_csv(lines) if fmt == "csv" else parse_jsonl(lines)


def export_lines(entries: Iterator[DatasetEntry], *, fmt: str) -> Iterator[str]:
    """The entries as JSONL or CSV text, a line at a time (memory does not grow with the version)."""
    return _jsonl_lines(entries) if check_format(fmt) == "jsonl" else _csv_lines(entries)


def parse_jsonl(lines: Iterable[bytes]) -> Iterator[tuple[int, EntryRequest | str]]:
    """(line number, entry or the reason it is refused); blank lines are skipped."""
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            document = json.loads(text)
        except ValueError as error:
            yield number, f"not JSON: {error}"
            continue
        if not isinstance(document, dict):
            yield number, "not a JSON object"
            continue
        for name in _EXPORT_ONLY_FIELDS:
            document.pop(name, None)
        if isinstance(document.get("input"), dict):
            for name in _EXPORT_ONLY_INPUT_FIELDS:
                document["input"].pop(name, None)
        yield number, _validated(document)


def parse_csv(lines: Iterable[bytes]) -> Iterator[tuple[int, EntryRequest | str]]:
    """(line number, entry or the reason it is refused); the header is checked before any row."""
    reader = csv.DictReader(io.TextIOWrapper(io.BufferedReader(_LineReader(lines)), encoding="utf-8", newline=""))
    try:
        yield from _csv_entries(reader)
    except UnicodeDecodeError as error:  # was a 500 (found by contract fuzzing with a binary body)
        raise InvalidField(f"The CSV is not UTF-8 text: {error.reason}.", details={"field": "body"}) from None


def _csv_entries(reader: csv.DictReader[str]) -> Iterator[tuple[int, EntryRequest | str]]:
    columns = set(reader.fieldnames or [])
    if not CSV_REQUIRED <= columns or not columns <= set(CSV_COLUMNS):
        raise InvalidField(
            f"The CSV's columns must include {sorted(CSV_REQUIRED)}; the others allowed are "
            f"{sorted(set(CSV_COLUMNS) - CSV_REQUIRED)}.",
            details={"columns": sorted(columns)},
        )
    for row in reader:
        number = reader.line_num
        try:
            document = {
                "id": row["id"] or None,
                "input": {"image_uri": row["image_uri"], "metadata": json.loads(row.get("metadata") or "{}")},
                "expected_output": json.loads(row["expected_output"]),
                "reference_docs": row.get("reference_docs") or None,
                "tags": json.loads(row.get("tags") or "{}"),
                "validated": (row.get("validated") or "false").lower() == "true",
            }
        except ValueError as error:
            yield number, f"a JSON cell is not JSON: {error}"
            continue
        yield number, _validated(document)


def _validated(document: dict[str, Any]) -> EntryRequest | str:
    try:
        return EntryRequest.model_validate(document)
    except ValidationError as error:
        problem = error.errors(include_url=False, include_input=False)[0]
        return f"{'.'.join(str(p) for p in problem['loc']) or 'entry'}: {problem['msg']}"
    except InvalidField as error:
        return error.message


class _LineReader(io.RawIOBase):
    """Bytes lines as a readable stream (csv wants text; the request gives an iterator of lines)."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = iter(lines)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._lines)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size], self._pending = self._pending[:size], self._pending[size:]
        return size


def _jsonl_lines(entries: Iterator[DatasetEntry]) -> Iterator[str]:
    for entry in entries:
        yield entry.model_dump_json() + "\n"


def _csv_lines(entries: Iterator[DatasetEntry]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(
            [
                entry.id,
                entry.input.image_uri,
                entry.input.image_sha256,
                entry.input.content_type,
                json.dumps(entry.input.metadata),
                entry.expected_output.model_dump_json(),
                entry.reference_docs or "",
                json.dumps(entry.tags),
                "true" if entry.validated else "false",
                entry.source.kind,
                entry.created_at.isoformat(),
            ]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()
