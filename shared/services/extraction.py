"""The extract use case: store the image, call the model, evaluate, trace, record.

Firestore is the system of record: the extraction and the evaluations bound for Datadog are
written in one batch before anything is sent, and a model failure is recorded, never lost.
"""

from __future__ import annotations

import contextvars
import hashlib
import random
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from shared.config import Settings, get_settings
from shared.errors import Conflict, DependencyUnavailable, InvalidField, ModelError, NotFound
from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators
from shared.evaluation.online import ONLINE_EVALUATORS
from shared.images import validate_image
from shared.llm import ModelRequest, ModelResponse, get_model_client, model_options
from shared.models import Evaluation, ExtractionRecord, OutboxEntry, TokenUsage, VoteExtraction, iso_8601_since
from shared.observability import llmobs
from shared.paging import decode_page_token, encode_page_token
from shared.prompts import (
    MAX_REFERENCE_DOCS_CHARS,
    REFERENCE_DOCS,
    check_reference_docs,
    get_prompt,
    prompt_registry,
)
from shared.services.evaluation_sending import outbox_entries, send_staged, submissions_for
from shared.storable_maps import StorableMap, StorableTags
from shared.storage.clients import firestore_client, storage_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.evaluation_outbox import FirestoreEvaluationOutbox
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.feedback import FirestoreFeedbackRepository
from shared.storage.images import GcsImageStore, StoredImage
from shared.storage.ports import (
    DatasetReferences,
    EvaluationDeliveries,
    ExtractionRemoval,
    FeedbackRemoval,
    ImageStoreWithDeletion,
    ReviewQueueProducerWithRemoval,
)
from shared.storage.review import FirestoreReviewRepository, ReviewReason

if TYPE_CHECKING:
    from shared.llm.second_reader import SecondReading

MAX_TAGS = 20
MAX_TAG_LENGTH = 200
_DELETE_ATTEMPTS = 5
_REFERENCES_NAMED = 20


class ExtractOptions(BaseModel):
    """The optional fields of POST /extract (multipart form fields or JSON body)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, max_length=80)
    prompt_version: str | None = Field(None, max_length=80)
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


class ExtractionService:
    def __init__(
        self,
        *,
        settings: Settings,
        extractions: ExtractionRemoval,
        images: ImageStoreWithDeletion,
        outbox: EvaluationDeliveries,
        review: ReviewQueueProducerWithRemoval,
        feedback: FeedbackRemoval,
        datasets: DatasetReferences,
    ) -> None:
        self._settings = settings
        self._extractions = extractions
        self._images = images
        self._outbox = outbox
        self._review = review
        self._feedback = feedback
        self._datasets = datasets
        self._evaluators = [create_evaluator(name) for name in ONLINE_EVALUATORS]
        if settings.online_judges:  # llm_judge on every extraction: checked against reviewers' verdicts
            from shared.evaluation.llm_judge import parse_online_judges

            self._evaluators += parse_online_judges(settings.online_judges)

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
            after=after,
            limit=page_size,
        )
        kept = [r for r in records if filters.since is None or r.created_at >= filters.since]
        more = len(records) == page_size and len(kept) == len(records)
        return {
            "items": [_listed(record) for record in kept],
            "next_page_token": encode_page_token(kept[-1].extraction_id) if more and kept else None,
        }

    def options(self) -> dict[str, Any]:
        """What a client may pick: models with their params, prompt versions and the defaults."""
        return {
            "models": model_options(self._settings),
            "prompt_versions": [prompt["name"] for prompt in prompt_registry().listing()],
            "default_model": self._settings.resolved_default_model,
            "default_prompt_version": self._settings.default_prompt_version,
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

    def extract(self, options: ExtractOptions, source: ImageSource, *, created_by: str) -> ExtractionRecord:
        """Everything a client sent is checked before anything is stored; `created_by` is the
        caller's API key name, on the record, the spans and the evaluations' tags."""
        model_name = options.model or self._settings.resolved_default_model
        model = get_model_client(model_name, self._settings)
        params = model.validate_params(options.params)
        prompt = get_prompt(options.prompt_version or self._settings.default_prompt_version)
        reference_docs = check_reference_docs(options.reference_docs)
        variables = {REFERENCE_DOCS: reference_docs} if reference_docs else {}
        image, stored = self._store_image(source)

        extraction_id = uuid.uuid4().hex
        span_tags = {
            "extraction_id": extraction_id,
            "model": model_name,
            "prompt_version": prompt.version,
            "rag_enabled": "true" if reference_docs else "false",
            "created_by": created_by,
        }
        started = time.perf_counter()
        response: ModelResponse | None = None
        failure: ModelError | None = None
        with llmobs.workflow_span("extract", tags={**options.tags, **span_tags}) as workflow:
            second = start_second_reading(self._settings, model_name, params, image, stored.content_type, span_tags)
            with (
                llmobs.capture_llm_span() as captured,
                llmobs.annotation_context(tags=span_tags, prompt=prompt.annotation(variables)),
            ):
                try:
                    response = model.extract(
                        ModelRequest(
                            image=image,
                            content_type=stored.content_type,
                            prompt=prompt,
                            params=params,
                            variables=variables,
                        )
                    )
                except ModelError as error:
                    failure = error
                except BaseException:
                    finish_second_reading(self._settings, second)  # nothing left running after the answer
                    raise
            latency_ms = round((time.perf_counter() - started) * 1000, 1)
            span = captured.ref
            second_reading = finish_second_reading(self._settings, second)
            context = EvaluatorContext(
                output=response.extraction if response else None,
                expected=options.expected,
                raw_output=response.raw_output if response else _raw_output_of(failure),
                error=failure.message if failure else None,
                input={"image_uri": stored.uri, REFERENCE_DOCS: reference_docs},
                metadata={
                    "model": model_name,
                    "prompt_version": prompt.version,
                    "params": params,
                    **({"second_reading": second_reading} if second_reading is not None else {}),
                },
                span=span,
            )
            evaluations = run_evaluators(self._evaluators, context)
            llmobs.annotate(
                workflow,
                input_data={"image_uri": stored.uri, "model": model_name, "prompt_version": prompt.version},
                output_data=response.extraction.model_dump() if response else {"error": context.error},
            )

        record = ExtractionRecord(
            extraction_id=extraction_id,
            trace_id=span.trace_id if span else None,
            span_id=span.span_id if span else None,
            model=model_name,
            prompt_version=prompt.version,
            reference_docs=reference_docs,
            params=params,
            status="succeeded" if response else "failed",
            result=response.extraction if response else None,
            error=failure.message if failure else None,
            error_code=failure.code if failure else None,
            evaluations=evaluations,
            image_uri=stored.uri,
            image_sha256=stored.sha256,
            image_content_type=stored.content_type,
            expected=options.expected,
            tags=options.tags,
            latency_ms=latency_ms,
            usage=response.usage if response else TokenUsage(),
            created_at=datetime.now(UTC),
            created_by=created_by,
            golden_candidate=any(e.label == "golden_dataset_candidate" and e.value == "approved" for e in evaluations),
        )
        submissions = submissions_for(
            record.evaluations,
            id_prefix=record.extraction_id,
            span_id=record.span_id,
            trace_id=record.trace_id,
            tags={
                "evaluation_provider": "vote-extractor",
                "model": record.model,
                "prompt_version": prompt.version,
                "created_by": created_by,
            },
            source_kind="extraction",
            created_at=record.created_at,
        )
        entries = outbox_entries(
            submissions,
            entry_id=f"extraction~{record.extraction_id}",
            source_kind="extraction",
            created_at=record.created_at,
        )
        self._save(record, entries)
        send_staged(self._outbox, entries, timeout_s=self._settings.llmobs_flush_timeout_s)
        return record

    def _store_image(self, source: ImageSource) -> tuple[bytes, StoredImage]:
        limits = {"max_bytes": self._settings.max_upload_bytes, "max_pixels": self._settings.max_image_pixels}
        if (source.data is None) == (source.uri is None):
            raise InvalidField("Send exactly one image: a file, image_base64 or image_uri.", details={"field": "image"})
        if source.data is not None:
            content_type = validate_image(source.data, **limits)
            return source.data, self._images.put(source.data, content_type)
        assert source.uri is not None
        image = self._images.get(source.uri)  # refuses foreign buckets and `..` before any read
        content_type = validate_image(image, **limits)
        return image, StoredImage(uri=source.uri, sha256=hashlib.sha256(image).hexdigest(), content_type=content_type)

    def _save(self, record: ExtractionRecord, entries: list[OutboxEntry]) -> None:
        from google.api_core import exceptions

        def review_item(batch: Any) -> None:
            self._review.stage(
                batch,
                extraction_id=record.extraction_id,
                reasons=review_reasons(record.evaluations, golden_candidate=record.golden_candidate),
                created_at=record.created_at,
                model=record.model,
                span_id=record.span_id,
                trace_id=record.trace_id,
                cross_check_fields=cross_check_fields(record.evaluations),
            )

        try:
            self._extractions.create(record, entries, also=review_item)
        except exceptions.GoogleAPICallError as error:
            raise DependencyUnavailable(f"Firestore could not store the extraction: {error.message}") from error


def start_second_reading(
    settings: Settings,
    model_name: str,
    params: dict[str, Any],
    image: bytes,
    content_type: str,
    span_tags: dict[str, str],
) -> tuple[str, Future[SecondReading]] | None:
    """Start the cross check's second reading beside the primary call (None: off or not sampled).

    It runs in a thread with a copy of the caller's context, so its llm span joins the request's
    trace. The answer waits for it (`finish_second_reading`): a deployed function gets no CPU
    after its response, so nothing may be left running then.
    """
    if settings.cross_check != "on" or random.random() >= settings.cross_check_sample_rate:
        return None
    from shared.llm.second_reader import choose_second_reader, read_again

    reader = choose_second_reader(model_name, params, settings=settings)

    def read() -> SecondReading:
        with llmobs.annotation_context(tags=span_tags):
            return read_again(reader, image=image, content_type=content_type, settings=settings)

    return reader, _second_readers().submit(contextvars.copy_context().run, read)


@lru_cache(maxsize=1)
def _second_readers() -> Any:
    """The threads second readings run in, beside the primary model call (a subprocess or a
    network wait: they overlap); made on first use, off the cold-start path."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="cross-check")


def finish_second_reading(
    settings: Settings, pending: tuple[str, Future[SecondReading]] | None
) -> SecondReading | None:
    """The second reading, waited for at most CROSS_CHECK_TIMEOUT_S (then one with an error)."""
    if pending is None:
        return None
    reader, future = pending
    timeout_s = settings.cross_check_timeout_s
    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout:
        from shared.llm.second_reader import SecondReading

        return SecondReading(
            reader=reader, extraction=None, error=f"the second reading took longer than {timeout_s:g} s"
        )


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


def _raw_output_of(failure: ModelError | None) -> str | None:
    details = failure.details if failure else None
    return details.get("raw_output") if isinstance(details, dict) else None


@lru_cache(maxsize=1)
def extraction_service() -> ExtractionService:
    """The instance's service, built once at cold start with shared clients."""
    settings = get_settings()
    llmobs.enable_llmobs(settings)
    return ExtractionService(
        settings=settings,
        extractions=FirestoreExtractionRepository(firestore_client()),
        images=GcsImageStore(storage_client(), settings.images_bucket),
        outbox=FirestoreEvaluationOutbox(firestore_client()),
        review=FirestoreReviewRepository(firestore_client()),
        feedback=FirestoreFeedbackRepository(firestore_client(), FirestoreEvaluationOutbox(firestore_client())),
        datasets=FirestoreDatasetRepository(firestore_client()),
    )
