"""Evaluations bound for Datadog, kept in Firestore until delivered (`llmobs_evaluations/{id}`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
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

    def mark_attempted(self, evaluation_ids: Iterable[str]) -> None:
        from google.cloud import firestore

        batch = self._client.batch()
        for evaluation_id in evaluation_ids:
            batch.update(self._collection.document(evaluation_id), {"attempts": firestore.Increment(1)})
        batch.commit()

    def pending(self, *, limit: int = 500) -> list[EvaluationSubmission]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("status", "==", "pending")).limit(limit)
        return [EvaluationSubmission.model_validate(s.to_dict()) for s in query.stream()]

    def get(self, evaluation_id: str) -> EvaluationSubmission | None:
        snapshot = self._collection.document(evaluation_id).get()
        return EvaluationSubmission.model_validate(snapshot.to_dict()) if snapshot.exists else None
