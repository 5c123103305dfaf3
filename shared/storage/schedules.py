"""Experiment schedules in Firestore: `experiment_schedules/{schedule_id}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import Conflict, NotFound
from shared.models import ScheduleRecord

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "experiment_schedules"


class FirestoreScheduleRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._collection = client.collection(COLLECTION)

    def create(self, schedule: ScheduleRecord) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(schedule.schedule_id).create(schedule.model_dump(mode="python"))
        except exceptions.AlreadyExists:
            raise Conflict(
                f"Schedule {schedule.schedule_id!r} exists.", details={"schedule_id": schedule.schedule_id}
            ) from None

    def get(self, schedule_id: str) -> ScheduleRecord:
        snapshot = self._collection.document(schedule_id).get()
        if not snapshot.exists:
            raise NotFound(f"No schedule {schedule_id!r}.", details={"schedule_id": schedule_id})
        return ScheduleRecord.model_validate(snapshot.to_dict())

    def all(self) -> list[ScheduleRecord]:
        return [ScheduleRecord.model_validate(s.to_dict()) for s in self._collection.order_by("schedule_id").stream()]

    def enabled(self) -> list[ScheduleRecord]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("enabled", "==", True))
        return [ScheduleRecord.model_validate(s.to_dict()) for s in query.stream()]

    def update(self, schedule_id: str, fields: dict[str, Any]) -> ScheduleRecord:
        from google.api_core import exceptions

        try:
            self._collection.document(schedule_id).update(fields | {"updated_at": datetime.now(UTC)})
        except exceptions.NotFound:
            raise NotFound(f"No schedule {schedule_id!r}.", details={"schedule_id": schedule_id}) from None
        return self.get(schedule_id)

    def delete(self, schedule_id: str) -> None:
        """NotFound when there is none (a repeated DELETE is 404)."""
        from google.api_core import exceptions

        try:
            self._collection.document(schedule_id).delete(option=self._client.write_option(exists=True))
        except exceptions.NotFound:
            raise NotFound(f"No schedule {schedule_id!r}.", details={"schedule_id": schedule_id}) from None
