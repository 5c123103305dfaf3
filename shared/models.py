"""Pydantic models: the extraction result (VoteExtraction) and the records we store; SpanRef,
where an LLM span is; the review queue's items and a stored image; the identifiers' rules.

Imports nothing of ours: the console is deployed with this file alone (infra/functions.json)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    computed_field,
    model_serializer,
)

# A query's `since`: ISO 8601, date or date and time, offset optional (then UTC). Stricter than
# pydantic's datetime, which also takes "0.5" or "1700000000" as Unix times.
# A real date (no month 13, no 0000-00-00, February 29th in leap years only), then optionally a time
# and its offset: every string it takes parses, so openapi.yaml's `Since` (the same pattern) promises
# nothing the server refuses. ASCII digits only (`\d` is any Unicode digit in Python).
ISO_8601_SINCE = (
    r"^(?:(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]"
    r"|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468"
    r"][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)-02-29)(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9"
    r"](?::[0-5][0-9](?:\.[0-9]{1,6})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?$"
)


def _integral_float_as_int(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A whole number as JSON writes it: 13296 or 13296.0. JSON has one number type (RFC 8259 leaves the
# spelling to the writer, JavaScript has no integers) and JSON Schema's `integer` takes 13296.0, so
# openapi.yaml's `integer` promises it; refusing it was a 422 for a schema-valid request (found by
# the contract fuzz). Still strict otherwise: 12.5, true and "12" are refused.
WholeNumber = Annotated[int, BeforeValidator(_integral_float_as_int), Strict()]


def iso_8601_since(since: object) -> object:
    """A `mode="before"` validator for `since`: text must be ISO 8601 (see ISO_8601_SINCE)."""
    if isinstance(since, str) and not re.fullmatch(ISO_8601_SINCE, since):
        raise ValueError("since is an ISO 8601 date, or date and time, e.g. 2026-11-27T09:00:00Z")
    return since


MetricType = Literal["score", "categorical", "boolean", "json"]
Assessment = Literal["pass", "fail"]
ExtractionStatus = Literal["succeeded", "failed"]


class FormInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    constituency_name: str | None = None
    constituency_code: str | None = None
    form_type: str | None = None


class VoteResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_name: str
    party: str | None = None
    # A whole number, never true, 12.5 or "12" (lax int took them).
    vote_count: WholeNumber | None = None
    # The count as the paper writes it in words, on form types that have a words column.
    vote_count_words: str | None = Field(None, max_length=200)


class BallotStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid_votes: WholeNumber | None = None
    rejected_ballots: WholeNumber | None = None
    total_ballots: WholeNumber | None = None


class VoteExtraction(BaseModel):
    """What a model reads off one constituency's result form.

    `statistics` holds the form type's own numbers by key (`shared.form_types`); `ballot_stats`
    is the `generic` type's three, kept for the records and clients made before form types.
    Read both through `stated_statistics()`."""

    model_config = ConfigDict(extra="forbid")

    form: FormInfo = Field(default_factory=FormInfo)
    vote_results: list[VoteResult] = Field(default_factory=list)
    ballot_stats: BallotStats = Field(default_factory=BallotStats)
    statistics: dict[str, WholeNumber | None] = Field(default_factory=dict, max_length=60)

    def stated_statistics(self) -> dict[str, int | None]:
        """Every statistic this reading states, by key: `statistics`, with `ballot_stats` filling
        what it lacks (a record made before form types has only `ballot_stats`)."""
        merged: dict[str, int | None] = dict(self.statistics)
        for key, value in self.ballot_stats.model_dump().items():
            if merged.get(key) is None and (value is not None or key not in merged):
                merged[key] = value
        return merged


# Where on the paper each count was read: `{field path: [x0, y0, x1, y1]}`, the box's left, top,
# right and bottom edges as fractions (0-1) of the upright image's width and height. Paths are
# `vote_results[2].vote_count`, `ballot_stats.valid_votes` (generic) or `statistics.<key>`. Kept
# beside the VoteExtraction, never inside it: expected outputs and evaluators never see boxes.
FieldBoxes = dict[str, list[float]]


class TokenUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class JudgesUsage(TokenUsage):
    """What an extraction's online judges (`ONLINE_JUDGES`) spent: their tokens, their cost in US$
    (None when no judge's model is in the price table) and each judge's share by label."""

    cost_usd: float | None = None
    by_label: dict[str, TokenUsage] = Field(default_factory=dict)


class ExtractionUsage(TokenUsage):
    """An extraction's tokens: the totals are everything it spent on models (the reading and its
    online judges); with judges, `reading` and `judges` show each part (absent without judges:
    the totals are then the reading's, as before judges counted)."""

    reading: TokenUsage | None = None
    judges: JudgesUsage | None = None

    @model_serializer(mode="wrap")
    def _without_absent_parts(self, handler: Any) -> dict[str, Any]:
        dumped = handler(self)
        return {key: value for key, value in dumped.items() if key not in ("reading", "judges") or value is not None}


@dataclass(frozen=True)
class SpanRef:
    """Where an LLM Observability span is: what evaluations are joined on."""

    span_id: str
    trace_id: str


class Evaluation(BaseModel):
    """One evaluator's verdict on one output, as answered by the API and stored."""

    label: str
    metric_type: MetricType
    value: Any
    reasoning: str | None = None
    assessment: Assessment | None = None
    evaluator_version: str
    tags: dict[str, str] = Field(default_factory=dict)
    error: str | None = None  # set when the evaluator raised: a recorded failure, value is None
    # Structured extras (per-field outcomes, precision/recall...); `{"skipped": True}` with value
    # None marks a metric that could not run (e.g. no Gemini key), which is not a failure.
    details: dict[str, Any] = Field(default_factory=dict)


class FeedbackSummary(BaseModel):
    """Counters on an extraction, updated with Firestore increments (exact under concurrency)."""

    thumbs_up: int = 0
    thumbs_down: int = 0
    ratings: int = 0
    rating_sum: int = 0
    corrections: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mean_quality_score(self) -> float | None:
        return round(self.rating_sum / self.ratings, 3) if self.ratings else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def corrected(self) -> bool:
        return self.corrections > 0


# An extraction's id as clients send it (paths, `extraction_ids`, claims), and a feedback_id: never
# a Firestore-reserved `__id__`.
EXTRACTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class ExtractionRecord(BaseModel):
    """One call of POST /extract, as kept in Firestore (the system of record)."""

    extraction_id: str
    trace_id: str | None = None
    span_id: str | None = None
    model: str
    prompt_version: str  # `name@n` (older records: the bare name, which was version 1's text)
    form_type: str = "generic@1"  # the resolved `name@n` (records made before form types: generic)
    reference_docs: str | None = None  # what the prompt's {{reference_docs}} got, if anything
    params: dict[str, Any] = Field(default_factory=dict)
    status: ExtractionStatus
    result: VoteExtraction | None = None
    error: str | None = None
    error_code: str | None = None
    evaluations: list[Evaluation] = Field(default_factory=list)
    image_uri: str
    image_sha256: str
    image_content_type: str
    expected: VoteExtraction | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    latency_ms: float
    usage: ExtractionUsage = Field(default_factory=ExtractionUsage)
    created_at: datetime
    created_by: str | None = None  # the API key's name (None: recorded before keys were named)
    idempotency_key: str | None = None  # the client's Idempotency-Key, when it sent one
    request_sha256: str | None = None  # what a repeat of that key must match (the options and the image)
    golden_candidate: bool = False  # approved for a golden dataset (guide 1.3), pending a person's review
    approved_by_person: bool = False  # a thumbs up with 4-5 stars on consistent counts
    in_dataset: bool = False  # added to a dataset with from-trace (then no longer listed as a candidate)
    feedback_summary: FeedbackSummary = Field(default_factory=FeedbackSummary)
    corrected_result: VoteExtraction | None = None  # the latest correction applied to `result`
    boxes: FieldBoxes = Field(default_factory=dict)  # where each count of `result` was read (FieldBoxes)
    # Denormalised from the feedback (set in the feedback's batch) so GET /extract filters with
    # equality only: Firestore cannot cheaply filter on `feedback_summary.thumbs_down > 0` while
    # ordering by created_at.
    has_feedback: bool = False
    has_thumbs_up: bool = False
    has_thumbs_down: bool = False
    corrected: bool = False


class EvaluationSubmission(BaseModel):
    """An evaluation bound for Datadog, joined on its span, with a stable `evaluation_id` (sent as
    a tag, so what the intake accepted is known per evaluation)."""

    evaluation_id: str
    label: str
    metric_type: MetricType
    value: Any
    span_id: str
    trace_id: str
    tags: dict[str, str] = Field(default_factory=dict)
    assessment: Assessment | None = None
    reasoning: str | None = None
    timestamp_ms: int
    source_kind: str
    source_id: str
    created_at: datetime


class OutboxEntry(BaseModel):
    """Evaluations staged for Datadog in the same atomic write as the records they belong to
    (`llmobs_outbox/{entry_id}`): `pending` until the intake accepted every one, so an outage
    loses nothing and the resend routine sends only what is not in `delivered_ids`."""

    entry_id: str
    source_kind: str
    submissions: list[EvaluationSubmission]
    status: Literal["pending", "delivered"] = "pending"
    delivered_ids: list[str] = Field(default_factory=list)
    attempts: int = 0
    lease_until: datetime | None = None
    lease_owner: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None

    def undelivered(self) -> list[EvaluationSubmission]:
        if self.status == "delivered":
            return []
        delivered = set(self.delivered_ids)
        return [s for s in self.submissions if s.evaluation_id not in delivered]


class FeedbackRecord(BaseModel):
    """One user feedback on one extraction (`feedback/{feedback_id}`)."""

    feedback_id: str
    extraction_id: str
    span_id: str
    trace_id: str
    feedback_type: Literal["thumbs_up", "thumbs_down"]
    comment: str | None = None
    quality_score: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    corrections: dict[str, Any] | None = None
    corrected_result: VoteExtraction | None = None
    corrected_accuracy: float | None = None
    golden_candidate: bool = False
    evaluations: list[Evaluation] = Field(default_factory=list)
    request_sha256: str
    created_at: datetime
    author: str | None = None  # the API key's name, or `{key}:{person}` for a delegating key


ReviewReason = Literal[
    "golden_candidate", "thumbs_down", "consistency_failed", "classification_low", "cross_check", "random_sample"
]
ReviewState = Literal["pending", "claimed", "done"]
REVIEW_REASONS: tuple[ReviewReason, ...] = (
    "golden_candidate",
    "thumbs_down",
    "consistency_failed",
    "classification_low",
    "cross_check",
    "random_sample",  # the uniform random sample production accuracy is estimated from
)


@dataclass(frozen=True)
class ReviewItem:
    """A review queue item as read at `now`: `state` is effective (an expired claim reads as pending)."""

    extraction_id: str
    state: ReviewState
    document: dict[str, Any]
    update_time: Any

    @property
    def claimed_by(self) -> str | None:
        return self.document.get("claimed_by") if self.state == "claimed" else None

    def holds(self, reviewer: str) -> bool:
        return self.state == "claimed" and self.document.get("claimed_by") == reviewer


def effective_state(document: dict[str, Any], now: datetime) -> ReviewState:
    """A stored item's state at `now`: decided is done; a claim whose lease ran out is pending again."""
    if document.get("closed", 0) == 1:
        return "done"
    expires = document.get("claim_expires_at")
    if document.get("claimed_by") and expires is not None and expires > now:
        return "claimed"
    return "pending"


DatasetStatus = Literal["draft", "published"]
# A dataset's name (also a prompt's name) and a version's label, as clients send them.
DATASET_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DATASET_VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"
MAX_BATCH_ENTRIES = 499  # entries added in one atomic write: Firestore's 500 writes a batch, less the version's


@dataclass(frozen=True)
class StoredImage:
    """An image in the image store: where it is, its content hash and its content type."""

    uri: str
    sha256: str
    content_type: str


class EntryImage(BaseModel):
    """An entry's input image: a content-addressed object in Cloud Storage (never copied)."""

    image_uri: str
    image_sha256: str
    content_type: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class EntrySource(BaseModel):
    kind: Literal["manual", "import", "trace"]
    extraction_id: str | None = None
    span_id: str | None = None
    trace_id: str | None = None


class DatasetEntry(BaseModel):
    """One golden example: an image and the extraction a perfect model would return."""

    id: str
    input: EntryImage
    expected_output: VoteExtraction
    reference_docs: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    validated: bool = False  # true only when a person set, corrected or approved it
    source: EntrySource
    created_at: datetime
    created_by: str | None = None
    content_sha256: str  # of input image, expected output, docs, tags, validated: what a diff compares
    # The form type its expected output is (`name@n`) and each of its rules' verdict on that output
    # (shared.form_types.checks); None on entries made before form types: they read as generic.
    form_type: str | None = None
    checks: list[dict[str, Any]] | None = None


class DatasetVersion(BaseModel):
    version: str
    status: DatasetStatus = "draft"
    entry_count: int = 0
    from_version: str | None = None
    created_at: datetime
    created_by: str | None = None
    updated_at: datetime
    published_at: datetime | None = None
    datadog_dataset_id: str | None = None  # set once the published version was pushed to Datadog
    datadog_url: str | None = None
    datadog_pushed_at: datetime | None = None


@dataclass(frozen=True)
class PushedDataset:
    """A published version as Datadog's Datasets took it."""

    dataset_id: str
    records: int
    url: str


class Dataset(BaseModel):
    name: str
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    created_by: str | None = None


ExperimentStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
EXPERIMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
SCHEDULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"


class Variant(BaseModel):
    """One arm of an experiment: a model, a prompt version and the model's params."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
    model: str = Field(max_length=80)
    prompt_version: str = Field("prompt_a", max_length=80)
    params: dict[str, Any] = Field(default_factory=dict)
    # The paper every run reads (`name` or `name@n`, resolved per run); None: each entry's own type.
    form_type: str | None = Field(None, max_length=50)


class ExperimentProgress(BaseModel):
    done: int = 0
    total: int = 0
    failed: int = 0


class ExperimentRecord(BaseModel):
    """An experiment: a published dataset version x variants x repetitions (`experiments/{id}`)."""

    experiment_id: str
    name: str
    dataset_name: str
    dataset_version: str
    variants: list[Variant]
    evaluators: list[dict[str, Any]]  # [{"name": ..., "params": {...}}]
    repetitions: int
    concurrency: int
    run_timeout_s: float
    budget_usd: float | None = None
    estimated_cost_usd: float = 0.0
    baseline_experiment_id: str | None = None
    primary_metric: str | None = None  # the metric comparisons lead with (None: the default, comparison.py)
    shard_count: int = 0  # 0: runs in the process that started it; otherwise fanned out through Pub/Sub
    schedule_id: str | None = None  # set when a schedule started it, with the slot it started in
    slot: str | None = None
    status: ExperimentStatus = "queued"
    status_reason: str | None = None
    progress: ExperimentProgress = Field(default_factory=ExperimentProgress)
    summary: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    created_by: str | None = None  # a scheduled experiment: its schedule's creator
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    cancelled_at: datetime | None = None


class RunRecord(BaseModel):
    """One entry x variant x repetition (`experiments/{id}/runs/{run_id}`), written once per run id."""

    run_id: str
    entry_id: str
    variant: str
    repetition: int
    image_uri: str | None = None
    prompt_version: str | None = None  # the resolved `name@n` this run's prompt was (None: older runs)
    rag_enabled: bool = False  # the entry's reference documents were in the prompt
    form_type: str | None = None  # the resolved `name@n` the run read and was judged as (None: older runs)
    status: Literal["succeeded", "failed"]
    output: VoteExtraction | None = None
    error: str | None = None
    error_code: str | None = None
    latency_ms: float
    usage: TokenUsage = Field(default_factory=TokenUsage)
    attempts: int = 1
    trace_id: str | None = None
    span_id: str | None = None
    evaluations: list[Evaluation] = Field(default_factory=list)
    finished_at: datetime


def run_id(entry_id: str, variant: str, repetition: int) -> str:
    """A run's id: deterministic, so a run done twice (resumed, redelivered) is still one run."""
    return f"{entry_id}~{variant}~{repetition}"


ShardStatus = Literal["pending", "running", "completed", "failed", "cancelled"]


class ShardRecord(BaseModel):
    """A contiguous range of a dataset version's entries, every variant and repetition of them
    (`experiments/{id}/shards/{index}`). Entries are ordered by id; the version is frozen."""

    index: int
    after_entry_id: str | None  # the range starts after this entry (None: at the first)
    last_entry_id: str  # ... and ends with this one
    runs: int  # entries x variants x repetitions
    status: ShardStatus = "pending"
    published: bool = False
    attempts: int = 0
    lease_until: datetime | None = None
    done: int = 0
    failed: int = 0
    last_error: str | None = None
    updated_at: datetime


MAX_SHARDS = 400  # the experiment and its shards are created in one batch (500 writes at most)


@dataclass(frozen=True)
class ShardClaim:
    """What a delivery found: `acquired` (run it), `finished` (ack), `busy` (redeliver later), or
    `exhausted` (it has failed too often: now marked failed)."""

    outcome: Literal["acquired", "finished", "busy", "exhausted"]
    shard: ShardRecord


class ScheduleDataset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = Field("latest", description='a version, or "latest" for the newest published one')


class BaselinePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: Literal["previous", "pinned", "none"] = "previous"
    experiment_id: str | None = Field(None, pattern=EXPERIMENT_ID_PATTERN)


class AlertThresholds(BaseModel):
    """When a scheduled experiment alerts. None turns a condition off."""

    model_config = ConfigDict(extra="forbid")

    regression: StrictBool = True  # a metric significantly worse than the baseline (paired tests, alpha 0.05)
    quality_metric: str = "vote_count_accuracy"
    min_quality: float | None = Field(None, ge=0, le=1)
    max_negative_feedback_rate: float | None = Field(None, ge=0, le=1)
    feedback_window_hours: int = Field(24, ge=1, le=24 * 90)
    min_feedback_count: int = Field(10, ge=1)  # fewer feedbacks in the window say nothing
    min_faithfulness: float | None = Field(0.7, ge=0, le=1)
    max_evaluation_failure_rate: float | None = Field(0.05, ge=0, le=1)


class ScheduleRecord(BaseModel):
    """An experiment started every `interval_minutes` by `experiments-scheduled`
    (`experiment_schedules/{schedule_id}`)."""

    schedule_id: str
    description: str = ""
    enabled: bool = True
    interval_minutes: int
    dataset: ScheduleDataset
    variants: list[Variant]
    form_type: str | None = None  # for the variants that name none (None: each entry's own type)
    evaluators: list[str | dict[str, dict[str, Any]]] | None = None
    repetitions: int = 1
    concurrency: int = 8
    run_timeout_s: float = 120.0
    budget_usd: float | None = None
    baseline: BaselinePolicy = Field(default_factory=BaselinePolicy)
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    last_slot: str | None = None
    last_experiment_id: str | None = None
    last_error: str | None = None
    created_at: datetime
    created_by: str | None = None
    updated_at: datetime


AlertKind = Literal[
    "regression",
    "quality_below_target",
    "negative_feedback_rate",
    "faithfulness_below_target",
    "evaluation_failure_rate",
    "shard_failed",
    "cross_check_disagreement_rate",
    "consistency_failure_rate",
    "online_evaluation_failure_rate",
    "thumbs_down_rate",
]


class AlertRecord(BaseModel):
    """One alert (`alerts/{alert_id}`); its id is `{experiment_id}~{kind}`, so a condition alerts
    once per experiment however often it is checked. A rate over production traffic names no
    experiment but its window (`traffic-{window_start}~{kind}`), so it alerts once per window."""

    alert_id: str
    kind: AlertKind
    experiment_id: str | None = None  # None: an alert on production traffic, over its window
    experiment_name: str = ""
    schedule_id: str | None = None
    severity: Literal["warning", "critical"] = "warning"
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    datadog_event_sent: bool = False
    created_at: datetime
    window_start: datetime | None = None  # a traffic alert's window, start included, end excluded
    window_end: datetime | None = None
