"""Extractions in Firestore: `extractions/{extraction_id}`, looked up by id or by llm span id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import NotFound
from shared.evaluation.production_accuracy import automatic_verdict
from shared.models import ExtractionRecord
from shared.storage.cursor import start_after_document

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "extractions"


class FirestoreExtractionRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._collection = client.collection(COLLECTION)

    def create(
        self,
        record: ExtractionRecord,
        *,
        also: Callable[[firestore.WriteBatch], None] | None = None,
    ) -> None:
        """The extraction and `also`'s writes (its evaluations staged for Datadog, its review-queue
        item), in one atomic write."""
        batch = self._client.batch()
        batch.create(self._collection.document(record.extraction_id), to_document(record))
        if also is not None:
            also(batch)
        batch.commit()

    def document(self, extraction_id: str) -> firestore.DocumentReference:
        return self._collection.document(extraction_id)

    def get(self, extraction_id: str) -> ExtractionRecord:
        snapshot = self._collection.document(extraction_id).get()
        if not snapshot.exists:
            raise NotFound(f"No extraction {extraction_id!r}.", details={"extraction_id": extraction_id})
        return ExtractionRecord.model_validate(snapshot.to_dict())

    def get_for_delete(self, extraction_id: str) -> tuple[ExtractionRecord, Any]:
        """The record and its update time, which `delete` requires unchanged."""
        snapshot = self._collection.document(extraction_id).get()
        if not snapshot.exists:
            raise NotFound(f"No extraction {extraction_id!r}.", details={"extraction_id": extraction_id})
        return ExtractionRecord.model_validate(snapshot.to_dict()), snapshot.update_time

    def others_using_image(self, image_uri: str, extraction_id: str) -> bool:
        """Whether an extraction other than `extraction_id` was made from the image at `image_uri`."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("image_uri", "==", image_uri)).select([]).limit(2)
        return any(snapshot.id != extraction_id for snapshot in query.stream())

    def delete(self, extraction_id: str, *, unchanged_since: Any) -> bool:
        """Delete the record unless it changed after `unchanged_since` (feedback or a dataset took it
        meanwhile): False then, and the caller starts over."""
        from google.api_core import exceptions

        try:
            self._collection.document(extraction_id).delete(
                option=self._client.write_option(last_update_time=unchanged_since)
            )
        except (exceptions.FailedPrecondition, exceptions.NotFound):
            return False
        return True

    def count_made(
        self, *, since: datetime, until: datetime, form_type: str | None, automatic_verdict: bool | None = None
    ) -> int:
        """How many extractions were made in [since, until) (of `form_type`; with this automatic
        verdict): one aggregation query, whatever the count."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("created_at", ">=", since)).where(
            filter=FieldFilter("created_at", "<", until)
        )
        if form_type is not None:
            query = query.where(filter=FieldFilter("form_type", "==", form_type))
        if automatic_verdict is not None:
            query = query.where(filter=FieldFilter("automatic_verdict", "==", automatic_verdict))
        return int(query.count().get()[0][0].value)

    def find_by_span(self, span_id: str) -> ExtractionRecord | None:
        from google.cloud.firestore_v1.base_query import FieldFilter

        for snapshot in self._collection.where(filter=FieldFilter("span_id", "==", span_id)).limit(1).stream():
            return ExtractionRecord.model_validate(snapshot.to_dict())
        return None

    def golden_candidates(self, *, limit: int) -> list[ExtractionRecord]:
        """Approved golden candidates not yet added to a dataset."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("golden_candidate", "==", True))
            .where(filter=FieldFilter("in_dataset", "==", False))
            .limit(limit)
        )
        return [ExtractionRecord.model_validate(snapshot.to_dict()) for snapshot in query.stream()]

    def page(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        feedback: str | None = None,
        golden_candidate: bool | None = None,
        form_types: list[str] | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[ExtractionRecord]:
        """Newest first (created_at, then id, both descending), every filter an equality.

        `form_types` are exact `name@n` refs, any of which a record's `form_type` may be (an `in`,
        which Firestore runs as one equality per value: at most 30).

        `feedback` is thumbs_down | thumbs_up | corrected | none, read from the booleans the
        feedback batch keeps on the document. Combined filters are served by Firestore merging
        the one-field composite indexes (field, created_at desc) declared in `indexes.py`.
        `after` is the last extraction id of the previous page.
        """
        from google.cloud import firestore as firestore_module
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.order_by("created_at", direction=firestore_module.Query.DESCENDING)
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status))
        if model is not None:
            query = query.where(filter=FieldFilter("model", "==", model))
        if golden_candidate is not None:
            query = query.where(filter=FieldFilter("golden_candidate", "==", golden_candidate))
        if form_types is not None:
            query = query.where(filter=FieldFilter("form_type", "in", form_types))
        if feedback == "thumbs_down":
            query = query.where(filter=FieldFilter("has_thumbs_down", "==", True))
        elif feedback == "thumbs_up":
            query = query.where(filter=FieldFilter("has_thumbs_up", "==", True))
        elif feedback == "corrected":
            query = query.where(filter=FieldFilter("corrected", "==", True))
        elif feedback == "none":
            query = query.where(filter=FieldFilter("has_feedback", "==", False))
        query = start_after_document(query, self._collection, after)
        return [ExtractionRecord.model_validate(s.to_dict()) for s in query.limit(limit).stream()]

    def created_between(self, start: datetime, end: datetime, *, limit: int) -> list[ExtractionRecord]:
        """Extractions created in [start, end), oldest first, at most `limit` (a range on one field:
        Firestore's own single-field index serves it)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("created_at", ">=", start))
            .where(filter=FieldFilter("created_at", "<", end))
            .order_by("created_at")
            .limit(limit)
        )
        return [ExtractionRecord.model_validate(snapshot.to_dict()) for snapshot in query.stream()]

    def mark_in_dataset(self, extraction_ids: list[str], dataset_version: str) -> None:
        from google.cloud import firestore

        batch = self._client.batch()
        for extraction_id in extraction_ids:
            batch.update(
                self._collection.document(extraction_id),
                {"in_dataset": True, "datasets": firestore.ArrayUnion([dataset_version])},
            )
        batch.commit()


def to_document(record: ExtractionRecord) -> dict[str, Any]:
    # The summary's derived fields are computed on read; only its counters are stored.
    document = record.model_dump(mode="python", exclude={"feedback_summary": {"mean_quality_score", "corrected"}})
    # Stored for production accuracy's aggregation counts only (the record does not read it back).
    document["automatic_verdict"] = automatic_verdict(
        succeeded=record.status == "succeeded", evaluations=record.evaluations
    )
    return document
