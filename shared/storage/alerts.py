"""Alerts in Firestore: `alerts/{alert_id}`, created once (the id names the experiment and the
condition, so checking a finished experiment again never alerts twice)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.models import AlertRecord

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "alerts"


class FirestoreAlertRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._collection = client.collection(COLLECTION)

    def create_once(self, alert: AlertRecord) -> bool:
        """True when this call stored it; False when it was already there."""
        from google.api_core import exceptions

        try:
            self._collection.document(alert.alert_id).create(alert.model_dump(mode="python"))
        except exceptions.AlreadyExists:
            return False
        return True

    def mark_event_sent(self, alert_id: str) -> None:
        self._collection.document(alert_id).update({"datadog_event_sent": True})

    def unsent_events(self, *, limit: int = 100) -> list[AlertRecord]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("datadog_event_sent", "==", False)).limit(limit)
        return [AlertRecord.model_validate(s.to_dict()) for s in query.stream()]

    def for_experiment(self, experiment_id: str) -> list[AlertRecord]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("experiment_id", "==", experiment_id))
        return sorted(
            (AlertRecord.model_validate(s.to_dict()) for s in query.stream()), key=lambda alert: alert.created_at
        )

    def recent(self, *, schedule_id: str | None = None, limit: int = 100) -> list[AlertRecord]:
        from google.cloud import firestore as firestore_module
        from google.cloud.firestore_v1.base_query import FieldFilter

        if schedule_id:
            query = self._collection.where(filter=FieldFilter("schedule_id", "==", schedule_id))
            query = query.order_by("created_at", direction=firestore_module.Query.DESCENDING).limit(limit)
        else:
            query = self._collection.order_by("created_at", direction=firestore_module.Query.DESCENDING).limit(limit)
        return [AlertRecord.model_validate(s.to_dict()) for s in query.stream()]
