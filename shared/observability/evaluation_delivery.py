"""Submit evaluations with `LLMObs.submit_evaluation` and learn which ones Datadog accepted.

ddtrace's writer swallows send failures (it logs them), so on its own an outage would lose
evaluations silently. We tag every evaluation with its `evaluation_id` and wrap the writer's send
to record, per payload, whether the intake accepted it. What was not accepted stays pending in
Firestore for the resend routine.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from shared.models import EvaluationSubmission
from shared.observability import llmobs

logger = logging.getLogger(__name__)

EVALUATION_ID_TAG = "evaluation_id"
_EVALUATION_ID = re.compile(r'"evaluation_id:([^"\\]+)"')
_MAX_REMEMBERED = 20_000
_PER_FLUSH = 500  # ddtrace's evaluation writer holds 1000 events between flushes; stay well under


class _DeliveryTracker:
    def __init__(self) -> None:
        self._outcomes: OrderedDict[str, bool] = OrderedDict()
        self._changed = threading.Condition()

    def install(self) -> None:
        """Wrap the current evaluation writer's send (again after ddtrace recreates it on fork)."""
        from ddtrace.llmobs import LLMObs

        writer = LLMObs._instance._llmobs_eval_metric_writer  # no public hook reports send outcomes
        if getattr(writer, "_vote_extractor_tracked", False):
            return
        send = writer._send_payload_with_retry

        def tracked_send(payload: Any, num_events: int) -> Any:
            ids = _evaluation_ids(payload)
            accepted = False
            try:
                response = send(payload, num_events)
                accepted = response.status < 300
                return response
            finally:
                self._record(ids, accepted)

        writer._send_payload_with_retry = tracked_send
        writer._vote_extractor_tracked = True  # type: ignore[attr-defined]

    def _record(self, ids: list[str], accepted: bool) -> None:
        with self._changed:
            for evaluation_id in ids:
                self._outcomes[evaluation_id] = accepted
            while len(self._outcomes) > _MAX_REMEMBERED:
                self._outcomes.popitem(last=False)
            self._changed.notify_all()

    def wait_for(self, ids: list[str], timeout_s: float) -> set[str]:
        """The ids accepted by the intake, waiting until each has an outcome or the deadline."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while any(i not in self._outcomes for i in ids):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return {i for i in ids if self._outcomes.pop(i, False)}


_tracker = _DeliveryTracker()


def _evaluation_ids(payload: Any) -> list[str]:
    """The evaluation ids a payload carries, found in its tags without decoding the whole JSON."""
    text = payload.decode() if isinstance(payload, bytes) else str(payload)
    return _EVALUATION_ID.findall(text)


def deliver(submissions: Iterable[EvaluationSubmission], *, timeout_s: float) -> set[str]:
    """Send each submission joined on its span; return the evaluation ids Datadog accepted."""
    if not llmobs.llmobs_enabled():
        return set()
    try:
        _tracker.install()
    except Exception:
        logger.warning("cannot track evaluation delivery; leaving evaluations pending", exc_info=True)
        return set()
    accepted: set[str] = set()
    pending = list(submissions)
    for start in range(0, len(pending), _PER_FLUSH):
        accepted |= _deliver_some(pending[start : start + _PER_FLUSH], timeout_s=timeout_s)
    return accepted


def _deliver_some(submissions: list[EvaluationSubmission], *, timeout_s: float) -> set[str]:
    from ddtrace.llmobs import LLMObs

    sent = []
    for submission in submissions:
        try:
            LLMObs.submit_evaluation(
                label=submission.label,
                metric_type=submission.metric_type,
                value=submission.value,
                span={"span_id": submission.span_id, "trace_id": submission.trace_id},
                tags={**submission.tags, EVALUATION_ID_TAG: submission.evaluation_id},
                timestamp_ms=submission.timestamp_ms,
                assessment=submission.assessment,
                reasoning=submission.reasoning,
            )
        except Exception:
            logger.warning("evaluation %s was refused by ddtrace", submission.evaluation_id, exc_info=True)
            continue
        sent.append(submission.evaluation_id)
    if not sent:
        return set()
    llmobs.flush()
    return _tracker.wait_for(sent, timeout_s)
