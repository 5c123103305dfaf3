"""Versioned golden datasets: the guide's section 2, with real storage and a real from-trace.

A version is a draft until published; a published version is frozen and is what experiments
pin. Entries point at content-addressed images in Cloud Storage, so neither adding the same
image twice nor making a new version copies any image.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError, field_validator

from shared.config import Settings, get_settings
from shared.errors import Conflict, InvalidField, NotFound, VoteExtractorError
from shared.images import validate_image
from shared.models import (
    Dataset,
    DatasetEntry,
    DatasetVersion,
    EntryImage,
    EntrySource,
    ExtractionRecord,
    VoteExtraction,
)
from shared.services.paging import decode_page_token, encode_page_token
from shared.storage.clients import firestore_client, storage_client
from shared.storage.datasets import MAX_BATCH_ENTRIES, FirestoreDatasetRepository
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.images import GcsImageStore, StoredImage

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RESERVED_VERSIONS = {"diff", "versions", "candidates"}  # path words of the API
RESERVED_NAMES = {"candidates", "review"}  # `/datasets/candidates`, `/datasets/review/...`
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
_EXPORT_ONLY_FIELDS = ("source", "created_at", "content_sha256")
_EXPORT_ONLY_INPUT_FIELDS = ("image_sha256", "content_type")
MAX_REJECTIONS_REPORTED = 1000


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise InvalidField(
            "A dataset name is 1-63 characters: lowercase letters, digits, '_' and '-', starting with a "
            f"letter or digit, and not one of {sorted(RESERVED_NAMES)}.",
            details={"field": "name"},
        )
    return name


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION.match(version) or ".." in version or version in RESERVED_VERSIONS:
        raise InvalidField(
            "A version is a short label (at most 32 characters: letters, digits, '.', '_' and '-'), "
            "such as v1, v1.0 or 2026-11-27.",
            details={"field": "version"},
        )
    return version


def check_entry_id(entry_id: str) -> str:
    if not isinstance(entry_id, str) or not ENTRY_ID.match(entry_id) or ".." in entry_id:
        raise InvalidField(
            "An entry id is 1-128 characters: letters, digits, '.', '_' and '-'.", details={"field": "id"}
        )
    return entry_id


class EntryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_uri: StrictStr | None = None
    image_base64: StrictStr | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=50)


def no_negative_counts(expected: VoteExtraction | None) -> VoteExtraction | None:
    """A golden answer counts ballots: a negative count is a typo, never the truth."""
    if expected is None:
        return None
    negative = [row.candidate_name for row in expected.vote_results if (row.vote_count or 0) < 0]
    negative += [name for name, value in expected.ballot_stats.model_dump().items() if (value or 0) < 0]
    if negative:
        raise ValueError(f"counts cannot be negative ({', '.join(negative[:5])})")
    return expected


class EntryRequest(BaseModel):
    """An entry as a client sends it (API.md's Entry)."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | None = None
    input: EntryInput
    expected_output: VoteExtraction
    reference_docs: StrictStr | None = Field(None, max_length=50_000)
    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict, max_length=20)
    validated: StrictBool = False

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str | None) -> str | None:
        return None if value is None else check_entry_id(value)

    _counts = field_validator("expected_output")(no_negative_counts)


class EntryUpdate(BaseModel):
    """PUT /datasets/{name}/{version}/entries/{id}: the fields to replace (the image stays)."""

    model_config = ConfigDict(extra="forbid")

    expected_output: VoteExtraction | None = None
    reference_docs: StrictStr | None = Field(None, max_length=50_000)
    tags: dict[StrictStr, StrictStr] | None = Field(None, max_length=20)
    validated: StrictBool | None = None

    _counts = field_validator("expected_output")(no_negative_counts)


class CreateDatasetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    version: StrictStr
    description: StrictStr = Field("", max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=50)


class NewVersionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_version: StrictStr
    version: StrictStr


class FromTraceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    span_id: StrictStr = Field(min_length=1, max_length=64)
    trace_id: StrictStr = Field(min_length=1, max_length=64)
    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict, max_length=20)


class CandidatesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extraction_ids: list[StrictStr] | None = Field(None, max_length=MAX_BATCH_ENTRIES)


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rejected_count: int = 0

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTIONS_REPORTED:
            self.rejected.append({"line": line, "reason": reason})


class _ImageResolver:
    """Stores or finds each image once per request (the same bytes in 10,000 lines: one upload)."""

    def __init__(self, images: GcsImageStore, settings: Settings) -> None:
        self._images = images
        self._settings = settings
        self._by_sha: dict[str, StoredImage] = {}
        self._by_uri: dict[str, StoredImage] = {}

    def resolve(self, given: EntryInput) -> EntryImage:
        if (given.image_uri is None) == (given.image_base64 is None):
            raise InvalidField("An entry's input needs exactly one of image_uri or image_base64.")
        if given.image_base64 is not None:
            stored = self._store(given.image_base64)
        else:
            assert given.image_uri is not None
            stored = self._by_uri.get(given.image_uri) or self._images.describe(given.image_uri)
            self._by_uri[given.image_uri] = stored
        return EntryImage(
            image_uri=stored.uri, image_sha256=stored.sha256, content_type=stored.content_type, metadata=given.metadata
        )

    def _store(self, encoded: str) -> StoredImage:
        try:
            image = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidField("image_base64 is not valid base64.", details={"field": "image_base64"}) from None
        digest = hashlib.sha256(image).hexdigest()
        if digest not in self._by_sha:
            content_type = validate_image(
                image, max_bytes=self._settings.max_upload_bytes, max_pixels=self._settings.max_image_pixels
            )
            self._by_sha[digest] = self._images.put(image, content_type)
        return self._by_sha[digest]


def content_sha256(image_sha256: str, expected: VoteExtraction, docs: str | None, tags: dict, validated: bool) -> str:
    body = {
        "image": image_sha256,
        "expected": expected.model_dump(mode="json"),
        "docs": docs,
        "tags": tags,
        "validated": validated,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class DatasetService:
    def __init__(
        self,
        *,
        settings: Settings,
        datasets: FirestoreDatasetRepository,
        extractions: FirestoreExtractionRepository,
        images: GcsImageStore,
    ) -> None:
        self._settings = settings
        self._datasets = datasets
        self._extractions = extractions
        self._images = images

    # datasets and versions

    def create(self, request: CreateDatasetRequest) -> DatasetVersion:
        now = datetime.now(UTC)
        dataset = Dataset(
            name=check_name(request.name), description=request.description, metadata=request.metadata, created_at=now
        )
        version = DatasetVersion(version=check_version(request.version), created_at=now, updated_at=now)
        self._datasets.create(dataset, version)
        return version

    def list(self) -> list[dict[str, Any]]:
        return [
            {
                "name": dataset.name,
                "description": dataset.description,
                "versions": [v.model_dump(mode="json") for v in versions],
            }
            for dataset, versions in self._datasets.list_datasets()
        ]

    def get(self, name: str, version: str, *, page_size: int, page_token: str | None) -> dict[str, Any]:
        found = self._datasets.version(check_name(name), check_version(version))
        after = decode_page_token(page_token) if page_token else None
        entries = self._datasets.page(name, version, page_size=page_size, after=after)
        dataset = self._datasets.dataset(name)
        return {
            "name": name,
            "version": version,
            "status": found.status,
            "description": dataset.description,
            "entry_count": found.entry_count,
            "from_version": found.from_version,
            "created_at": found.created_at.isoformat(),
            "updated_at": found.updated_at.isoformat(),
            "datadog_dataset_id": found.datadog_dataset_id,
            "entries": [e.model_dump(mode="json") for e in entries],
            "next_page_token": encode_page_token(entries[-1].id) if len(entries) == page_size else None,
        }

    def publish(self, name: str, version: str) -> DatasetVersion:
        return self._datasets.publish(check_name(name), check_version(version))

    def push_to_datadog(self, name: str, version: str) -> tuple[DatasetVersion, bool]:
        """Push a published version to Datadog's Datasets once; (the version, True when pushed now)."""
        from shared.observability.datadog_datasets import push_dataset

        found = self._datasets.version(check_name(name), check_version(version))
        if found.status != "published":
            raise Conflict(f"{name}@{version} is a draft: publish it first; Datadog gets frozen versions only.")
        if found.datadog_dataset_id:
            return found, False
        dataset = self._datasets.dataset(name)
        pushed = push_dataset(
            self._settings,
            dataset_name=f"{name}-{version}",
            description=dataset.description or f"vote-extractor dataset {name}@{version}",
            entries=self._datasets.stream(name, version),
        )
        self._datasets.record_datadog_push(
            name,
            version,
            {
                "datadog_dataset_id": pushed.dataset_id,
                "datadog_url": pushed.url,
                "datadog_pushed_at": datetime.now(UTC),
            },
        )
        return self._datasets.version(name, version), True

    def new_version(self, name: str, request: NewVersionRequest) -> DatasetVersion:
        source = self._datasets.version(check_name(name), check_version(request.from_version))
        now = datetime.now(UTC)
        target = DatasetVersion(
            version=check_version(request.version), from_version=source.version, created_at=now, updated_at=now
        )
        self._datasets.copy_version(name, source.version, target)
        return self._datasets.version(name, target.version)

    # entries

    def add_entries(self, name: str, version: str, requests: list[EntryRequest]) -> list[str]:
        """Add entries atomically (all or none)."""
        self._draft(name, version)
        if not requests:
            raise InvalidField("Send at least one entry.", details={"field": "entries"})
        if len(requests) > MAX_BATCH_ENTRIES:
            raise InvalidField(
                f"At most {MAX_BATCH_ENTRIES} entries a request; use the import endpoint for more.",
                details={"field": "entries"},
            )
        ids = [request.id or uuid.uuid4().hex for request in requests]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise InvalidField("Entry ids repeat within the request.", details={"duplicate_ids": duplicates})
        resolver = _ImageResolver(self._images, self._settings)
        now = datetime.now(UTC)
        entries = [
            _entry(entry_id, request, resolver.resolve(request.input), EntrySource(kind="manual"), now)
            for entry_id, request in zip(ids, requests, strict=True)
        ]
        self._datasets.add(name, version, entries)
        return ids

    def from_trace(self, name: str, version: str, request: FromTraceRequest) -> str:
        self._draft(name, version)
        extraction = self._extractions.find_by_span(request.span_id)
        if extraction is None or extraction.trace_id != request.trace_id:
            raise NotFound(
                "No extraction has this span_id and trace_id.",
                details={"span_id": request.span_id, "trace_id": request.trace_id},
            )
        entry = entry_from_extraction(extraction, dict(request.tags), datetime.now(UTC))
        self._datasets.add(name, version, [entry])
        self._extractions.mark_in_dataset([extraction.extraction_id], f"{name}@{version}")
        return entry.id

    def add_candidates(self, name: str, version: str, request: CandidatesRequest) -> list[str]:
        """Add golden candidates in bulk: the ones named, or every open candidate."""
        self._draft(name, version)
        if request.extraction_ids is None:
            extractions = self._extractions.golden_candidates(limit=MAX_BATCH_ENTRIES)
        else:
            extractions = [self._extractions.get(i) for i in dict.fromkeys(request.extraction_ids)]
        if not extractions:
            return []
        now = datetime.now(UTC)
        entries = [entry_from_extraction(extraction, {}, now) for extraction in extractions]
        self._datasets.add(name, version, entries)
        self._extractions.mark_in_dataset([e.extraction_id for e in extractions], f"{name}@{version}")
        return [entry.id for entry in entries]

    def candidates(self, *, limit: int) -> list[dict[str, Any]]:
        return [
            {
                "extraction_id": record.extraction_id,
                "span_id": record.span_id,
                "trace_id": record.trace_id,
                "model": record.model,
                "prompt_version": record.prompt_version,
                "image_uri": record.image_uri,
                "approved_by_person": record.approved_by_person,
                "corrected": record.corrected_result is not None,
                "created_at": record.created_at.isoformat(),
            }
            for record in self._extractions.golden_candidates(limit=limit)
        ]

    def entry(self, name: str, version: str, entry_id: str) -> DatasetEntry:
        self._datasets.version(check_name(name), check_version(version))
        return self._datasets.entry(name, version, _known_entry_id(entry_id))

    def entry_image(self, name: str, version: str, entry_id: str) -> tuple[bytes, str]:
        """An entry's image bytes and content type (clients that cannot read Cloud Storage)."""
        entry = self.entry(name, version, entry_id)
        try:
            return self._images.get(entry.input.image_uri), entry.input.content_type
        except InvalidField:
            raise NotFound(f"The image of entry {entry_id!r} is gone.") from None

    def update_entry(self, name: str, version: str, entry_id: str, update: EntryUpdate) -> DatasetEntry:
        """Replace the given fields of a draft's entry; its content hash is recomputed (diff sees it)."""
        self._draft(name, version)
        changes = update.model_dump(exclude_unset=True)
        if not changes:
            raise InvalidField(
                "Send at least one of expected_output, reference_docs, tags, validated.", details={"field": "body"}
            )
        for required in ("expected_output", "validated"):
            if required in changes and changes[required] is None:
                raise InvalidField(f"{required} cannot be null.", details={"field": required})

        def replaced(entry: DatasetEntry) -> DatasetEntry:
            fields = {name: getattr(update, name) for name in changes}
            if "tags" in fields and fields["tags"] is None:
                fields["tags"] = {}
            changed = entry.model_copy(update=fields)
            return changed.model_copy(
                update={
                    "content_sha256": content_sha256(
                        changed.input.image_sha256,
                        changed.expected_output,
                        changed.reference_docs,
                        changed.tags,
                        changed.validated,
                    )
                }
            )

        return self._datasets.replace(name, version, _known_entry_id(entry_id), replaced)

    def delete_entry(self, name: str, version: str, entry_id: str) -> None:
        self._draft(name, version)
        self._datasets.delete(name, version, check_entry_id(entry_id))

    def diff(self, name: str, from_version: str, to_version: str) -> dict[str, list[str]]:
        """Entries added, removed and changed from one version to the other (a merge of two ordered streams)."""
        for version in (from_version, to_version):
            self._datasets.version(check_name(name), check_version(version))
        added, removed, changed = [], [], []
        old, new = self._datasets.stream(name, from_version), self._datasets.stream(name, to_version)
        left, right = next(old, None), next(new, None)
        while left is not None or right is not None:
            if right is None or (left is not None and left.id < right.id):
                removed.append(left.id)  # type: ignore[union-attr]
                left = next(old, None)
            elif left is None or right.id < left.id:
                added.append(right.id)
                right = next(new, None)
            else:
                if left.content_sha256 != right.content_sha256:
                    changed.append(left.id)
                left, right = next(old, None), next(new, None)
        return {"added": added, "removed": removed, "changed": changed}

    def _draft(self, name: str, version: str) -> DatasetVersion:
        """The version, refused before any work (images, parsing) when it is published."""
        found = self._datasets.version(check_name(name), check_version(version))
        if found.status == "published":
            raise Conflict(
                f"{name}@{version} is published and frozen; create a new version to change it.",
                details={"name": name, "version": version},
            )
        return found

    # import and export

    def export(self, name: str, version: str, fmt: str) -> Iterator[str]:
        """The version's entries, streamed a page at a time (memory does not grow with size)."""
        self._datasets.version(check_name(name), check_version(version))
        if fmt not in ("jsonl", "csv"):
            raise InvalidField("format must be jsonl or csv.", details={"field": "format"})
        entries = self._datasets.stream(name, version)
        return _jsonl_lines(entries) if fmt == "jsonl" else _csv_lines(entries)

    def import_entries(
        self, name: str, version: str, lines: Iterable[bytes], *, fmt: str, all_or_nothing: bool
    ) -> ImportReport:
        """Import line by line; each bad line is reported with its reason. `all_or_nothing`
        imports nothing unless every line is good."""
        self._draft(name, version)
        parsed = _parse_csv(lines) if fmt == "csv" else _parse_jsonl(lines)
        report = ImportReport()
        resolver = _ImageResolver(self._images, self._settings)
        seen: set[str] = set()
        chunk: list[tuple[int, DatasetEntry]] = []
        held: list[list[tuple[int, DatasetEntry]]] = []
        now = datetime.now(UTC)
        for number, request in parsed:
            if isinstance(request, str):
                report.reject(number, request)
                continue
            entry_id = request.id or uuid.uuid4().hex
            if entry_id in seen:
                report.reject(number, f"entry id {entry_id!r} repeats an earlier line")
                continue
            try:
                image = resolver.resolve(request.input)
            except VoteExtractorError as error:
                report.reject(number, error.message)
                continue
            seen.add(entry_id)
            chunk.append((number, _entry(entry_id, request, image, EntrySource(kind="import"), now)))
            if len(chunk) == MAX_BATCH_ENTRIES:
                held.append(chunk)
                chunk = []
                if not all_or_nothing:  # stream: write as we go, memory stays one chunk
                    self._write_chunk(name, version, held.pop(), report)
        if chunk:
            held.append(chunk)
        if not all_or_nothing:
            for pending in held:
                self._write_chunk(name, version, pending, report)
        else:
            clashes = self._datasets.existing_ids(name, version, (e.id for c in held for _, e in c))
            for number, entry in (pair for c in held for pair in c):
                if entry.id in clashes:
                    report.reject(number, f"entry id {entry.id!r} is already in {name}@{version}")
            if report.rejected_count == 0:
                for pending in held:
                    self._write_chunk(name, version, pending, report)
        return report

    def _write_chunk(
        self, name: str, version: str, chunk: list[tuple[int, DatasetEntry]], report: ImportReport
    ) -> None:
        clashes = self._datasets.existing_ids(name, version, (entry.id for _, entry in chunk))
        fresh = []
        for number, entry in chunk:
            if entry.id in clashes:
                report.reject(number, f"entry id {entry.id!r} is already in {name}@{version}")
            else:
                fresh.append(entry)
        if fresh:
            self._datasets.add(name, version, fresh)
            report.imported += len(fresh)


def entry_from_extraction(
    extraction: ExtractionRecord,
    tags: dict[str, str],
    now: datetime,
    *,
    expected: VoteExtraction | None = None,
    validated: bool | None = None,
) -> DatasetEntry:
    """A dataset entry made from a stored extraction (from-trace, candidates, the review queue).

    The expected output is `expected` when given, else the corrected output when feedback
    corrected it, else the model's result; validated when a person corrected or approved it.
    """
    expected = expected or extraction.corrected_result or extraction.result
    if expected is None:
        raise InvalidField(
            f"Extraction {extraction.extraction_id} failed and was never corrected: it has no output to keep.",
            details={"extraction_id": extraction.extraction_id},
        )
    if validated is None:
        validated = extraction.corrected_result is not None or extraction.approved_by_person
    request = EntryRequest(
        id=extraction.extraction_id,
        input=EntryInput(image_uri=extraction.image_uri),
        expected_output=expected,
        tags={"model": extraction.model, "prompt_version": extraction.prompt_version} | tags,
        validated=validated,
    )
    image = EntryImage(
        image_uri=extraction.image_uri,
        image_sha256=extraction.image_sha256,
        content_type=extraction.image_content_type,
    )
    source = EntrySource(
        kind="trace",
        extraction_id=extraction.extraction_id,
        span_id=extraction.span_id,
        trace_id=extraction.trace_id,
    )
    return _entry(extraction.extraction_id, request, image, source, now)


def _entry(entry_id: str, request: EntryRequest, image: EntryImage, source: EntrySource, now: datetime) -> DatasetEntry:
    return DatasetEntry(
        id=entry_id,
        input=image,
        expected_output=request.expected_output,
        reference_docs=request.reference_docs,
        tags=request.tags,
        validated=request.validated,
        source=source,
        created_at=now,
        content_sha256=content_sha256(
            image.image_sha256, request.expected_output, request.reference_docs, request.tags, request.validated
        ),
    )


def _known_entry_id(entry_id: str) -> str:
    """A path's entry id; one that could never have been stored is simply not found."""
    if not isinstance(entry_id, str) or not ENTRY_ID.fullmatch(entry_id) or ".." in entry_id:
        raise NotFound("No such entry.", details={"entry_id": entry_id[:200]})
    return entry_id


def _parse_jsonl(lines: Iterable[bytes]) -> Iterator[tuple[int, EntryRequest | str]]:
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
        for name in _EXPORT_ONLY_FIELDS:  # an export imports back as it is
            document.pop(name, None)
        if isinstance(document.get("input"), dict):
            for name in _EXPORT_ONLY_INPUT_FIELDS:
                document["input"].pop(name, None)
        yield number, _validated(document)


def _parse_csv(lines: Iterable[bytes]) -> Iterator[tuple[int, EntryRequest | str]]:
    reader = csv.DictReader(io.TextIOWrapper(_LineReader(lines), encoding="utf-8", newline=""))
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


@lru_cache(maxsize=1)
def dataset_service() -> DatasetService:
    settings = get_settings()
    return DatasetService(
        settings=settings,
        datasets=FirestoreDatasetRepository(firestore_client()),
        extractions=FirestoreExtractionRepository(firestore_client()),
        images=GcsImageStore(storage_client(), settings.images_bucket),
    )
