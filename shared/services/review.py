"""The review queue (annotation queue): extractions that need a person, claimed and decided.

Items are made by the extract and feedback use cases (`ReviewQueueProducer`). A
reviewer claims an item under a lease, then approves it (into a draft dataset, with corrections
when given), rejects it or skips it. The verdict goes to Datadog as a `human_review` evaluation on
the extraction's llm span, staged in the same atomic write as the decision (the evaluation
outbox), and the verdicts are compared with the online evaluators (`agreement`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from shared.api_keys import PERSON_NAME_PATTERN
from shared.config import Settings
from shared.dataset_names import check_name, check_version
from shared.errors import Conflict, InvalidField
from shared.evaluation.corrections import ExtractionCorrection, apply_correction
from shared.evaluation.sink import EvaluationBatch, EvaluationSink, SpanEvaluations
from shared.fingerprints import json_sha256
from shared.form_types.expected import FormTypeResolver
from shared.models import (
    EXTRACTION_ID_PATTERN,
    REVIEW_REASONS,
    DatasetEntry,
    Evaluation,
    ExtractionRecord,
    ReviewItem,
    ReviewReason,
    ReviewState,
    effective_state,
    iso_8601_since,
)
from shared.paging import decode_page_token, encode_page_token
from shared.ports.services import DatasetDrafts, ExtractionLookup, ReviewQueue
from shared.services.dataset_entries import entry_from_extraction

# The name recorded is the API key's, or `{key}:{person}` for a delegating key (shared.api_keys).
REVIEWER_PATTERN = PERSON_NAME_PATTERN
REVIEW_VERSION = "1.0"
AGREEMENT_EVALUATORS = ("consistency", "output_classification")  # always reported, even with no data
Verdict = Literal["approved", "corrected", "rejected"]


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewer: StrictStr | None = Field(None, pattern=REVIEWER_PATTERN)  # None: the key's name
    reason: ReviewReason | None = None
    extraction_id: StrictStr | None = Field(None, pattern=EXTRACTION_ID_PATTERN)


class DatasetTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(max_length=63)
    version: StrictStr = Field(max_length=32)


class AgreementQuery(BaseModel):
    """GET /datasets/review/agreement's query: decisions since when (naive times are UTC)."""

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = None

    _iso_8601 = field_validator("since", mode="before")(iso_8601_since)

    @model_validator(mode="after")
    def _utc_when_naive(self) -> AgreementQuery:
        if self.since is not None and self.since.tzinfo is None:
            self.since = self.since.replace(tzinfo=UTC)
        return self


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewer: StrictStr | None = Field(None, pattern=REVIEWER_PATTERN)  # None: the key's name
    decision: Literal["approve", "reject", "skip"]
    corrections: ExtractionCorrection | None = None
    target: DatasetTarget | None = None
    note: StrictStr | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _approve_needs_a_target(self) -> DecisionRequest:
        if self.decision == "approve" and self.target is None:
            raise ValueError("approve needs a target {name, version} (a draft dataset version)")
        if self.decision != "approve" and self.corrections is not None:
            raise ValueError("corrections go with approve only")
        return self

    def fingerprint(self) -> str:
        body = self.model_dump(mode="json", exclude_none=True)
        return json_sha256(body)


class ReviewService:
    def __init__(
        self,
        *,
        settings: Settings,
        review: ReviewQueue,
        extractions: ExtractionLookup,
        datasets: DatasetDrafts,
        evaluations: EvaluationSink,
        online_judges: Sequence[str],
        form_types: FormTypeResolver,
    ) -> None:
        self._settings = settings
        self._form_types = form_types
        self._review = review
        self._extractions = extractions
        self._datasets = datasets
        self._evaluations = evaluations
        self._online_judges = list(online_judges)  # the labels of ONLINE_JUDGES, checked at wiring

    def queue(
        self, *, state: ReviewState | None, reason: ReviewReason | None, page_size: int, page_token: str | None
    ) -> dict[str, Any]:
        """A page of items, oldest first, with their effective state; counts by reason and state."""
        now = datetime.now(UTC)
        after = decode_page_token(page_token) if page_token else None
        # An expired claim is pending: pending and claimed both read the open items.
        closed = 1 if state == "done" else 0 if state else None
        items, more = self._read_page(closed, state, reason, after, page_size, now)
        return {
            "items": [_item_body(item) for item in items],
            "counts": self._counts(now),
            "next_page_token": encode_page_token(items[-1].extraction_id) if more and items else None,
        }

    def _read_page(
        self,
        closed: int | None,
        state: ReviewState | None,
        reason: ReviewReason | None,
        after: str | None,
        page_size: int,
        now: datetime,
    ) -> tuple[list[ReviewItem], bool]:
        """Up to `page_size` items in `state` (effective), and whether more may follow."""
        items: list[ReviewItem] = []
        while True:
            snapshots = self._review.page(closed=closed, reason=reason, after=after, limit=page_size)
            for index, snapshot in enumerate(snapshots):
                after = snapshot.id
                document = snapshot.to_dict() or {}
                item = ReviewItem(snapshot.id, effective_state(document, now), document, snapshot.update_time)
                if state is None or item.state == state:
                    items.append(item)
                if len(items) == page_size:
                    return items, index < len(snapshots) - 1 or len(snapshots) == page_size
            if len(snapshots) < page_size:
                return items, False

    def claim(self, request: ClaimRequest) -> dict[str, Any] | None:
        """The named item, or the oldest pending one (of a reason), under a lease; None if none."""
        reviewer = _reviewer(request)
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self._settings.review_claim_s)
        fields = {
            "claimed_by": reviewer,
            "claimed_at": now,
            "claim_expires_at": expires,
        }
        if request.extraction_id is not None:
            item = self._review.claim_named(request.extraction_id, reviewer, fields, now)
        else:
            found = self._review.claim_next(reviewer, request.reason, fields, now)
            if found is None:
                return None
            item = found
        extraction = self._extractions.get(item.extraction_id)
        return {
            "item": _item_body(item),
            "extraction": extraction.model_dump(mode="json"),
            "claim_expires_at": expires.isoformat(),
        }

    def decide(self, extraction_id: str, request: DecisionRequest) -> dict[str, Any]:
        """Record a reviewer's decision; approve also adds the validated entry to the draft target."""
        reviewer = _reviewer(request)
        now = datetime.now(UTC)
        item = self._review.get(extraction_id, now)
        if item.state == "done":
            if item.document.get("request_sha256") == request.fingerprint():
                return _decision_body(item)  # a retried identical decision
            raise Conflict(f"Review item {extraction_id!r} is already decided.", details={"state": "done"})
        _require_claim(item, reviewer)
        if request.decision == "skip":
            self._review.commit_decision(extraction_id, now, lambda batch, fresh: self._release(batch, fresh, request))
            return {"item": _item_body(self._review.get(extraction_id, datetime.now(UTC)))}

        extraction = self._extractions.get(extraction_id)
        entry = self._approved_entry(extraction, request, reviewer, now) if request.decision == "approve" else None
        verdict: Verdict = "rejected"
        if request.decision == "approve":
            verdict = "corrected" if request.corrections is not None else "approved"
        # A verdict on the uniform random sample is tagged so Datadog can chart the reviewers' unbiased
        # share approved (quality dashboard); the PPI++ interval itself is GET /datasets/review/accuracy.
        sample = {"review_sample": "random"} if "random_sample" in (item.document.get("reasons") or []) else {}
        evaluation = Evaluation(
            label="human_review",
            metric_type="categorical",
            value=verdict,
            reasoning=request.note,
            assessment="pass" if verdict == "approved" else "fail",
            evaluator_version=REVIEW_VERSION,
            tags={"reviewer": reviewer, "decision": request.decision},
        )
        evaluations = EvaluationBatch.of(
            entry_id=f"review~{extraction_id}",
            source_kind="review",
            created_at=now,
            spans=[
                SpanEvaluations(
                    [evaluation],
                    id_prefix=f"review-{extraction_id}",
                    span_id=extraction.span_id,
                    trace_id=extraction.trace_id,
                    tags={"extraction_id": extraction_id, "reviewer": reviewer, "decision": request.decision} | sample,
                    created_at=now,
                )
            ],
        )
        fields: dict[str, Any] = {
            "closed": 1,
            "decision": request.decision,
            "verdict": verdict,
            "decided_by": reviewer,
            "decided_at": now,
            "note": request.note,
            "claim_expires_at": None,
            "request_sha256": request.fingerprint(),
            "evaluator_outcomes": _outcomes(extraction),
        }

        def record(batch: Any, fresh: ReviewItem) -> None:
            _require_claim(fresh, reviewer)
            self._review.record_decision(batch, fresh, fields)
            self._evaluations.stage(batch, evaluations)

        if entry is not None:
            assert request.target is not None
            name, version = check_name(request.target.name), check_version(request.target.version)
            fields |= {"target": {"name": name, "version": version}, "entry_id": entry.id}

            def approve(batch: Any) -> None:
                record(batch, self._review.get(extraction_id, datetime.now(UTC)))
                batch.update(self._extractions.document(extraction_id), {"in_dataset": True})

            self._datasets.add(name, version, [entry], also=approve)
        else:
            self._review.commit_decision(extraction_id, now, record)
        self._evaluations.submit(evaluations)
        return _decision_body(self._review.get(extraction_id, datetime.now(UTC)))

    def _approved_entry(
        self, extraction: ExtractionRecord, request: DecisionRequest, reviewer: str, now: datetime
    ) -> DatasetEntry:
        """The validated entry an approval adds, its expected output checked against its form type
        before anything is recorded (an unknown type or statistic: 422, the claim still held)."""
        expected = apply_correction(extraction.result, request.corrections) if request.corrections else None
        return entry_from_extraction(
            extraction,
            {"reviewer": reviewer},
            now,
            created_by=reviewer,
            form_types=self._form_types,
            expected=expected,
            validated=True,
            retyped=bool(
                request.corrections
                and request.corrections.form
                and "form_type" in request.corrections.form.model_fields_set
            ),
            field="corrections" if request.corrections else "expected_output",
        )

    def agreement(self, *, since: datetime | None) -> dict[str, Any]:
        """Each online evaluator's pass/fail against the reviewers' verdicts (approved = right;
        corrected or rejected = wrong): a confusion table, the observed agreement, Cohen's kappa.
        The online judges (`ONLINE_JUDGES`, llm_judge) are online evaluators like the others."""
        always = [*AGREEMENT_EVALUATORS, *self._online_judges]  # each configured judge, verdicts or not
        tables: dict[str, dict[str, dict[str, int]]] = {label: _empty_table() for label in always}
        classes: dict[str, dict[str, dict[str, int]]] = {}
        decided = 0
        for document in self._review.decided(since=since):
            verdict = document.get("verdict")
            if verdict not in ("approved", "corrected", "rejected"):
                continue
            decided += 1
            human = "right" if verdict == "approved" else "wrong"
            for label, outcome in (document.get("evaluator_outcomes") or {}).items():
                assessment = outcome.get("assessment")
                if assessment not in ("pass", "fail"):
                    continue
                tables.setdefault(label, _empty_table())[assessment][human] += 1
                if isinstance(outcome.get("value"), str):
                    by_class = classes.setdefault(label, {})
                    by_class.setdefault(outcome["value"], {"right": 0, "wrong": 0})[human] += 1
        evaluators = []
        for label in sorted(tables):
            table = tables[label]
            kappa, reason, observed = cohen_kappa(table)
            body: dict[str, Any] = {
                "label": label,
                "n": sum(table["pass"].values()) + sum(table["fail"].values()),
                "table": table,
                "observed_agreement": observed,
                "kappa": kappa,
                "kappa_undefined_reason": reason,
            }
            if label in classes:
                body["classes"] = classes[label]
            evaluators.append(body)
        return {"since": since.isoformat() if since else None, "n": decided, "evaluators": evaluators}

    def _release(self, batch: Any, fresh: ReviewItem, request: DecisionRequest) -> None:
        _require_claim(fresh, _reviewer(request))
        batch.update(
            self._review.document(fresh.extraction_id),
            {"claimed_by": None, "claim_expires_at": None},
            option=self._review.precondition(fresh),
        )

    def _counts(self, now: datetime) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {
            reason: {"pending": 0, "claimed": 0, "done": 0} for reason in REVIEW_REASONS
        }
        for document in self._review.open_items():
            state = effective_state(document, now)
            for reason in document.get("reasons") or []:
                if reason in counts:
                    counts[reason][state] += 1
        for reason in REVIEW_REASONS:
            counts[reason]["done"] = self._review.count_done(reason)
        return counts


def cohen_kappa(table: dict[str, dict[str, int]]) -> tuple[float | None, str | None, float | None]:
    """(kappa, why it is undefined, observed agreement) of a 2x2 table: evaluator pass/fail by
    person right/wrong, agreement being pass-right and fail-wrong."""
    a, b = table["pass"]["right"], table["pass"]["wrong"]
    c, d = table["fail"]["right"], table["fail"]["wrong"]
    n = a + b + c + d
    if n == 0:
        return None, "no reviewed extraction has this evaluation", None
    observed = (a + d) / n
    expected = ((a + b) * (a + c) + (c + d) * (b + d)) / (n * n)
    if expected == 1:
        return None, "every verdict and every evaluation is the same one value: chance agreement is 1", observed
    return round((observed - expected) / (1 - expected), 4), None, round(observed, 4)


def _empty_table() -> dict[str, dict[str, int]]:
    return {"pass": {"right": 0, "wrong": 0}, "fail": {"right": 0, "wrong": 0}}


def _outcomes(extraction: ExtractionRecord) -> dict[str, dict[str, Any]]:
    return {
        e.label: {"assessment": e.assessment, "value": e.value if isinstance(e.value, str | bool) else None}
        for e in extraction.evaluations
        if e.assessment is not None and e.error is None
    }


def _reviewer(request: ClaimRequest | DecisionRequest) -> str:
    """The name the handler resolved from the API key (shared.web.recorded_name)."""
    if request.reviewer is None:
        raise InvalidField("Name the reviewer.", details={"field": "reviewer"})
    return request.reviewer


def _require_claim(item: ReviewItem, reviewer: str) -> None:
    if not item.holds(reviewer):
        raise Conflict(
            f"{reviewer!r} does not hold a live claim on {item.extraction_id!r}: claim it first.",
            details={"extraction_id": item.extraction_id, "state": item.state},
        )


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _item_body(item: ReviewItem) -> dict[str, Any]:
    document = item.document
    body: dict[str, Any] = {
        "extraction_id": item.extraction_id,
        "reasons": sorted(document.get("reasons") or []),
        "state": item.state,
        "created_at": _iso(document.get("created_at")),
        "model": document.get("model"),
    }
    if document.get("cross_check_fields"):
        body["cross_check_fields"] = document["cross_check_fields"]
    if item.state == "claimed":
        body |= {"claimed_by": document.get("claimed_by"), "claim_expires_at": _iso(document.get("claim_expires_at"))}
    if item.state == "done":
        body |= {
            "decision": document.get("decision"),
            "verdict": document.get("verdict"),
            "decided_by": document.get("decided_by"),
            "decided_at": _iso(document.get("decided_at")),
            "note": document.get("note"),
            "target": document.get("target"),
        }
    return body


def _decision_body(item: ReviewItem) -> dict[str, Any]:
    body: dict[str, Any] = {"item": _item_body(item)}
    if item.document.get("entry_id"):
        body["entry_id"] = item.document["entry_id"]
    return body


def check_state(value: str | None) -> ReviewState | None:
    if value is None:
        return None
    if value not in ("pending", "claimed", "done"):
        raise InvalidField("state must be pending, claimed or done.", details={"field": "state"})
    return value  # type: ignore[return-value]


def check_reason(value: str | None) -> ReviewReason | None:
    if value is None:
        return None
    if value not in REVIEW_REASONS:
        raise InvalidField(f"reason must be one of {', '.join(REVIEW_REASONS)}.", details={"field": "reason"})
    return value  # type: ignore[return-value]
