"""The evaluation sink: the one way evaluations reach Datadog, and are never lost on the way.

Every record that has evaluations (an extraction, a feedback, a review decision, a batch of
experiment runs) hands them to the sink in three calls, each the whole of its step:

1. `EvaluationBatch.of(...)`: the evaluations of one write, each with a stable id
   (`{id_prefix}-{label}`), in outbox entries (one, or a few when one document would not hold them);
2. `sink.stage(write, batch)`, inside the record's own batch or transaction: a record never exists
   without its evaluations queued;
3. `sink.submit(batch)` after the write: sent to Datadog, and what the intake accepted marked.
   Or, where the answer should not wait for Datadog (an extraction, EVALUATION_DELIVERY=background),
   `batch = sink.leased(batch)` before staging and `sink.hand_over(batch)` after the write: the
   process's delivery thread sends and marks it after the answer (shared/evaluation/background_delivery.py).
   Telemetry never fails a request: what was not accepted stays pending, and `resend_pending`
   (the scheduled function, or `./deploy.sh local --resend`) sends the rest later, exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.evaluation.background_delivery import BackgroundDelivery
from shared.models import Evaluation, EvaluationSubmission, OutboxEntry
from shared.observability import llmobs
from shared.observability.evaluation_delivery import deliver
from shared.observability.tags import sanitise_tags
from shared.ports.evaluations import EvaluationOutbox

logger = logging.getLogger(__name__)

# A Firestore document holds 1 MiB; a submission with its tags and reasoning is 0.5-2 KB.
MAX_SUBMISSIONS_PER_ENTRY = 300
RESEND_ENTRIES_PER_ROUND = 50  # `deliver` sends their evaluations 500 a flush
RESEND_LEASE_S = 120.0


@dataclass(frozen=True)
class SpanEvaluations:
    """The evaluations one record made of one span, with the tags they are sent with."""

    evaluations: Sequence[Evaluation]
    id_prefix: str
    span_id: str | None
    trace_id: str | None
    tags: Mapping[str, str]
    created_at: datetime


@dataclass(frozen=True)
class EvaluationBatch:
    """The evaluations of one write, as outbox entries with stable ids: a retried write stages
    nothing twice, and a retried request can never send the same evaluation twice."""

    entries: tuple[OutboxEntry, ...]

    @classmethod
    def of(
        cls, *, entry_id: str, source_kind: str, created_at: datetime, spans: Iterable[SpanEvaluations]
    ) -> EvaluationBatch:
        submissions = [submission for span in spans for submission in _submissions(span, source_kind)]
        chunks = [
            submissions[start : start + MAX_SUBMISSIONS_PER_ENTRY]
            for start in range(0, len(submissions), MAX_SUBMISSIONS_PER_ENTRY)
        ]
        return cls(
            tuple(
                OutboxEntry(
                    entry_id=entry_id if len(chunks) == 1 else f"{entry_id}~{number}",
                    source_kind=source_kind,
                    submissions=chunk,
                    created_at=created_at,
                )
                for number, chunk in enumerate(chunks)
            )
        )


@dataclass(frozen=True)
class ResendReport:
    claimed: int
    delivered: int
    still_pending: int
    rounds: int


class EvaluationSink(Protocol):
    """Where a use case hands the evaluations of a write (extraction, feedback, review, runs)."""

    def stage(self, write: Any, batch: EvaluationBatch) -> None:
        """Queue `batch` inside the record's own write (a batch or a transaction)."""
        ...

    def submit(self, batch: EvaluationBatch) -> set[str]:
        """Send a staged batch to Datadog after its write; the ids accepted. Never raises."""
        ...

    def leased(self, batch: EvaluationBatch) -> EvaluationBatch:
        """`batch` leased to this process's delivery thread: stage this one, then `hand_over` it."""
        ...

    def hand_over(self, batch: EvaluationBatch) -> None:
        """Queue a staged, leased batch for the delivery thread; returns at once. Never raises."""
        ...


class OutboxEvaluationSink:
    """The sink over the evaluation outbox (Firestore) and Datadog's intake (ddtrace)."""

    def __init__(self, outbox: EvaluationOutbox, *, timeout_s: float) -> None:
        self._outbox = outbox
        self._timeout_s = timeout_s
        self._background = BackgroundDelivery(outbox, timeout_s=timeout_s, lease_s=RESEND_LEASE_S)

    def stage(self, write: Any, batch: EvaluationBatch) -> None:
        self._outbox.stage(write, batch.entries)

    def submit(self, batch: EvaluationBatch) -> set[str]:
        submissions = [submission for entry in batch.entries for submission in entry.undelivered()]
        if not submissions:
            llmobs.flush()  # the request's spans still go
            return set()
        accepted = deliver(submissions, timeout_s=self._timeout_s)
        self._mark(batch.entries, accepted)
        return accepted

    def leased(self, batch: EvaluationBatch) -> EvaluationBatch:
        return EvaluationBatch(self._background.lease(batch.entries))

    def hand_over(self, batch: EvaluationBatch) -> None:
        try:
            self._background.hand_over(batch.entries)
        except Exception:  # the lease runs out and the resend delivers it
            logger.warning("could not hand evaluations to the delivery thread", exc_info=True)

    def wait_for_deliveries(self, timeout_s: float) -> bool:
        """True once the delivery thread has sent and marked everything handed over."""
        return self._background.wait_idle(timeout_s)

    def resend_pending(self, *, owner: str, max_rounds: int = 20, timeout_s: float = 10.0) -> ResendReport:
        """Deliver pending evaluations, leased so two resends never send the same one, until none
        is left or Datadog stops accepting. `timeout_s`: the wait for each flush's outcome (a
        request waits LLMOBS_FLUSH_TIMEOUT_S for its few; a resend sends up to 500 at a time)."""
        claimed_total = delivered_total = failed_total = rounds = 0
        while rounds < max_rounds:
            entries = self._outbox.claim_pending(limit=RESEND_ENTRIES_PER_ROUND, lease_s=RESEND_LEASE_S, owner=owner)
            if not entries:
                break
            rounds += 1
            claimed = [submission for entry in entries for submission in entry.undelivered()]
            delivered = deliver(claimed, timeout_s=timeout_s) if claimed else set()
            self._outbox.record_delivery([(entry, _ids(entry) & delivered) for entry in entries])
            failed = [c.evaluation_id for c in claimed if c.evaluation_id not in delivered]
            claimed_total += len(claimed)
            delivered_total += len(delivered)
            failed_total += len(failed)
            if failed:  # Datadog is refusing: stop and let the next scheduled run try again
                break
        report = ResendReport(claimed_total, delivered_total, failed_total, rounds)
        logger.info("evaluation resend: %s", asdict(report))
        return report

    def _mark(self, entries: Sequence[OutboxEntry], accepted: set[str]) -> None:
        """Mark what the intake accepted; an entry nothing of which was accepted stays pending."""
        outcomes = [(entry, taken) for entry in entries if (taken := accepted & _ids(entry))]
        if not outcomes:
            return
        try:
            self._outbox.record_delivery(outcomes)
        except Exception:  # they stay pending: a resend may repeat them, none is lost
            logger.warning("could not mark %d evaluations delivered", len(accepted), exc_info=True)


def _submissions(span: SpanEvaluations, source_kind: str) -> list[EvaluationSubmission]:
    """One submission per successful evaluation; failed and skipped ones stay with the record."""
    if span.span_id is None or span.trace_id is None:
        return []
    timestamp_ms = int(span.created_at.timestamp() * 1000)
    return [
        EvaluationSubmission(
            evaluation_id=f"{span.id_prefix}-{evaluation.label}",
            label=evaluation.label,
            metric_type=evaluation.metric_type,
            value=evaluation.value,
            span_id=span.span_id,
            trace_id=span.trace_id,
            tags=sanitise_tags({**evaluation.tags, **span.tags, "evaluator_version": evaluation.evaluator_version}),
            assessment=evaluation.assessment,
            reasoning=evaluation.reasoning,
            timestamp_ms=timestamp_ms,
            source_kind=source_kind,
            source_id=span.id_prefix,
            created_at=span.created_at,
        )
        for evaluation in span.evaluations
        if evaluation.error is None and evaluation.value is not None
    ]


def _ids(entry: OutboxEntry) -> set[str]:
    return {submission.evaluation_id for submission in entry.submissions}
