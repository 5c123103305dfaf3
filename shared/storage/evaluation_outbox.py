"""Evaluations bound for Datadog, kept in Firestore until delivered (`llmobs_evaluations/{id}`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.models import EvaluationSubmission

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "llmobs_evaluations"


class FirestoreEvaluationOutbox:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._collection = client.collection(COLLECTION)

    def stage(
        self, batch: firestore.WriteBatch | firestore.Transaction, submissions: Iterable[EvaluationSubmission]
    ) -> None:
        """Add each submission to `batch` or a transaction: written with its record, atomically."""
        for submission in submissions:
            batch.set(self._collection.document(submission.evaluation_id), submission.model_dump())

    def keep_pending(self, submissions: list[EvaluationSubmission]) -> None:
        """Store evaluations Datadog did not take (status pending), for the resend routine."""
        for start in range(0, len(submissions), 500):
            batch = self._client.batch()
            self.stage(batch, submissions[start : start + 500])
            batch.commit()

    def mark_delivered(self, evaluation_ids: Iterable[str]) -> None:
        from google.cloud import firestore

        ids = list(evaluation_ids)
        now = datetime.now(UTC)
        for start in range(0, len(ids), 500):
            batch = self._client.batch()
            for evaluation_id in ids[start : start + 500]:
                batch.update(
                    self._collection.document(evaluation_id),
                    {"status": "delivered", "delivered_at": now, "attempts": firestore.Increment(1)},
                )
            batch.commit()

    def claim_pending(self, *, limit: int, lease_s: float, owner: str) -> list[EvaluationSubmission]:
        """Lease up to `limit` pending evaluations to `owner`, so concurrent resends never share one.

        Each lease is an update conditional on the document being unchanged since it was read
        (no transaction locks); a document someone else leased first is skipped.
        """
        from google.api_core import exceptions
        from google.cloud.firestore_v1.base_query import FieldFilter

        now = datetime.now(UTC)
        claimed = []
        query = self._collection.where(filter=FieldFilter("status", "==", "pending")).limit(limit)
        for snapshot in query.stream():
            lease_until = (snapshot.to_dict() or {}).get("lease_until")
            if lease_until is not None and lease_until > now:
                continue
            try:
                snapshot.reference.update(
                    {"lease_until": now + timedelta(seconds=lease_s), "lease_owner": owner},
                    option=self._client.write_option(last_update_time=snapshot.update_time),
                )
            except (exceptions.FailedPrecondition, exceptions.Aborted, exceptions.NotFound):
                continue
            claimed.append(EvaluationSubmission.model_validate(snapshot.to_dict()))
        return claimed

    def release(self, evaluation_ids: Iterable[str]) -> None:
        """Give back leases that did not deliver, counting the attempt."""
        from google.cloud import firestore

        ids = list(evaluation_ids)
        for start in range(0, len(ids), 500):
            batch = self._client.batch()
            for evaluation_id in ids[start : start + 500]:
                batch.update(
                    self._collection.document(evaluation_id),
                    {"lease_until": None, "attempts": firestore.Increment(1)},
                )
            batch.commit()

    def pending(self, *, limit: int = 500) -> list[EvaluationSubmission]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("status", "==", "pending")).limit(limit)
        return [EvaluationSubmission.model_validate(s.to_dict()) for s in query.stream()]

    def get(self, evaluation_id: str) -> EvaluationSubmission | None:
        snapshot = self._collection.document(evaluation_id).get()
        return EvaluationSubmission.model_validate(snapshot.to_dict()) if snapshot.exists else None
