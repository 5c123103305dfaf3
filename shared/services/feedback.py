"""The feedback use case: a person's verdict on an extraction, as evaluations on its llm span.

The guide's 1.2 (feedback endpoint) and 1.3 (golden candidates). Feedback must belong to a
stored extraction (found by its span id, with the same trace id). A `feedback_id` makes a post
idempotent: the same id and body answer the first result; another body is a conflict.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from shared.api_keys import PERSON_NAME_PATTERN
from shared.config import Settings
from shared.errors import Conflict, NotFound
from shared.evaluation.corrections import ExtractionCorrection, apply_correction
from shared.evaluation.matching import compare_extractions
from shared.evaluation.online import consistency_problems, golden_candidate_tags
from shared.evaluation.sink import EvaluationBatch, EvaluationSink, SpanEvaluations
from shared.fingerprints import json_sha256
from shared.form_types.checks import shaped
from shared.form_types.model import FormType
from shared.form_types.registry import FormTypeRegistry
from shared.form_types.validation import check_statistic_keys
from shared.models import (
    EXTRACTION_ID_PATTERN,
    Evaluation,
    ExtractionRecord,
    FeedbackRecord,
    ReviewReason,
    VoteExtraction,
    WholeNumber,
)
from shared.ports.services import ExtractionsBySpan, FeedbackLog, ReviewQueueProducer
from shared.storable_maps import StorableTags

MAX_COMMENT = 2000
MAX_TAGS = 20
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 200
FEEDBACK_VERSION = "1.0"


class FeedbackRequest(BaseModel):
    """The guide's FeedbackRequest plus `feedback_id` (idempotency) and `corrections`."""

    model_config = ConfigDict(extra="forbid")

    span_id: StrictStr = Field(min_length=1, max_length=64)
    trace_id: StrictStr = Field(min_length=1, max_length=64)
    feedback_type: Literal["thumbs_up", "thumbs_down"]
    comment: StrictStr | None = Field(None, max_length=MAX_COMMENT)
    quality_score: WholeNumber | None = Field(None, ge=1, le=5)
    tags: StorableTags = Field(default_factory=dict, max_length=MAX_TAGS)
    feedback_id: StrictStr | None = Field(None, pattern=EXTRACTION_ID_PATTERN)
    corrections: ExtractionCorrection | None = None
    # Who gives it: the API key's name (None), or a person a delegating key names (`console:ada`).
    author: StrictStr | None = Field(None, pattern=PERSON_NAME_PATTERN)

    @field_validator("tags")
    @classmethod
    def _short_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            if not 0 < len(key) <= MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
                raise ValueError(f"tag keys are 1-{MAX_TAG_KEY} characters and values at most {MAX_TAG_VALUE}")
        return tags

    def fingerprint(self) -> str:
        """What makes two posts of one feedback_id "the same body"."""
        body = self.model_dump(mode="json", exclude={"feedback_id"}, exclude_none=True)
        return json_sha256(body)


class FeedbackService:
    def __init__(
        self,
        *,
        settings: Settings,
        extractions: ExtractionsBySpan,
        feedback: FeedbackLog,
        evaluations: EvaluationSink,
        review: ReviewQueueProducer,
        form_types: FormTypeRegistry,
    ) -> None:
        self._settings = settings
        self._extractions = extractions
        self._feedback = feedback
        self._evaluations = evaluations
        self._review = review
        self._form_types = form_types

    def submit(self, request: FeedbackRequest) -> tuple[FeedbackRecord, bool]:
        """Record the feedback; (record, True) when new, (the first record, False) on a replay."""
        extraction = self._extractions.find_by_span(request.span_id)
        if extraction is None or extraction.trace_id != request.trace_id:
            raise NotFound(
                "No extraction has this span_id and trace_id.",
                details={"span_id": request.span_id, "trace_id": request.trace_id},
            )
        feedback = self._build(request, extraction)
        evaluations = EvaluationBatch.of(
            entry_id=f"feedback~{feedback.feedback_id}",
            source_kind="feedback",
            created_at=feedback.created_at,
            spans=[
                SpanEvaluations(
                    feedback.evaluations,
                    id_prefix=feedback.feedback_id,
                    span_id=extraction.span_id,
                    trace_id=extraction.trace_id,
                    tags={
                        "feedback_id": feedback.feedback_id,
                        "extraction_id": extraction.extraction_id,
                        "author": feedback.author or "",
                    },
                    created_at=feedback.created_at,
                )
            ],
        )
        reasons: list[ReviewReason] = ["thumbs_down"] if feedback.feedback_type == "thumbs_down" else []
        if feedback.golden_candidate:
            reasons.append("golden_candidate")

        def enqueue(batch: Any) -> None:
            self._evaluations.stage(batch, evaluations)
            self._review.stage(
                batch,
                extraction_id=extraction.extraction_id,
                reasons=reasons,
                created_at=extraction.created_at,
                model=extraction.model,
                span_id=extraction.span_id,
                trace_id=extraction.trace_id,
            )

        stored, created = self._feedback.record(feedback, also=enqueue)
        if stored.request_sha256 != feedback.request_sha256:
            raise Conflict(
                f"feedback_id {stored.feedback_id!r} was already used with a different body.",
                details={"feedback_id": stored.feedback_id},
            )
        if created:
            self._evaluations.submit(evaluations)
        return stored, created

    def list_for(self, extraction_id: str) -> list[FeedbackRecord]:
        return self._feedback.for_extraction(extraction_id)

    def _build(self, request: FeedbackRequest, extraction: ExtractionRecord) -> FeedbackRecord:
        feedback_id = request.feedback_id or uuid.uuid4().hex
        # The type the extraction was read as (records made before form types: generic@1).
        form_type = self._form_types.get(extraction.form_type)
        corrected = _corrected(extraction, request.corrections, form_type) if request.corrections else None
        accuracy = compare_extractions(extraction.result, corrected).accuracy if corrected else None
        evaluations = _feedback_evaluations(request, corrected, accuracy)
        golden = _golden_candidate(request, extraction, corrected, accuracy, form_type)
        if golden is not None:
            evaluations.append(golden)
        return FeedbackRecord(
            feedback_id=feedback_id,
            extraction_id=extraction.extraction_id,
            span_id=request.span_id,
            trace_id=request.trace_id,
            feedback_type=request.feedback_type,
            comment=request.comment,
            quality_score=request.quality_score,
            tags=request.tags,
            corrections=request.corrections.model_dump(exclude_unset=True) if request.corrections else None,
            corrected_result=corrected,
            corrected_accuracy=accuracy,
            golden_candidate=golden is not None,
            evaluations=evaluations,
            request_sha256=request.fingerprint(),
            created_at=datetime.now(UTC),
            author=request.author,
        )


def _corrected(extraction: ExtractionRecord, correction: ExtractionCorrection, form_type: FormType) -> VoteExtraction:
    """The result with the correction applied, in its type's shape; a correction naming a
    statistic the extraction's type does not have is InvalidField (422) naming it."""
    check_statistic_keys(correction.statistics or {}, form_type, field="corrections.statistics")
    if correction.ballot_stats is not None:
        check_statistic_keys(correction.ballot_stats.model_fields_set, form_type, field="corrections.ballot_stats")
    return shaped(apply_correction(extraction.result, correction), form_type)


def _evaluation(label: str, metric_type: Any, value: Any, **fields: Any) -> Evaluation:
    return Evaluation(label=label, metric_type=metric_type, value=value, evaluator_version=FEEDBACK_VERSION, **fields)


def _feedback_evaluations(
    request: FeedbackRequest, corrected: VoteExtraction | None, accuracy: float | None
) -> list[Evaluation]:
    evaluations = [
        _evaluation(
            "user_feedback",
            "categorical",
            request.feedback_type,
            reasoning=request.comment,
            assessment="pass" if request.feedback_type == "thumbs_up" else "fail",
            tags={
                **request.tags,
                "user_comment": request.comment or "",
                "quality_score": str(request.quality_score or 0),
                "feedback_source": "user_interface",
            },
        )
    ]
    if request.quality_score is not None:
        evaluations.append(
            _evaluation(
                "user_quality_rating",
                "score",
                request.quality_score,
                assessment="pass" if request.quality_score >= 3 else "fail",
                tags={"feedback_type": request.feedback_type},
            )
        )
    if corrected is not None and accuracy is not None and request.corrections is not None:
        evaluations.append(
            _evaluation(
                "user_correction",
                "json",
                request.corrections.model_dump(mode="json", exclude_unset=True),
                reasoning="the values a person says are right",
            )
        )
        evaluations.append(
            _evaluation(
                "corrected_accuracy",
                "score",
                round(accuracy, 4),
                reasoning="share of the original's fields the correction left unchanged",
                assessment="pass" if accuracy > 0.95 else "fail",
            )
        )
    return evaluations


def _golden_candidate(
    request: FeedbackRequest,
    extraction: ExtractionRecord,
    corrected: VoteExtraction | None,
    accuracy: float | None,
    form_type: FormType,
) -> Evaluation | None:
    """Guide 1.3 from real traffic: a person vouched for it, or corrected it into a complete form
    (consistent by its type's rules)."""
    if corrected is not None and accuracy is not None:
        complete = bool(corrected.vote_results) and not consistency_problems(corrected, form_type)
        if not complete:
            return None
        reason, tags = "a correction made it complete and consistent", golden_candidate_tags(accuracy, corrected)
        tags |= {"manual_review": "done", "dataset_category": "user_corrected"}
    elif request.feedback_type == "thumbs_up" and (request.quality_score or 0) >= 4 and _passed_consistency(extraction):
        assert extraction.result is not None
        reason = "thumbs up with 4-5 stars, and the counts are consistent"
        tags = golden_candidate_tags(1.0, extraction.result) | {
            "accuracy": "unverified",
            "dataset_category": "user_approved",
        }
    else:
        return None
    return _evaluation(
        "golden_dataset_candidate", "categorical", "approved", reasoning=reason, assessment="pass", tags=tags
    )


def _passed_consistency(extraction: ExtractionRecord) -> bool:
    return any(e.label == "consistency" and e.value is True for e in extraction.evaluations)
