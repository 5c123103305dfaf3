"""Versioned golden datasets: the guide's section 2, with real storage and a real from-trace.

A version is a draft until published; a published version is frozen and is what experiments
pin. Entries point at content-addressed images in Cloud Storage, so neither adding the same
image twice nor making a new version copies any image. What an entry is lives in
`dataset_entries`; the JSONL and CSV files an import reads and an export writes, in
`dataset_files`. Every expected output that enters (entries, imports, from-trace, candidates,
replacements) is checked against its form type first (`shared.form_types.expected`): an unknown
type or statistic is a 422 naming it, and nothing is written.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints

from shared.config import Settings
from shared.dataset_names import check_name, check_version
from shared.errors import Conflict, InvalidField, NotFound, VoteExtractorError
from shared.form_types.expected import FormTypeResolver, typed_expected_output
from shared.images import decode_image_base64, validate_image
from shared.models import (
    EXTRACTION_ID_PATTERN,
    MAX_BATCH_ENTRIES,
    Dataset,
    DatasetEntry,
    DatasetVersion,
    EntryImage,
    EntrySource,
    StoredImage,
)
from shared.paging import decode_page_token, encode_page_token
from shared.ports.services import CandidateExtractions, DatasetPush, DatasetStore, ImageStore
from shared.services.dataset_entries import (
    EntryInput,
    EntryRequest,
    EntryUpdate,
    as_read,
    build_entry,
    check_entry_id,
    content_sha256,
    entry_from_extraction,
    known_entry_id,
    typed_fields,
)
from shared.services.dataset_files import ImportReport, export_lines, parse_entries
from shared.storable_maps import StorableMap, StorableTags


class CreateDatasetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    version: StrictStr
    description: StrictStr = Field("", max_length=2000)
    metadata: StorableMap = Field(default_factory=dict, max_length=50)


class NewVersionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_version: StrictStr
    version: StrictStr


class FromTraceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    span_id: StrictStr = Field(min_length=1, max_length=64)
    trace_id: StrictStr = Field(min_length=1, max_length=64)
    tags: StorableTags = Field(default_factory=dict, max_length=20)


class CandidatesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extraction_ids: list[Annotated[StrictStr, StringConstraints(pattern=EXTRACTION_ID_PATTERN)]] | None = Field(
        None, max_length=MAX_BATCH_ENTRIES
    )


class _ImageResolver:
    """Stores or finds each image once per request (the same bytes in 10,000 lines: one upload)."""

    def __init__(self, images: ImageStore, settings: Settings) -> None:
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
        image = decode_image_base64(encoded)
        digest = hashlib.sha256(image).hexdigest()
        if digest not in self._by_sha:
            content_type = validate_image(
                image, max_bytes=self._settings.max_upload_bytes, max_pixels=self._settings.max_image_pixels
            )
            self._by_sha[digest] = self._images.put(image, content_type)
        return self._by_sha[digest]


class DatasetService:
    def __init__(
        self,
        *,
        settings: Settings,
        datasets: DatasetStore,
        extractions: CandidateExtractions,
        images: ImageStore,
        push_dataset: DatasetPush,
        form_types: FormTypeResolver,
    ) -> None:
        self._settings = settings
        self._form_types = form_types
        self._datasets = datasets
        self._extractions = extractions
        self._images = images
        self._push_dataset = push_dataset

    # datasets and versions

    def create(self, request: CreateDatasetRequest, *, created_by: str) -> DatasetVersion:
        now = datetime.now(UTC)
        dataset = Dataset(
            name=check_name(request.name),
            description=request.description,
            metadata=request.metadata,
            created_at=now,
            created_by=created_by,
        )
        version = DatasetVersion(
            version=check_version(request.version), created_at=now, created_by=created_by, updated_at=now
        )
        self._datasets.create(dataset, version)
        return version

    def listing(self) -> list[dict[str, Any]]:
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
            "created_by": found.created_by,
            "updated_at": found.updated_at.isoformat(),
            "datadog_dataset_id": found.datadog_dataset_id,
            "entries": [as_read(e).model_dump(mode="json") for e in entries],
            "next_page_token": encode_page_token(entries[-1].id) if len(entries) == page_size else None,
        }

    def publish(self, name: str, version: str) -> DatasetVersion:
        return self._datasets.publish(check_name(name), check_version(version))

    def push_to_datadog(self, name: str, version: str) -> tuple[DatasetVersion, bool]:
        """Push a published version to Datadog's Datasets once; (the version, True when pushed now)."""
        found = self._datasets.version(check_name(name), check_version(version))
        if found.status != "published":
            raise Conflict(f"{name}@{version} is a draft: publish it first; Datadog gets frozen versions only.")
        if found.datadog_dataset_id:
            return found, False
        dataset = self._datasets.dataset(name)
        pushed = self._push_dataset(
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

    def new_version(self, name: str, request: NewVersionRequest, *, created_by: str) -> DatasetVersion:
        source = self._datasets.version(check_name(name), check_version(request.from_version))
        now = datetime.now(UTC)
        target = DatasetVersion(
            version=check_version(request.version),
            from_version=source.version,
            created_at=now,
            created_by=created_by,
            updated_at=now,
        )
        self._datasets.copy_version(name, source.version, target)
        return self._datasets.version(name, target.version)

    def delete_version(self, name: str, version: str) -> None:
        """Delete a draft version and its entries (images stay: they are shared by content).
        409 when published; a repeat after a crash finishes what the first began."""
        self._datasets.delete_version(check_name(name), check_version(version))

    def delete_dataset(self, name: str) -> None:
        """Delete a dataset whose versions are all drafts; 409 naming its published versions."""
        self._datasets.delete_dataset(check_name(name))

    # entries

    def add_entries(self, name: str, version: str, requests: list[EntryRequest], *, created_by: str) -> list[str]:
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
        # Every expected output is checked before any image is stored: a bad one writes nothing.
        where = (
            ["expected_output"] if len(requests) == 1 else [f"entries[{i}].expected_output" for i in range(len(ids))]
        )
        form_types = [
            typed_expected_output(request.expected_output, self._form_types, field=field)
            for request, field in zip(requests, where, strict=True)
        ]
        resolver = _ImageResolver(self._images, self._settings)
        now = datetime.now(UTC)
        entries = [
            build_entry(
                entry_id,
                request,
                resolver.resolve(request.input),
                EntrySource(kind="manual"),
                now,
                created_by=created_by,
                form_type=form_type,
            )
            for entry_id, request, form_type in zip(ids, requests, form_types, strict=True)
        ]
        self._datasets.add(name, version, entries)
        return ids

    def from_trace(self, name: str, version: str, request: FromTraceRequest, *, created_by: str) -> str:
        self._draft(name, version)
        extraction = self._extractions.find_by_span(request.span_id)
        if extraction is None or extraction.trace_id != request.trace_id:
            raise NotFound(
                "No extraction has this span_id and trace_id.",
                details={"span_id": request.span_id, "trace_id": request.trace_id},
            )
        entry = entry_from_extraction(
            extraction, dict(request.tags), datetime.now(UTC), created_by=created_by, form_types=self._form_types
        )
        self._datasets.add(name, version, [entry])
        self._extractions.mark_in_dataset([extraction.extraction_id], f"{name}@{version}")
        return entry.id

    def add_candidates(self, name: str, version: str, request: CandidatesRequest, *, created_by: str) -> list[str]:
        """Add golden candidates in bulk: the ones named, or every open candidate."""
        self._draft(name, version)
        if request.extraction_ids is None:
            extractions = self._extractions.golden_candidates(limit=MAX_BATCH_ENTRIES)
        else:
            extractions = [self._extractions.get(i) for i in dict.fromkeys(request.extraction_ids)]
        if not extractions:
            return []
        now = datetime.now(UTC)
        entries = [
            entry_from_extraction(
                extraction,
                {},
                now,
                created_by=created_by,
                form_types=self._form_types,
                field=f"{extraction.extraction_id}.expected_output",
            )
            for extraction in extractions
        ]
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
        return as_read(self._datasets.entry(name, version, known_entry_id(entry_id)))

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
        typed = (
            typed_fields(
                update.expected_output,
                typed_expected_output(update.expected_output, self._form_types, field="expected_output"),
            )
            if update.expected_output is not None
            else {}
        )

        def replaced(entry: DatasetEntry) -> DatasetEntry:
            fields = {name: getattr(update, name) for name in changes} | typed
            if "tags" in fields and fields["tags"] is None:
                fields["tags"] = {}
            changed = as_read(entry).model_copy(update=fields)
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

        return as_read(self._datasets.replace(name, version, known_entry_id(entry_id), replaced))

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
        return export_lines((as_read(entry) for entry in self._datasets.stream(name, version)), fmt=fmt)

    def import_entries(
        self, name: str, version: str, lines: Iterable[bytes], *, fmt: str, all_or_nothing: bool, created_by: str
    ) -> ImportReport:
        """Import line by line; each bad line is reported with its reason. `all_or_nothing`
        imports nothing unless every line is good."""
        self._draft(name, version)
        parsed = parse_entries(lines, fmt=fmt)
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
                form_type = typed_expected_output(request.expected_output, self._form_types, field="expected_output")
                image = resolver.resolve(request.input)
            except VoteExtractorError as error:
                report.reject(number, error.message)
                continue
            seen.add(entry_id)
            entry = build_entry(
                entry_id, request, image, EntrySource(kind="import"), now, created_by=created_by, form_type=form_type
            )
            chunk.append((number, entry))
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
