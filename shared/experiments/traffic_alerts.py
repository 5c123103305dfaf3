"""Alerts on production traffic: failure rates over a window of extractions and feedback.

Every tick of `experiments-scheduled` checks the last complete window of
TRAFFIC_ALERT_WINDOW_MINUTES (windows aligned to the epoch, so every tick that falls in one
window checks the same previous one) against four rates, each with a limit and a minimum sample
(a rate over a handful of extractions says nothing):

- `cross_check_disagreement_rate`: cross-checked extractions whose second reading disagrees on a
  count (`cross_check` below 1) over those cross-checked (skipped cross checks are neither);
- `consistency_failure_rate`: extractions failing `consistency` or `figures_match_words` over
  those judged by either;
- `online_evaluation_failure_rate`: online evaluations whose evaluator raised over those attempted
  (raised or scored; skipped ones are neither), as stored with each extraction; Datadog never
  sees these failures (only successful evaluations are submitted);
- `thumbs_down_rate`: thumbs-down feedback over all feedback given in the window.

A breach is raised through `AlertService.publish` with the id `traffic-{window start}~{kind}`:
stored once, so a retried tick (or any later tick inside the same window) never alerts twice,
one log line, and the Datadog event the kind's monitor notifies a person on. Extractions are read
oldest first up to TRAFFIC_ALERT_MAX_EXTRACTIONS; an alert on a capped window says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.config import Settings
from shared.experiments.alerts import AlertCondition, AlertService
from shared.models import AlertKind, AlertRecord, Evaluation, ExtractionRecord
from shared.ports.experiments import ExtractionsInWindow, FeedbackInWindow

TRAFFIC_ALERT_KINDS: tuple[AlertKind, ...] = (
    "cross_check_disagreement_rate",
    "consistency_failure_rate",
    "online_evaluation_failure_rate",
    "thumbs_down_rate",
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CONSISTENCY_LABELS = ("consistency", "figures_match_words")
CROSS_CHECK_LABEL = "cross_check"


@dataclass(frozen=True)
class TrafficWindow:
    """[start, end) of production traffic."""

    start: datetime
    end: datetime

    @classmethod
    def before(cls, moment: datetime, *, minutes: int) -> TrafficWindow:
        """The last complete window of `minutes` that ends at or before `moment`."""
        length = timedelta(minutes=minutes)
        end = EPOCH + ((moment - EPOCH) // length) * length
        return cls(end - length, end)

    @property
    def key(self) -> str:
        return self.start.astimezone(UTC).strftime("%Y%m%dT%H%MZ")

    def described(self) -> str:
        start, end = self.start.astimezone(UTC), self.end.astimezone(UTC)
        if start.date() == end.date():
            return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC"
        return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class RateLimit:
    max_rate: float  # alert above this share
    min_samples: int  # and only with at least this many in the denominator


@dataclass(frozen=True)
class TrafficLimits:
    cross_check_disagreement: RateLimit
    consistency_failure: RateLimit
    online_evaluation_failure: RateLimit
    thumbs_down: RateLimit

    @classmethod
    def from_settings(cls, settings: Settings) -> TrafficLimits:
        return cls(
            cross_check_disagreement=RateLimit(settings.max_cross_check_disagreement_rate, settings.min_cross_checks),
            consistency_failure=RateLimit(settings.max_consistency_failure_rate, settings.min_consistency_judged),
            online_evaluation_failure=RateLimit(
                settings.max_online_evaluation_failure_rate, settings.min_online_evaluations
            ),
            thumbs_down=RateLimit(settings.max_thumbs_down_rate, settings.min_thumbs_feedback),
        )


@dataclass(frozen=True)
class TrafficCounts:
    """What one window's extractions and feedback add up to."""

    extractions: int = 0
    capped: bool = False  # the window held more extractions than were read
    cross_checked: int = 0
    cross_check_disagreements: int = 0
    consistency_judged: int = 0
    consistency_failures: int = 0
    evaluations_attempted: int = 0
    evaluations_failed: int = 0
    failed_evaluators: dict[str, int] = field(default_factory=dict)  # label -> evaluations that raised
    feedback: int = 0
    thumbs_down: int = 0


def count_traffic(
    records: Iterable[ExtractionRecord], *, capped: bool = False, feedback: tuple[int, int] = (0, 0)
) -> TrafficCounts:
    """Counts of a window's extractions (their stored online evaluations) and its (feedback, thumbs down)."""
    extractions = cross_checked = disagreements = judged = inconsistent = attempted = 0
    failed: Counter[str] = Counter()
    for record in records:
        extractions += 1
        consistency = [e.value for e in record.evaluations if e.label in CONSISTENCY_LABELS and _judged(e)]
        judged += bool(consistency)
        inconsistent += any(value is False for value in consistency)
        cross_check = [e.value for e in record.evaluations if e.label == CROSS_CHECK_LABEL and _scored(e)]
        cross_checked += bool(cross_check)
        disagreements += any(value < 1 for value in cross_check)
        for evaluation in record.evaluations:
            if evaluation.error is not None:
                failed[evaluation.label] += 1
                attempted += 1
            elif not evaluation.details.get("skipped"):
                attempted += 1
    return TrafficCounts(
        extractions=extractions,
        capped=capped,
        cross_checked=cross_checked,
        cross_check_disagreements=disagreements,
        consistency_judged=judged,
        consistency_failures=inconsistent,
        evaluations_attempted=attempted,
        evaluations_failed=sum(failed.values()),
        failed_evaluators=dict(sorted(failed.items())),
        feedback=feedback[0],
        thumbs_down=feedback[1],
    )


def traffic_conditions(counts: TrafficCounts, window: TrafficWindow, limits: TrafficLimits) -> list[AlertCondition]:
    """The rates of one window above their limits, each with enough samples to say so."""
    during = f"in {window.described()}"
    capped = f" Only the window's first {counts.extractions} extractions were read." if counts.capped else ""
    read = {"extractions_read": counts.extractions, "capped": counts.capped}
    failed_evaluators = ", ".join(f"{label} {n}" for label, n in counts.failed_evaluators.items())
    candidates = [
        _rate(
            "cross_check_disagreement_rate",
            counts.cross_check_disagreements,
            counts.cross_checked,
            limits.cross_check_disagreement,
            what=f"cross-checked extractions {during} disagree with their second reading on a count",
            then=f"{capped} Open the review queue (reason cross_check).",
            extra=read,
        ),
        _rate(
            "consistency_failure_rate",
            counts.consistency_failures,
            counts.consistency_judged,
            limits.consistency_failure,
            what=f"extractions judged {during} fail consistency or figures_match_words",
            then=f"{capped} Open the review queue (reason consistency_failed).",
            extra=read,
        ),
        _rate(
            "online_evaluation_failure_rate",
            counts.evaluations_failed,
            counts.evaluations_attempted,
            limits.online_evaluation_failure,
            what=f"online evaluations {during} raised instead of scoring",
            then=f" Raised: {failed_evaluators}.{capped} Each extraction keeps its evaluator's error "
            "(GET /extract/EXTRACTION_ID).",
            extra=read | {"failed_evaluators": counts.failed_evaluators},
        ),
        _rate(
            "thumbs_down_rate",
            counts.thumbs_down,
            counts.feedback,
            limits.thumbs_down,
            what=f"feedbacks {during} are thumbs down",
            then=" Open the review queue (reason thumbs_down).",
            extra={},
        ),
    ]
    return [condition for condition in candidates if condition is not None]


def _rate(
    kind: AlertKind, count: int, out_of: int, limit: RateLimit, *, what: str, then: str, extra: dict[str, Any]
) -> AlertCondition | None:
    if out_of == 0 or out_of < limit.min_samples:
        return None
    rate = count / out_of
    if rate <= limit.max_rate:
        return None
    return AlertCondition(
        kind,
        f"{count} of {out_of} {what} ({rate:.0%}, limit {limit.max_rate:.0%}).{then}",
        details={
            "rate": rate,
            "count": count,
            "out_of": out_of,
            "limit": limit.max_rate,
            "min_samples": limit.min_samples,
            **extra,
        },
    )


def _judged(evaluation: Evaluation) -> bool:
    return evaluation.error is None and isinstance(evaluation.value, bool)


def _scored(evaluation: Evaluation) -> bool:
    value = evaluation.value
    return evaluation.error is None and isinstance(value, int | float) and not isinstance(value, bool)


class TrafficAlerts:
    def __init__(
        self,
        *,
        extractions: ExtractionsInWindow,
        feedback: FeedbackInWindow,
        alerts: AlertService,
        limits: TrafficLimits,
        window_minutes: int,
        max_extractions: int,
    ) -> None:
        self._extractions = extractions
        self._feedback = feedback
        self._alerts = alerts
        self._limits = limits
        self._window_minutes = window_minutes
        self._max_extractions = max_extractions

    def check(self, moment: datetime) -> list[AlertRecord]:
        """Check the last complete window before `moment` (a tick's schedule time); the alerts raised now."""
        window = TrafficWindow.before(moment, minutes=self._window_minutes)
        records = self._extractions.created_between(window.start, window.end, limit=self._max_extractions + 1)
        capped = len(records) > self._max_extractions
        counts = count_traffic(
            records[: self._max_extractions],
            capped=capped,
            feedback=self._feedback.counts_between(window.start, window.end),
        )
        raised = []
        for condition in traffic_conditions(counts, window, self._limits):
            alert = AlertRecord(
                alert_id=f"traffic-{window.key}~{condition.kind}",
                kind=condition.kind,
                severity="warning",
                message=condition.message,
                details=condition.details,
                created_at=datetime.now(UTC),
                window_start=window.start,
                window_end=window.end,
            )
            if (published := self._alerts.publish(alert)) is not None:
                raised.append(published)
        return raised
