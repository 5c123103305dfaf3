"""The review queue in Firestore: `review_items/{extraction_id}`, one item per extraction.

Producers (extract, feedback) add an item, or extend its reasons, with a merge write in their
own atomic batch: `reasons` grows by ArrayUnion and `closed` is written as Increment(0), which
creates it as 0 (open) and leaves a decided item's 1 alone, so a producer never reads the item and
never resets a reviewer's work. An open item is claimed while `claim_expires_at` is in the
future; every filter is an equality (`closed`, `reason_flags.<reason>`), so the queue's queries
are served by merging one-field indexes. A claim is a lease taken with an update
preconditioned on the document's update time (as the evaluation outbox's `claim_pending`): two
reviewers never hold one item, and the loser moves on to the next candidate. An expired claim is
pending again, lazily: readers compare `claim_expires_at` with now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import Conflict, NotFound
from shared.models import ReviewItem, ReviewReason, effective_state
from shared.storage.cursor import start_after_document

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "review_items"
_CANDIDATES_PAGE = 20
_ATTEMPTS = 20
_ACCURACY_PAGE = 500


class FirestoreReviewRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._collection = client.collection(COLLECTION)

    def document(self, extraction_id: str) -> firestore.DocumentReference:
        return self._collection.document(extraction_id)

    def delete(self, extraction_id: str) -> None:
        """Remove an extraction's item, whatever its state (nothing when there is none)."""
        self._collection.document(extraction_id).delete()

    def stage(
        self,
        batch: firestore.WriteBatch,
        *,
        extraction_id: str,
        reasons: Iterable[ReviewReason],
        created_at: datetime,
        model: str,
        span_id: str | None,
        trace_id: str | None,
        cross_check_fields: list[dict[str, Any]] | None = None,
        form_type: str | None = None,
        automatic_verdict: bool | None = None,
    ) -> None:
        """Add the item, or add reasons to it, in `batch`; a claimed or done item keeps its state.

        `cross_check_fields`: the fields a second reading disagreed on (reason `cross_check`),
        kept on the item for the reviewer. `form_type` and `automatic_verdict` (extract gives
        them) are what production accuracy reads beside the reviewer's verdict."""
        from google.cloud import firestore as firestore_module

        wanted = sorted(set(reasons))
        if not wanted:
            return
        fields: dict[str, Any] = {
            "extraction_id": extraction_id,
            "reasons": firestore_module.ArrayUnion(wanted),
            "reason_flags": {reason: True for reason in wanted},
            "closed": firestore_module.Increment(0),
            "created_at": created_at,  # the extraction's: the queue is oldest extraction first
            "model": model,
            "span_id": span_id,
            "trace_id": trace_id,
        }
        if cross_check_fields:
            fields["cross_check_fields"] = cross_check_fields
        if form_type is not None:
            fields["form_type"] = form_type
        if automatic_verdict is not None:
            fields["automatic_verdict"] = automatic_verdict
        batch.set(self.document(extraction_id), fields, merge=True)

    def get(self, extraction_id: str, now: datetime) -> ReviewItem:
        snapshot = self.document(extraction_id).get()
        if not snapshot.exists:
            raise NotFound(f"No review item {extraction_id!r}.", details={"extraction_id": extraction_id})
        return _item(snapshot, now)

    def page(
        self, *, closed: int | None, reason: ReviewReason | None, after: str | None, limit: int
    ) -> list[firestore.DocumentSnapshot]:
        """Open (0) or decided (1) items, or both (None), oldest first (created_at, then id)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.order_by("created_at")
        if closed is not None:
            query = query.where(filter=FieldFilter("closed", "==", closed))
        if reason == "golden_candidate":
            query = query.where(filter=FieldFilter("reason_flags.golden_candidate", "==", True))
        elif reason == "thumbs_down":
            query = query.where(filter=FieldFilter("reason_flags.thumbs_down", "==", True))
        elif reason == "consistency_failed":
            query = query.where(filter=FieldFilter("reason_flags.consistency_failed", "==", True))
        elif reason == "classification_low":
            query = query.where(filter=FieldFilter("reason_flags.classification_low", "==", True))
        elif reason == "cross_check":
            query = query.where(filter=FieldFilter("reason_flags.cross_check", "==", True))
        elif reason == "random_sample":
            query = query.where(filter=FieldFilter("reason_flags.random_sample", "==", True))
        query = start_after_document(query, self._collection, after)
        return list(query.limit(limit).stream())

    def scan_open(self, *, reason: ReviewReason | None, now: datetime) -> Iterator[ReviewItem]:
        """Every open item (pending or claimed), oldest first, a page at a time."""
        after: str | None = None
        while True:
            page = self.page(closed=0, reason=reason, after=after, limit=_CANDIDATES_PAGE)
            for snapshot in page:
                yield _item(snapshot, now)
            if len(page) < _CANDIDATES_PAGE:
                return
            after = page[-1].id

    def open_items(self) -> Iterator[dict[str, Any]]:
        """Reasons and claim fields of every open item (for the queue's counts)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("closed", "==", 0)).order_by("created_at")
        for snapshot in query.select(["reasons", "closed", "claimed_by", "claim_expires_at"]).stream():
            yield snapshot.to_dict() or {}

    def count_done(self, reason: ReviewReason) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("closed", "==", 1)).order_by("created_at")
        if reason == "golden_candidate":
            query = query.where(filter=FieldFilter("reason_flags.golden_candidate", "==", True))
        elif reason == "thumbs_down":
            query = query.where(filter=FieldFilter("reason_flags.thumbs_down", "==", True))
        elif reason == "consistency_failed":
            query = query.where(filter=FieldFilter("reason_flags.consistency_failed", "==", True))
        elif reason == "cross_check":
            query = query.where(filter=FieldFilter("reason_flags.cross_check", "==", True))
        elif reason == "random_sample":
            query = query.where(filter=FieldFilter("reason_flags.random_sample", "==", True))
        else:
            query = query.where(filter=FieldFilter("reason_flags.classification_low", "==", True))
        return int(query.count().get()[0][0].value)

    def decided(self, *, since: datetime | None) -> Iterator[dict[str, Any]]:
        """Verdicts, notes and the evaluators' outcomes of every decided item (decided at or after `since`)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("closed", "==", 1))
        if since is not None:
            query = query.where(filter=FieldFilter("decided_at", ">=", since))
        for snapshot in query.select(["verdict", "evaluator_outcomes", "decided_at", "extraction_id", "note"]).stream():
            yield snapshot.to_dict() or {}

    def random_sample_items(self, *, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        """The random-sample items of the extractions made in [since, until) (their state, verdict,
        form type and automatic verdict), oldest first, a page at a time: each page's stream is
        read to its end before the next query (shared.deadlines)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("reason_flags.random_sample", "==", True))
            .where(filter=FieldFilter("created_at", ">=", since))
            .where(filter=FieldFilter("created_at", "<", until))
            .order_by("created_at")
            .select(["closed", "verdict", "form_type", "automatic_verdict", "created_at"])
        )
        last: firestore.DocumentSnapshot | None = None
        while True:
            page_query = query.start_after(last) if last is not None else query
            page = list(page_query.limit(_ACCURACY_PAGE).stream())
            for snapshot in page:
                yield snapshot.to_dict() or {}
            if len(page) < _ACCURACY_PAGE:
                return
            last = page[-1]

    def take(self, item: ReviewItem, fields: dict[str, Any]) -> bool:
        """Update `item` only if nobody changed it since it was read; False when someone did."""
        from google.api_core import exceptions

        try:
            self.document(item.extraction_id).update(
                fields, option=self._client.write_option(last_update_time=item.update_time)
            )
        except (exceptions.FailedPrecondition, exceptions.Aborted, exceptions.NotFound):
            return False
        return True

    def claim_named(self, extraction_id: str, reviewer: str, fields: dict[str, Any], now: datetime) -> ReviewItem:
        """Claim this item (or renew the reviewer's own claim); Conflict when another holds it."""
        for _ in range(_ATTEMPTS):
            item = self.get(extraction_id, now)
            if item.state == "done":
                raise Conflict(f"Review item {extraction_id!r} is already decided.", details=_held(item))
            if item.state == "claimed" and not item.holds(reviewer):
                raise Conflict(f"Review item {extraction_id!r} is claimed by another reviewer.", details=_held(item))
            if self.take(item, fields):
                return self.get(extraction_id, now)
        raise Conflict(f"Review item {extraction_id!r} is changing too fast; try again.")

    def claim_next(
        self, reviewer: str, reason: ReviewReason | None, fields: dict[str, Any], now: datetime
    ) -> ReviewItem | None:
        """The oldest pending item (of `reason`), claimed; None when there is none."""
        for item in self.scan_open(reason=reason, now=now):
            if item.state != "pending":
                continue
            if self.take(item, fields):  # lost it to another reviewer: try the next
                return self.get(item.extraction_id, now)
        return None

    def commit_decision(
        self, extraction_id: str, now: datetime, write: Callable[[firestore.WriteBatch, ReviewItem], None]
    ) -> None:
        """Run `write(batch, item)` on a fresh read of the item and commit it with a precondition on
        the item, retried when the item changed between the read and the commit."""
        from google.api_core import exceptions

        for _ in range(_ATTEMPTS):
            item = self.get(extraction_id, now)
            batch = self._client.batch()
            write(batch, item)
            try:
                batch.commit()
                return
            except (exceptions.FailedPrecondition, exceptions.Aborted):
                continue
        raise Conflict(f"Review item {extraction_id!r} is changing too fast; try again.")

    def record_decision(self, batch: firestore.WriteBatch, item: ReviewItem, fields: dict[str, Any]) -> None:
        """Add the decision to `batch`, conditional on the item being as read."""
        batch.update(self.document(item.extraction_id), fields, option=self.precondition(item))

    def precondition(self, item: ReviewItem) -> Any:
        return self._client.write_option(last_update_time=item.update_time)


def _item(snapshot: firestore.DocumentSnapshot, now: datetime) -> ReviewItem:
    document = snapshot.to_dict() or {}
    return ReviewItem(
        extraction_id=snapshot.id,
        state=effective_state(document, now),
        document=document,
        update_time=snapshot.update_time,
    )


def _held(item: ReviewItem) -> dict[str, Any]:
    return {"extraction_id": item.extraction_id, "state": item.state}
