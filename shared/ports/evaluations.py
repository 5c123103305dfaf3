"""What the evaluation sink needs from storage: the outbox where evaluations wait for Datadog.

Adapter: `shared.storage.evaluation_outbox.FirestoreEvaluationOutbox` (`llmobs_outbox/{entry_id}`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from shared.models import OutboxEntry


class EvaluationOutbox(Protocol):
    def stage(self, write: Any, entries: Iterable[OutboxEntry]) -> None:
        """Add each entry to `write` (a batch or a transaction): stored with its record, atomically."""
        ...

    def record_delivery(self, outcomes: Sequence[tuple[OutboxEntry, set[str]]]) -> None:
        """For each (entry, evaluation ids the intake accepted): delivered, or pending with those remembered."""
        ...

    def claim_pending(self, *, limit: int, lease_s: float, owner: str) -> list[OutboxEntry]:
        """Lease up to `limit` pending entries to `owner`, so concurrent resends never share one."""
        ...
