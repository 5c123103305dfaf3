"""Evaluations bound for Datadog, one policy for every record that has them: stage, send, mark.

1. `submissions_for` + `outbox_entries`: the evaluations as outbox entries with stable ids.
2. The record's repository stages the entries in the same atomic write as the record (an
   extraction, a feedback, a review decision, a batch of experiment runs).
3. `send_staged`: delivered to Datadog after the write, and what the intake accepted is marked.
   Telemetry never fails a request: what was not accepted stays pending for `evaluation_resend`,
   which sends the rest of each entry through this same `deliver`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from shared.models import Evaluation, EvaluationSubmission, OutboxEntry
from shared.observability import llmobs
from shared.observability.evaluation_delivery import deliver
from shared.observability.tags import sanitise_tags
from shared.ports.services import EvaluationDeliveries

logger = logging.getLogger(__name__)

# A Firestore document holds 1 MiB; a submission with its tags and reasoning is 0.5-2 KB.
MAX_SUBMISSIONS_PER_ENTRY = 300


def submissions_for(
    evaluations: Iterable[Evaluation],
    *,
    id_prefix: str,
    span_id: str | None,
    trace_id: str | None,
    tags: Mapping[str, str],
    source_kind: str,
    created_at: datetime,
) -> list[EvaluationSubmission]:
    """One submission per successful evaluation, with a stable id (`{id_prefix}-{label}`) so a
    retried request can never send the same evaluation twice."""
    if span_id is None or trace_id is None:
        return []
    timestamp_ms = int(created_at.timestamp() * 1000)
    return [
        EvaluationSubmission(
            evaluation_id=f"{id_prefix}-{evaluation.label}",
            label=evaluation.label,
            metric_type=evaluation.metric_type,
            value=evaluation.value,
            span_id=span_id,
            trace_id=trace_id,
            tags=sanitise_tags({**evaluation.tags, **tags, "evaluator_version": evaluation.evaluator_version}),
            assessment=evaluation.assessment,
            reasoning=evaluation.reasoning,
            timestamp_ms=timestamp_ms,
            source_kind=source_kind,
            source_id=id_prefix,
            created_at=created_at,
        )
        for evaluation in evaluations
        if evaluation.error is None and evaluation.value is not None  # failed and skipped ones stay local
    ]


def outbox_entries(
    submissions: Sequence[EvaluationSubmission], *, entry_id: str, source_kind: str, created_at: datetime
) -> list[OutboxEntry]:
    """The submissions of one write as outbox entries: one, or a few when they would not fit in
    one document. `entry_id` is stable for the write, so a retried write stages nothing twice."""
    chunks = [
        list(submissions[start : start + MAX_SUBMISSIONS_PER_ENTRY])
        for start in range(0, len(submissions), MAX_SUBMISSIONS_PER_ENTRY)
    ]
    return [
        OutboxEntry(
            entry_id=entry_id if len(chunks) == 1 else f"{entry_id}~{number}",
            source_kind=source_kind,
            submissions=chunk,
            created_at=created_at,
        )
        for number, chunk in enumerate(chunks)
    ]


def send_staged(outbox: EvaluationDeliveries, entries: Sequence[OutboxEntry], *, timeout_s: float) -> set[str]:
    """Send entries already staged with their records and mark what the intake accepted (an
    entry nothing of which was accepted is left as it is: pending); never raises."""
    submissions = [submission for entry in entries for submission in entry.undelivered()]
    if not submissions:
        llmobs.flush()  # the request's spans still go
        return set()
    accepted = deliver(submissions, timeout_s=timeout_s)
    outcomes = [(entry, accepted & _ids(entry)) for entry in entries]
    outcomes = [(entry, taken) for entry, taken in outcomes if taken]
    if outcomes:
        try:
            outbox.record_delivery(outcomes)
        except Exception:  # they stay pending: a resend may repeat them, none is lost
            logger.warning("could not mark %d evaluations delivered", len(accepted), exc_info=True)
    return accepted


def _ids(entry: OutboxEntry) -> set[str]:
    return {submission.evaluation_id for submission in entry.submissions}
