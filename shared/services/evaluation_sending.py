"""Evaluations bound for Datadog: built from results, staged with their record, sent after.

Every use case writes its evaluations to the outbox in the same Firestore write as the record
they belong to, then calls `send_pending`: telemetry never fails a request, and what Datadog did
not accept stays pending for `evaluation_resend`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from shared.models import Evaluation, EvaluationSubmission
from shared.observability import llmobs
from shared.observability.evaluation_delivery import deliver
from shared.observability.tags import sanitise_tags
from shared.storage.evaluation_outbox import FirestoreEvaluationOutbox

logger = logging.getLogger(__name__)


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


def send_pending(
    outbox: FirestoreEvaluationOutbox, submissions: list[EvaluationSubmission], *, timeout_s: float
) -> set[str]:
    """Send already-staged submissions and mark what Datadog accepted; never raises."""
    if not submissions:
        llmobs.flush()  # the request's spans still go
        return set()
    delivered = deliver(submissions, timeout_s=timeout_s)
    if delivered:
        try:
            outbox.mark_delivered(delivered)
        except Exception:  # they stay pending: a resend may repeat them, none is lost
            logger.warning("could not mark %d evaluations delivered", len(delivered), exc_info=True)
    return delivered
