"""Evaluations bound for Datadog, kept in Firestore until delivered (`llmobs_outbox/{entry_id}`).

One entry holds the evaluations of one atomic write (an extraction, a feedback, a review
decision, a batch of experiment runs), staged in that write by the record's repository: a record
never exists without its evaluations queued, and one entry costs one write to stage and one to
mark, however many evaluations it carries. The evaluations are stored as one JSON text (nothing
queries inside them): as nested maps, each of their fields would be encoded and indexed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.models import OutboxEntry

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "llmobs_outbox"


class FirestoreEvaluationOutbox:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._collection = client.collection(COLLECTION)

    def stage(self, write: firestore.WriteBatch | firestore.Transaction, entries: Iterable[OutboxEntry]) -> None:
        """Add each entry to `write` (a batch or a transaction): written with its records, atomically."""
        for entry in entries:
            write.set(self._collection.document(entry.entry_id), _document(entry))

    def record_delivery(self, outcomes: Sequence[tuple[OutboxEntry, set[str]]]) -> None:
        """For each (entry, evaluation ids the intake accepted): delivered when nothing is left,
        otherwise still pending with what was accepted remembered; either way the lease is given
        back and the attempt counted."""
        from google.cloud import firestore

        now = datetime.now(UTC)
        for start in range(0, len(outcomes), 500):
            batch = self._client.batch()
            for entry, accepted in outcomes[start : start + 500]:
                complete = not [s for s in entry.undelivered() if s.evaluation_id not in accepted]
                fields: dict[str, object] = {"lease_until": None, "attempts": firestore.Increment(1)}
                if complete:  # the ids are only worth keeping (and indexing) while some are missing
                    fields |= {"status": "delivered", "delivered_at": now}
                elif accepted:
                    fields["delivered_ids"] = firestore.ArrayUnion(sorted(accepted))
                batch.update(self._collection.document(entry.entry_id), fields)
            batch.commit()

    def claim_pending(self, *, limit: int, lease_s: float, owner: str) -> list[OutboxEntry]:
        """Lease up to `limit` pending entries to `owner`, so concurrent resends never share one.

        Each lease is an update conditional on the document being unchanged since it was read
        (no transaction locks); an entry someone else leased first is skipped.
        """
        from google.api_core import exceptions
        from google.cloud.firestore_v1.base_query import FieldFilter

        now = datetime.now(UTC)
        claimed = []
        query = self._collection.where(filter=FieldFilter("status", "==", "pending")).limit(limit)
        for snapshot in list(query.stream()):  # read to the end before writing (shared.deadlines)
            entry = _entry(snapshot.to_dict())
            if entry.lease_until is not None and entry.lease_until > now:
                continue
            try:
                snapshot.reference.update(
                    {"lease_until": now + timedelta(seconds=lease_s), "lease_owner": owner},
                    option=self._client.write_option(last_update_time=snapshot.update_time),
                )
            except (exceptions.FailedPrecondition, exceptions.Aborted, exceptions.NotFound):
                continue
            claimed.append(entry)
        return claimed

    def entries_starting(self, prefix: str) -> list[OutboxEntry]:
        """Every entry whose id starts with `prefix` (e.g. `runs~{experiment_id}~`: an experiment's)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("entry_id", ">=", prefix)).where(
            filter=FieldFilter("entry_id", "<", prefix + "\uffff")
        )
        return [_entry(snapshot.to_dict()) for snapshot in query.stream()]

    def get(self, entry_id: str) -> OutboxEntry | None:
        snapshot = self._collection.document(entry_id).get()
        return _entry(snapshot.to_dict()) if snapshot.exists else None


def _document(entry: OutboxEntry) -> dict[str, Any]:
    document = entry.model_dump(exclude={"submissions"})
    document["submissions_json"] = json.dumps([s.model_dump(mode="json") for s in entry.submissions])
    return document


def _entry(document: dict[str, Any] | None) -> OutboxEntry:
    fields = dict(document or {})
    fields["submissions"] = json.loads(fields.pop("submissions_json", "[]"))
    return OutboxEntry.model_validate(fields)
