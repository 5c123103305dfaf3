"""Feedback in Firestore (`feedback/{feedback_id}`), recorded atomically with its effects.

One atomic write creates the feedback, bumps the extraction's summary counters (Firestore
increments: exact however many arrive at once) and stages the evaluations bound for Datadog.
It reads nothing, so feedback on one busy extraction does not contend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.models import FeedbackRecord, VoteExtraction
from shared.storage.extractions import COLLECTION as EXTRACTIONS

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "feedback"
LIST_LIMIT = 500


class FirestoreFeedbackRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._collection = client.collection(COLLECTION)

    def record(
        self,
        feedback: FeedbackRecord,
        *,
        also: Callable[[firestore.WriteBatch], None] | None = None,
    ) -> tuple[FeedbackRecord, bool]:
        """Store `feedback` once; (the stored record, True) the first time, (the first, False) after.

        One atomic batch whose `create` fails when the id exists: so a replay writes nothing, and
        nothing takes a lock (the emulator's transactions time out when ten replays race).
        """
        from google.api_core import exceptions

        feedback_ref = self._collection.document(feedback.feedback_id)
        batch = self._client.batch()
        batch.create(feedback_ref, feedback.model_dump(mode="python"))
        batch.update(self._client.collection(EXTRACTIONS).document(feedback.extraction_id), _summary_update(feedback))
        if also is not None:  # its evaluations staged for Datadog, the review queue's item
            also(batch)
        try:
            batch.commit()
        except exceptions.AlreadyExists:
            existing = feedback_ref.get()
            return FeedbackRecord.model_validate(existing.to_dict()), False
        return feedback, True

    def for_extraction(self, extraction_id: str) -> list[FeedbackRecord]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("extraction_id", "==", extraction_id)).limit(LIST_LIMIT)
        records = [FeedbackRecord.model_validate(snapshot.to_dict()) for snapshot in query.stream()]
        return sorted(records, key=lambda record: record.created_at)

    def delete_for_extraction(self, extraction_id: str) -> int:
        """Delete every feedback on an extraction, 500 to a batch; how many were deleted."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        deleted = 0
        while True:
            query = self._collection.where(filter=FieldFilter("extraction_id", "==", extraction_id))
            page = list(query.select([]).limit(LIST_LIMIT).stream())
            if not page:
                return deleted
            batch = self._client.batch()
            for snapshot in page:
                batch.delete(snapshot.reference)
            batch.commit()
            deleted += len(page)

    def counts_since(self, since: datetime) -> tuple[int, int]:
        """(feedbacks, thumbs-down feedbacks) created at or after `since`, by aggregation queries."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        recent = self._collection.where(filter=FieldFilter("created_at", ">=", since))
        negative = recent.where(filter=FieldFilter("feedback_type", "==", "thumbs_down"))
        total = recent.count().get()[0][0].value
        return int(total), int(negative.count().get()[0][0].value)

    def counts_between(self, start: datetime, end: datetime) -> tuple[int, int]:
        """(feedbacks, thumbs-down feedbacks) created in [start, end), by aggregation queries."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        window = self._collection.where(filter=FieldFilter("created_at", ">=", start)).where(
            filter=FieldFilter("created_at", "<", end)
        )
        negative = window.where(filter=FieldFilter("feedback_type", "==", "thumbs_down"))
        total = window.count().get()[0][0].value
        return int(total), int(negative.count().get()[0][0].value)


def _summary_update(feedback: FeedbackRecord) -> dict[str, Any]:
    from google.cloud import firestore

    update: dict[str, Any] = {
        f"feedback_summary.{feedback.feedback_type}": firestore.Increment(1),
        "has_feedback": True,
        f"has_{feedback.feedback_type}": True,
    }
    if feedback.quality_score is not None:
        update["feedback_summary.ratings"] = firestore.Increment(1)
        update["feedback_summary.rating_sum"] = firestore.Increment(feedback.quality_score)
    if feedback.corrected_result is not None:
        update["feedback_summary.corrections"] = firestore.Increment(1)
        update["corrected_result"] = _as_document(feedback.corrected_result)
        update["corrected"] = True
    if feedback.golden_candidate:
        update["golden_candidate"] = True
        if feedback.corrected_result is None:
            update["approved_by_person"] = True
    return update


def _as_document(extraction: VoteExtraction) -> dict[str, Any]:
    return extraction.model_dump(mode="python")
