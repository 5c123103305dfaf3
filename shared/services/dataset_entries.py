"""What a dataset entry is made of: the names it lives under, the entry a client sends, and the
stored entry built from it (or from an extraction), with the content hash `diff` compares, the
form type its expected output is and that type's rules' verdicts on it (`checks`).

Shared by the dataset use case, its file formats (`dataset_files`), the review queue and the
experiments, none of which needs the dataset service itself.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

from shared.errors import InvalidField, NotFound
from shared.fingerprints import json_sha256
from shared.form_types.checks import check_rules
from shared.form_types.expected import FormTypeResolver, entry_form_type_ref, typed_expected_output
from shared.form_types.model import FormType
from shared.form_types.resolve import builtin_form_type
from shared.models import (
    DatasetEntry,
    EntryImage,
    EntrySource,
    ExtractionRecord,
    VoteExtraction,
)
from shared.storable_maps import StorableMap, StorableTags

MAX_COUNT = 2**63 - 1
ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_entry_id(entry_id: str) -> str:
    if not isinstance(entry_id, str) or not ENTRY_ID.fullmatch(entry_id) or ".." in entry_id:
        raise InvalidField(
            "An entry id is 1-128 characters: letters, digits, '.', '_' and '-'.", details={"field": "id"}
        )
    return entry_id


def known_entry_id(entry_id: str) -> str:
    """A path's entry id; one that could never have been stored is simply not found."""
    if not isinstance(entry_id, str) or not ENTRY_ID.fullmatch(entry_id) or ".." in entry_id:
        raise NotFound("No such entry.", details={"entry_id": entry_id[:200]})
    return entry_id


class EntryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_uri: StrictStr | None = None
    image_base64: StrictStr | None = None
    metadata: StorableMap = Field(default_factory=dict, max_length=50)


def no_negative_counts(expected: VoteExtraction | None) -> VoteExtraction | None:
    """A golden answer counts ballots: a negative count is a typo, never the truth."""
    if expected is None:
        return None
    counts = [(row.candidate_name, row.vote_count) for row in expected.vote_results]
    counts += list(expected.ballot_stats.model_dump().items()) + list(expected.statistics.items())
    negative = [name for name, value in counts if (value or 0) < 0]
    if negative:
        raise ValueError(f"counts cannot be negative ({', '.join(negative[:5])})")
    too_large = [name for name, value in counts if (value or 0) > MAX_COUNT]
    if too_large:  # Firestore stores 64-bit integers
        raise ValueError(f"counts cannot exceed {MAX_COUNT} ({', '.join(too_large[:5])})")
    return expected


class EntryRequest(BaseModel):
    """An entry as a client sends it (API.md's Entry)."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | None = None
    input: EntryInput
    expected_output: VoteExtraction
    reference_docs: StrictStr | None = Field(None, max_length=50_000)
    tags: StorableTags = Field(default_factory=dict, max_length=20)
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
    tags: StorableTags | None = Field(None, max_length=20)
    validated: StrictBool | None = None

    _counts = field_validator("expected_output")(no_negative_counts)


def content_sha256(image_sha256: str, expected: VoteExtraction, docs: str | None, tags: dict, validated: bool) -> str:
    body = {
        "image": image_sha256,
        "expected": expected.model_dump(mode="json"),
        "docs": docs,
        "tags": tags,
        "validated": validated,
    }
    return json_sha256(body)


def typed_fields(expected: VoteExtraction, form_type: FormType) -> dict[str, Any]:
    """What an entry stores about its paper: the type's `name@n` and each rule's verdict on the
    expected output itself (a failing rule is kept: an over-voted station is information)."""
    return {"form_type": form_type.ref, "checks": [c.as_dict() for c in check_rules(form_type, expected)]}


def as_read(entry: DatasetEntry) -> DatasetEntry:
    """The entry as clients read it: one made before form types gets the type its expected output
    names if that is a built-in (else generic) and its checks, computed now (nothing is written)."""
    if entry.form_type is not None:  # stored with its checks
        return entry
    form_type = builtin_form_type(entry_form_type_ref(None, entry.expected_output))
    assert form_type is not None  # an entry without a stored type reads as a built-in
    return entry.model_copy(update=typed_fields(entry.expected_output, form_type))


def build_entry(
    entry_id: str,
    request: EntryRequest,
    image: EntryImage,
    source: EntrySource,
    now: datetime,
    *,
    created_by: str,
    form_type: FormType,
) -> DatasetEntry:
    """The stored entry; `form_type` is the type its expected output was checked against."""
    return DatasetEntry(
        id=entry_id,
        input=image,
        expected_output=request.expected_output,
        reference_docs=request.reference_docs,
        tags=request.tags,
        validated=request.validated,
        source=source,
        created_at=now,
        created_by=created_by,
        content_sha256=content_sha256(
            image.image_sha256, request.expected_output, request.reference_docs, request.tags, request.validated
        ),
        **typed_fields(request.expected_output, form_type),
    )


def entry_from_extraction(
    extraction: ExtractionRecord,
    tags: dict[str, str],
    now: datetime,
    *,
    created_by: str,
    form_types: FormTypeResolver,
    expected: VoteExtraction | None = None,
    validated: bool | None = None,
    retyped: bool = False,
    field: str = "expected_output",
) -> DatasetEntry:
    """A dataset entry made from a stored extraction (from-trace, candidates, the review queue).

    The expected output is `expected` when given, else the corrected output when feedback
    corrected it, else the model's result; validated when a person corrected or approved it.
    Its type is the one the extraction was read as (a reading's `form.form_type` is the model's
    text), unless `retyped`: a person named the paper's type in a correction, as a client does in
    an entry. It is checked against that type as a client's entry is (422 naming `field`).
    """
    expected = expected or extraction.corrected_result or extraction.result
    if expected is None:
        raise InvalidField(
            f"Extraction {extraction.extraction_id} failed and was never corrected: it has no output to keep.",
            details={"extraction_id": extraction.extraction_id},
        )
    if validated is None:
        validated = extraction.corrected_result is not None or extraction.approved_by_person
    form_type = typed_expected_output(expected, form_types, field=field, ref=None if retyped else extraction.form_type)
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
    return build_entry(
        extraction.extraction_id, request, image, source, now, created_by=created_by, form_type=form_type
    )
