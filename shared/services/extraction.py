"""The extract use case: store the image, call the model, evaluate, trace, record.

Firestore is the system of record: the extraction and the evaluations bound for Datadog are
written in one batch before anything is sent, and a model failure is recorded, never lost.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.config import Settings, get_settings
from shared.errors import DependencyUnavailable, InvalidField, ModelError
from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators
from shared.evaluation.online import ONLINE_EVALUATORS
from shared.images import validate_image
from shared.llm import ModelRequest, ModelResponse, get_model_client
from shared.models import EvaluationSubmission, ExtractionRecord, TokenUsage, VoteExtraction
from shared.observability import llmobs
from shared.prompts import get_prompt
from shared.services.evaluation_sending import send_pending, submissions_for
from shared.storage.clients import firestore_client, storage_client
from shared.storage.evaluation_outbox import FirestoreEvaluationOutbox
from shared.storage.extractions import FirestoreExtractionRepository, to_document
from shared.storage.images import GcsImageStore, StoredImage

MAX_TAGS = 20
MAX_TAG_LENGTH = 200


class ExtractOptions(BaseModel):
    """The optional fields of POST /extract (multipart form fields or JSON body)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, max_length=80)
    prompt_version: str | None = Field(None, max_length=80)
    params: dict[str, Any] = Field(default_factory=dict)
    expected: VoteExtraction | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _small_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags")
        for key, value in tags.items():
            if not key or len(key) > MAX_TAG_LENGTH or len(value) > MAX_TAG_LENGTH:
                raise ValueError(f"tag keys must be non-empty and keys and values at most {MAX_TAG_LENGTH} characters")
        return tags


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
        extractions: FirestoreExtractionRepository,
        images: GcsImageStore,
        outbox: FirestoreEvaluationOutbox,
    ) -> None:
        self._settings = settings
        self._extractions = extractions
        self._images = images
        self._outbox = outbox
        self._evaluators = [create_evaluator(name) for name in ONLINE_EVALUATORS]

    def get(self, extraction_id: str) -> ExtractionRecord:
        return self._extractions.get(extraction_id)

    def extract(self, options: ExtractOptions, source: ImageSource) -> ExtractionRecord:
        """Everything a client sent is checked before anything is stored."""
        model_name = options.model or self._settings.resolved_default_model
        model = get_model_client(model_name, self._settings)
        params = model.validate_params(options.params)
        prompt = get_prompt(options.prompt_version or self._settings.default_prompt_version)
        image, stored = self._store_image(source)

        extraction_id = uuid.uuid4().hex
        span_tags = {"extraction_id": extraction_id, "model": model_name, "prompt_version": prompt.version}
        started = time.perf_counter()
        response: ModelResponse | None = None
        failure: ModelError | None = None
        with llmobs.workflow_span("extract", tags={**options.tags, **span_tags}) as workflow:
            with llmobs.capture_llm_span() as captured, llmobs.annotation_context(tags=span_tags):
                try:
                    response = model.extract(
                        ModelRequest(image=image, content_type=stored.content_type, prompt=prompt, params=params)
                    )
                except ModelError as error:
                    failure = error
            latency_ms = round((time.perf_counter() - started) * 1000, 1)
            span = captured.ref
            context = EvaluatorContext(
                output=response.extraction if response else None,
                expected=options.expected,
                raw_output=response.raw_output if response else _raw_output_of(failure),
                error=failure.message if failure else None,
                input={"image_uri": stored.uri},
                metadata={"model": model_name, "prompt_version": prompt.version},
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
            golden_candidate=any(e.label == "golden_dataset_candidate" and e.value == "approved" for e in evaluations),
        )
        submissions = submissions_for(
            record.evaluations,
            id_prefix=record.extraction_id,
            span_id=record.span_id,
            trace_id=record.trace_id,
            tags={"evaluation_provider": "vote-extractor", "model": record.model, "prompt_version": prompt.version},
            source_kind="extraction",
            created_at=record.created_at,
        )
        self._save(record, submissions)
        send_pending(self._outbox, submissions, timeout_s=self._settings.llmobs_flush_timeout_s)
        return record

    def _store_image(self, source: ImageSource) -> tuple[bytes, StoredImage]:
        limits = {"max_bytes": self._settings.max_upload_bytes, "max_pixels": self._settings.max_image_pixels}
        if (source.data is None) == (source.uri is None):
            raise InvalidField("Send exactly one image: a file, image_base64 or image_uri.", details={"field": "image"})
        if source.data is not None:
            content_type = validate_image(source.data, **limits)
            return source.data, self._images.put(source.data, content_type)
        assert source.uri is not None
        self._images.object_name(source.uri)  # refuses foreign buckets and `..` before any read
        image = self._images.get(source.uri)
        content_type = validate_image(image, **limits)
        return image, StoredImage(uri=source.uri, sha256=hashlib.sha256(image).hexdigest(), content_type=content_type)

    def _save(self, record: ExtractionRecord, submissions: list[EvaluationSubmission]) -> None:
        from google.api_core import exceptions

        client = firestore_client()
        batch = client.batch()
        batch.create(self._extractions.document(record.extraction_id), to_document(record))
        self._outbox.stage(batch, submissions)
        try:
            batch.commit()
        except exceptions.GoogleAPICallError as error:
            raise DependencyUnavailable(f"Firestore could not store the extraction: {error.message}") from error


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
    )
