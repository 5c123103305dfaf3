"""The extract use case: store the image, call the model, evaluate, trace, record.

Firestore is the system of record: the extraction and the evaluations bound for Datadog are
written in one batch before anything is sent, and a model failure is recorded, never lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from shared.config import Settings
from shared.errors import Conflict, DependencyUnavailable, InvalidField, NotFound
from shared.evaluation.base import Evaluator
from shared.evaluation.judge_image import IMAGE, IMAGE_CONTENT_TYPE
from shared.evaluation.online_judges import extraction_usage
from shared.evaluation.production_accuracy import automatic_verdict, drawn_for_random_sample
from shared.evaluation.sink import EvaluationBatch, EvaluationSink, SpanEvaluations
from shared.fingerprints import json_sha256
from shared.form_types.checks import shaped
from shared.form_types.model import GENERIC, FormType
from shared.form_types.registry import FormTypeRegistry
from shared.form_types.validation import check_expected
from shared.images import validate_image
from shared.llm import ModelClient, ModelRequest, get_model_client, model_options, params_with_prompt_settings
from shared.models import Evaluation, ExtractionRecord, ReviewReason, StoredImage, VoteExtraction, iso_8601_since
from shared.observability import llmobs
from shared.paging import decode_page_token, encode_page_token
from shared.ports.services import (
    DatasetReferences,
    ExtractionRemoval,
    FeedbackRemoval,
    ImageStoreWithDeletion,
    ReviewQueueProducerWithRemoval,
)
from shared.prompts import MAX_REFERENCE_DOCS_CHARS, REFERENCE_DOCS, PromptRegistry, check_reference_docs
from shared.reading import ONLINE_RETRIES, FormReader, Reading, evaluate, reading_tags, run_blocking
from shared.storable_maps import StorableMap, StorableTags

MAX_TAGS = 20
MAX_TAG_LENGTH = 200
_DELETE_ATTEMPTS = 5
_REFERENCES_NAMED = 20
MAX_FORM_TYPE_VERSIONS_LISTED = 30  # the most values a Firestore `in` filter takes


class ExtractOptions(BaseModel):
    """The optional fields of POST /extract (multipart form fields or JSON body)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, max_length=80)
    prompt_version: str | None = Field(None, max_length=80)
    form_type: str | None = Field(None, max_length=80)  # name or name@n; absent: generic
    reference_docs: str | None = Field(None, max_length=MAX_REFERENCE_DOCS_CHARS)
    params: StorableMap = Field(default_factory=dict)
    expected: VoteExtraction | None = None
    tags: StorableTags = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _small_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags")
        for key, value in tags.items():
            if not key or len(key) > MAX_TAG_LENGTH or len(value) > MAX_TAG_LENGTH:
                raise ValueError(f"tag keys must be non-empty and keys and values at most {MAX_TAG_LENGTH} characters")
        return tags


class ExtractionFilters(BaseModel):
    """The filters of GET /extract (query arguments); every one optional, all combined with AND."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["succeeded", "failed"] | None = None
    model: StrictStr | None = Field(None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    feedback: Literal["thumbs_down", "thumbs_up", "corrected", "none"] | None = None
    golden_candidate: bool | None = None
    form_type: StrictStr | None = Field(None, min_length=1, max_length=80)  # name (any version) or name@n
    since: datetime | None = None

    _iso_8601 = field_validator("since", mode="before")(iso_8601_since)

    @field_validator("since")
    @classmethod
    def _utc_when_naive(cls, since: datetime | None) -> datetime | None:
        return since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since


@dataclass(frozen=True)
class ImageSource:
    """Exactly one of: the image's bytes (upload or base64) or a gs:// URI in our bucket."""

    data: bytes | None = None
    uri: str | None = None


@dataclass(frozen=True)
class Extracted:
    """What POST /extract answers: the record, and whether an idempotency key's repeat found it made."""

    record: ExtractionRecord
    replayed: bool


class ExtractionService:
    def __init__(
        self,
        *,
        settings: Settings,
        extractions: ExtractionRemoval,
        images: ImageStoreWithDeletion,
        evaluations: EvaluationSink,
        prompts: PromptRegistry,
        form_types: FormTypeRegistry,
        evaluators: Sequence[Evaluator],
        review: ReviewQueueProducerWithRemoval,
        feedback: FeedbackRemoval,
        datasets: DatasetReferences,
    ) -> None:
        self._settings = settings
        self._extractions = extractions
        self._images = images
        self._evaluations = evaluations
        self._prompts = prompts
        self._form_types = form_types
        self._review = review
        self._feedback = feedback
        self._datasets = datasets
        self._reader = FormReader(settings=settings)
        self._evaluators = list(evaluators)  # the online set and ONLINE_JUDGES (`online_evaluators`)

    def get(self, extraction_id: str) -> ExtractionRecord:
        return self._extractions.get(extraction_id)

    def listing(self, filters: ExtractionFilters, *, page_size: int, page_token: str | None) -> dict[str, Any]:
        """A page of records, newest first, without the evaluations' reasoning and details.

        `since` is applied while reading (the order is created_at descending, so the first
        record older than `since` ends the listing): no range filter, so no extra index.
        """
        after = decode_page_token(page_token) if page_token else None
        records = self._extractions.page(
            status=filters.status,
            model=filters.model,
            feedback=filters.feedback,
            golden_candidate=filters.golden_candidate,
            form_types=self._form_type_refs(filters.form_type),
            after=after,
            limit=page_size,
        )
        kept = [r for r in records if filters.since is None or r.created_at >= filters.since]
        more = len(records) == page_size and len(kept) == len(records)
        return {
            "items": [_listed(record) for record in kept],
            "next_page_token": encode_page_token(kept[-1].extraction_id) if more and kept else None,
        }

    def _form_type_refs(self, form_type: str | None) -> list[str] | None:
        """The exact versions a `form_type` filter covers (records store the resolved `name@n`)."""
        if form_type is None:
            return None
        refs = self._form_types.refs_of(form_type, field="form_type")
        if len(refs) > MAX_FORM_TYPE_VERSIONS_LISTED:
            raise InvalidField(
                f"Form type {form_type!r} has {len(refs)} versions; list one at a time (form_type=name@n).",
                details={"field": "form_type", "versions": len(refs)},
            )
        return refs

    def options(self) -> dict[str, Any]:
        """What a client may pick: models with their params, prompts with their versions and labels,
        form types and the defaults."""
        prompts = self._prompts.listing()
        return {
            "models": model_options(self._settings),
            "prompt_versions": [prompt["name"] for prompt in prompts],
            "prompts": [_prompt_choices(prompt) for prompt in prompts],
            "form_types": self._form_types.names(),
            "default_model": self._settings.resolved_default_model,
            "default_prompt_version": self._settings.default_prompt_version,
            "default_form_type": GENERIC,
        }

    def image(self, extraction_id: str) -> tuple[bytes, str]:
        """The extraction's stored image and its content type."""
        record = self._extractions.get(extraction_id)
        try:
            return self._images.get(record.image_uri), record.image_content_type
        except InvalidField:
            raise NotFound(f"The image of extraction {extraction_id!r} is gone.") from None

    def delete(self, extraction_id: str) -> None:
        """Delete an extraction: its feedback, its review item, its image when nothing else uses
        it, and the record last, so a delete cut short leaves the record and a repeat finishes.

        409 while a dataset entry (any version) was made from it, naming the entries; its image
        stays while another extraction or any entry uses it. Its evaluations already staged for
        Datadog (`extraction~{id}` in the outbox) stay: they refer to the span, not the record.
        The record is deleted only if unchanged since it was read (feedback or a dataset took it
        meanwhile: start over, and the 409 applies).
        """
        for _ in range(_DELETE_ATTEMPTS):
            record, read_at = self._extractions.get_for_delete(extraction_id)
            entries = self._datasets.entries_from_extraction(extraction_id, limit=_REFERENCES_NAMED)
            if entries:
                raise Conflict(
                    f"Extraction {extraction_id!r} is in a dataset ({', '.join(entries)}); delete those "
                    "entries (drafts only) first.",
                    details={"extraction_id": extraction_id, "dataset_entries": entries},
                )
            self._feedback.delete_for_extraction(extraction_id)
            self._review.delete(extraction_id)
            if not self._image_in_use(record.image_uri, extraction_id):
                self._images.delete(record.image_uri)
            if self._extractions.delete(extraction_id, unchanged_since=read_at):
                return
        raise DependencyUnavailable(f"Extraction {extraction_id!r} keeps changing; try the delete again.")

    def _image_in_use(self, image_uri: str, extraction_id: str) -> bool:
        """Images are content-addressed: other extractions and dataset entries may share this one."""
        if self._extractions.others_using_image(image_uri, extraction_id):
            return True
        return bool(self._datasets.entries_using_image(image_uri, limit=1))

    def extract(
        self,
        options: ExtractOptions,
        source: ImageSource,
        *,
        created_by: str,
        idempotency_key: str | None = None,
    ) -> Extracted:
        """Everything a client sent is checked before anything is stored; `created_by` is the
        caller's API key name, on the record, the spans and the evaluations' tags.

        With an `idempotency_key`, the record's id is the key's (per caller): a repeat of the same
        request answers the record already made, without reading the form again, and a repeat
        with another request is a Conflict (409). A 503 may hide a write Firestore applied late;
        the repeat then finds it, so a client retrying with its key never makes two records."""
        model = get_model_client(options.model or self._settings.resolved_default_model, self._settings)
        prompt = self._prompts.resolve(options.prompt_version or self._settings.default_prompt_version)
        params = params_with_prompt_settings(model, prompt, options.params)  # the request's params win
        form_type = self._form_types.resolve(options.form_type, field="form_type")
        check_expected(options.expected, form_type)
        reference_docs = check_reference_docs(options.reference_docs)
        image, content_type = self._checked_image(source)
        extraction_id, request_sha256 = uuid.uuid4().hex, None
        if idempotency_key is not None:
            extraction_id = keyed_extraction_id(created_by, idempotency_key)
            request_sha256 = _request_sha256(options, source)
            made = self._made_before(extraction_id, request_sha256, idempotency_key)
            if made is not None:
                return Extracted(made, replayed=True)
        storing = self._store_image(source, image, content_type)
        variables = {REFERENCE_DOCS: reference_docs} if reference_docs else {}
        request = ModelRequest(
            image=image,
            content_type=content_type,
            prompt=prompt,
            params=params,
            variables=variables,
            form_type=form_type,
        )
        tags = reading_tags(model.model_name, request, extraction_id=extraction_id, created_by=created_by)
        with llmobs.workflow_span("extract", tags={**options.tags, **tags}) as workflow:
            reading, evaluations, stored = run_blocking(self._read(model, request, tags, options.expected, storing))
            llmobs.annotate(
                workflow,
                input_data={
                    "image_uri": stored.uri,
                    "model": model.model_name,
                    "prompt_version": prompt.version,
                    "form_type": form_type.ref,
                },
                output_data=reading.output.model_dump() if reading.output else {"error": reading.error_message},
            )
        record = _record(extraction_id, model.model_name, options, request, stored, reading, evaluations, created_by)
        record.idempotency_key, record.request_sha256 = idempotency_key, request_sha256
        if not self._save(record, prompt_version=prompt.version):  # the same key's record was made meanwhile
            made = self._made_before(extraction_id, request_sha256, idempotency_key)
            if made is None:  # made, then deleted, while this request read the form
                raise Conflict("This Idempotency-Key's record was deleted meanwhile; send the request again.")
            return Extracted(made, replayed=True)
        return Extracted(record, replayed=False)

    def _made_before(
        self, extraction_id: str, request_sha256: str | None, idempotency_key: str | None
    ) -> ExtractionRecord | None:
        """The record a key already made (None: none yet); Conflict when it was made for another request."""
        from google.api_core import exceptions

        try:
            made = self._extractions.get(extraction_id)
        except NotFound:
            return None
        except exceptions.GoogleAPICallError as error:
            raise DependencyUnavailable(f"Firestore could not be read: {error.message}") from error
        if made.request_sha256 != request_sha256:
            raise Conflict(
                f"Idempotency-Key {idempotency_key!r} was already used with a different request.",
                details={"idempotency_key": idempotency_key, "extraction_id": extraction_id},
            )
        return made

    async def _read(
        self,
        model: ModelClient,
        request: ModelRequest,
        tags: dict[str, str],
        expected: VoteExtraction | None,
        storing: Future[StoredImage],
    ) -> tuple[Reading, list[Evaluation], StoredImage]:
        """The reading pipeline, online: the adapter's retries only, the cross check when sampled;
        the output in its form type's shape, judged against that type. The image is stored
        (`storing`) while the model reads it; the evaluators get its URI."""
        reading = await self._reader.read(
            model,
            request,
            tags=tags,
            timeout_s=None,
            retry=ONLINE_RETRIES,
            second_reader=self._reader.online_second_reader(model.model_name, request.params),
        )
        reading = _in_shape(reading, request.form_type)
        stored = await asyncio.wrap_future(storing)  # a failed upload raises here: nothing is recorded
        evaluations = await evaluate(
            self._evaluators,
            reading,
            expected=expected,
            input={
                "image_uri": stored.uri,
                REFERENCE_DOCS: request.variables.get(REFERENCE_DOCS),
                IMAGE: request.image,  # for a judge that sees the form (`sees_image`)
                IMAGE_CONTENT_TYPE: request.content_type,
            },
            metadata={
                "model": model.model_name,
                "prompt_version": request.prompt.version,
                "params": request.params,
                "form_type": request.form_type,
            },
        )
        return reading, evaluations, stored

    def _checked_image(self, source: ImageSource) -> tuple[bytes, str]:
        """The image's bytes and content type, checked (an image_uri's read from our bucket)."""
        limits = {"max_bytes": self._settings.max_upload_bytes, "max_pixels": self._settings.max_image_pixels}
        if (source.data is None) == (source.uri is None):
            raise InvalidField("Send exactly one image: a file, image_base64 or image_uri.", details={"field": "image"})
        if source.data is not None:
            return source.data, validate_image(source.data, **limits)
        assert source.uri is not None
        image = self._images.get(source.uri)  # refuses foreign buckets and `..` before any read
        return image, validate_image(image, **limits)

    def _store_image(self, source: ImageSource, image: bytes, content_type: str) -> Future[StoredImage]:
        """The image's storing: an upload is started on a thread and runs beside the model call
        (Cloud Storage's round trip off the answer's path); an image_uri is stored already."""
        if source.data is not None:
            return _uploads().submit(self._images.put, image, content_type)
        assert source.uri is not None
        stored: Future[StoredImage] = Future()
        stored.set_result(
            StoredImage(uri=source.uri, sha256=hashlib.sha256(image).hexdigest(), content_type=content_type)
        )
        return stored

    def _save(self, record: ExtractionRecord, *, prompt_version: str) -> bool:
        """The record, its review item and its evaluations bound for Datadog in one write; then sent
        (EVALUATION_DELIVERY=background: handed to the delivery thread, which sends after the answer).
        False when a record of that id exists (an idempotency key's repeat won the race): nothing written."""
        from google.api_core import exceptions

        in_background = self._settings.evaluation_delivery == "background"
        evaluations = EvaluationBatch.of(
            entry_id=f"extraction~{record.extraction_id}",
            source_kind="extraction",
            created_at=record.created_at,
            spans=[
                SpanEvaluations(
                    record.evaluations,
                    id_prefix=record.extraction_id,
                    span_id=record.span_id,
                    trace_id=record.trace_id,
                    tags={
                        "evaluation_provider": "vote-extractor",
                        "model": record.model,
                        "prompt_version": prompt_version,
                        "created_by": record.created_by or "",
                    },
                    created_at=record.created_at,
                )
            ],
        )
        if in_background:
            evaluations = self._evaluations.leased(evaluations)  # the resend leaves them to this process

        def with_record(batch: Any) -> None:
            self._evaluations.stage(batch, evaluations)
            self._review.stage(
                batch,
                extraction_id=record.extraction_id,
                reasons=[
                    *review_reasons(record.evaluations, golden_candidate=record.golden_candidate),
                    *random_sample_reason(record.extraction_id, self._settings.review_random_sample_rate),
                ],
                created_at=record.created_at,
                model=record.model,
                span_id=record.span_id,
                trace_id=record.trace_id,
                cross_check_fields=cross_check_fields(record.evaluations),
                form_type=record.form_type,
                automatic_verdict=automatic_verdict(
                    succeeded=record.status == "succeeded", evaluations=record.evaluations
                ),
            )

        try:
            self._extractions.create(record, also=with_record)
        except exceptions.AlreadyExists:
            return False
        except exceptions.GoogleAPICallError as error:
            raise DependencyUnavailable(f"Firestore could not store the extraction: {error.message}") from error
        if in_background:
            self._evaluations.hand_over(evaluations)
        else:
            self._evaluations.submit(evaluations)
        return True


@lru_cache(maxsize=1)
def _uploads() -> ThreadPoolExecutor:
    """The threads images are uploaded on while the model reads them (made on first use)."""
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="image-upload")


def keyed_extraction_id(created_by: str, idempotency_key: str) -> str:
    """The id an idempotency key gives a record: the key is the caller's, so two API keys using one
    value never meet; hashed, so the id keeps the shape of a generated one (32 hex)."""
    return hashlib.sha256(f"{created_by}\0{idempotency_key}".encode()).hexdigest()[:32]


def _request_sha256(options: ExtractOptions, source: ImageSource) -> str:
    """What makes two requests under one idempotency key "the same request": the options as sent
    and the image (its bytes' sha256, or the gs:// URI it was read from)."""
    image = hashlib.sha256(source.data).hexdigest() if source.data is not None else source.uri
    body = {"options": options.model_dump(mode="json", exclude_none=True), "image": image}
    return json_sha256(body)


def _record(
    extraction_id: str,
    model_name: str,
    options: ExtractOptions,
    request: ModelRequest,
    stored: StoredImage,
    reading: Reading,
    evaluations: list[Evaluation],
    created_by: str,
) -> ExtractionRecord:
    return ExtractionRecord(
        extraction_id=extraction_id,
        trace_id=reading.span.trace_id if reading.span else None,
        span_id=reading.span.span_id if reading.span else None,
        model=model_name,
        prompt_version=request.prompt.version,
        form_type=request.form_type.ref,
        reference_docs=request.variables.get(REFERENCE_DOCS),
        params=dict(request.params),
        status=reading.status,
        result=reading.output,
        boxes=reading.boxes,
        error=reading.error_message,
        error_code=reading.error.code if reading.error else None,
        evaluations=evaluations,
        image_uri=stored.uri,
        image_sha256=stored.sha256,
        image_content_type=stored.content_type,
        expected=options.expected,
        tags=options.tags,
        latency_ms=reading.latency_ms,
        usage=extraction_usage(reading.usage, evaluations),  # the online judges' tokens count too
        created_at=datetime.now(UTC),
        created_by=created_by,
        golden_candidate=any(e.label == "golden_dataset_candidate" and e.value == "approved" for e in evaluations),
    )


def _in_shape(reading: Reading, form_type: FormType) -> Reading:
    """The reading with its output in the type's shape (an adapter may have shaped it already:
    shaping twice changes nothing)."""
    if reading.response is None:
        return reading
    response = dataclasses.replace(reading.response, extraction=shaped(reading.response.extraction, form_type))
    return dataclasses.replace(reading, response=response)


def review_reasons(evaluations: list[Evaluation], *, golden_candidate: bool) -> list[ReviewReason]:
    """Why an extraction needs a person: a failed consistency check, a low classification, a
    second reading that disagrees on a count (`cross_check`), or a golden candidate to confirm."""
    reasons: list[ReviewReason] = ["golden_candidate"] if golden_candidate else []
    for evaluation in evaluations:
        if evaluation.label == "consistency" and evaluation.value is False:
            reasons.append("consistency_failed")
        if evaluation.label == "output_classification" and evaluation.value in ("failed", "incomplete"):
            reasons.append("classification_low")
        if evaluation.label == "cross_check" and evaluation.assessment == "fail":
            reasons.append("cross_check")
    return reasons


def random_sample_reason(extraction_id: str, rate: float) -> list[ReviewReason]:
    """`random_sample` when the extraction is drawn into the uniform random sample production
    accuracy is estimated from: a draw on its id alone, blind to every other reason."""
    return ["random_sample"] if drawn_for_random_sample(extraction_id, rate) else []


def cross_check_fields(evaluations: list[Evaluation]) -> list[dict[str, Any]] | None:
    """The disagreeing fields of a failed cross check, for the reviewer (None when it passed)."""
    for evaluation in evaluations:
        if evaluation.label == "cross_check" and evaluation.assessment == "fail":
            return list(evaluation.details.get("disagreements") or [])
    return None


def _listed(record: ExtractionRecord) -> dict[str, Any]:
    body = record.model_dump(mode="json")
    for evaluation in body["evaluations"]:
        evaluation["reasoning"] = None
        evaluation.pop("details", None)
    return body


def _prompt_choices(prompt: dict[str, Any]) -> dict[str, Any]:
    """One prompt as a picker shows it: every `name@n` and `name@label` POST /extract takes."""
    name, latest, labels = prompt["name"], prompt["latest_version"], dict(prompt["labels"])
    return {
        "name": name,
        "latest_version": latest,
        "labels": labels,
        "refs": [f"{name}@{n}" for n in range(latest, 0, -1)] + [f"{name}@{label}" for label in sorted(labels)],
    }
