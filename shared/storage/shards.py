"""An experiment's shards in Firestore: `experiments/{id}/shards/{index}`.

A shard is taken under a lease (an update preconditioned on the document's update time), so two
deliveries of one Pub/Sub message never run it at once; its worker renews the lease while it
works, so a lease that lapses means the worker died, and a later delivery takes the shard over.
Every take counts as an attempt, except one that ran out of time and handed the rest on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from shared.errors import ExperimentExists, NotFound
from shared.models import MAX_SHARDS, ExperimentRecord, ShardClaim, ShardRecord

if TYPE_CHECKING:
    from google.cloud import firestore


def shard_document_id(index: int) -> str:
    return f"{index:04d}"


class FirestoreShardRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._experiments = client.collection("experiments")

    def _shards(self, experiment_id: str) -> firestore.CollectionReference:
        return self._experiments.document(experiment_id).collection("shards")

    def create_experiment(self, experiment: ExperimentRecord, shards: list[ShardRecord]) -> None:
        """The experiment and all its shards, atomically: Conflict when the id exists (a schedule's
        slot already started, a retried trigger)."""
        from google.api_core import exceptions

        if len(shards) > MAX_SHARDS:
            raise ValueError(f"at most {MAX_SHARDS} shards per experiment")
        batch = self._client.batch()
        batch.create(self._experiments.document(experiment.experiment_id), experiment.model_dump(mode="python"))
        for shard in shards:
            batch.create(
                self._shards(experiment.experiment_id).document(shard_document_id(shard.index)), shard.model_dump()
            )
        try:
            batch.commit()
        except exceptions.AlreadyExists:
            raise ExperimentExists(f"Experiment {experiment.experiment_id!r} exists.") from None

    def add_shards(self, experiment_id: str, shards: list[ShardRecord]) -> None:
        """Shards for an experiment stored without them (by a release that ran small experiments
        in-process), with its shard count, atomically."""
        if len(shards) > MAX_SHARDS:
            raise ValueError(f"at most {MAX_SHARDS} shards per experiment")
        batch = self._client.batch()
        for shard in shards:
            batch.set(self._shards(experiment_id).document(shard_document_id(shard.index)), shard.model_dump())
        batch.update(self._experiments.document(experiment_id), {"shard_count": len(shards)})
        batch.commit()

    def all(self, experiment_id: str) -> list[ShardRecord]:
        return [ShardRecord.model_validate(s.to_dict()) for s in self._shards(experiment_id).stream()]

    def mark_published(self, experiment_id: str, indexes: list[int]) -> None:
        batch = self._client.batch()
        for index in indexes:
            batch.update(
                self._shards(experiment_id).document(shard_document_id(index)),
                {"published": True, "updated_at": datetime.now(UTC)},
            )
        batch.commit()

    def claim(self, experiment_id: str, index: int, *, lease_s: float, max_attempts: int) -> ShardClaim:
        from google.api_core import exceptions

        reference = self._shards(experiment_id).document(shard_document_id(index))
        while True:
            snapshot = reference.get()
            if not snapshot.exists:
                raise NotFound(f"No shard {index} in experiment {experiment_id!r}.")
            shard = ShardRecord.model_validate(snapshot.to_dict())
            now = datetime.now(UTC)
            if shard.status in ("completed", "failed", "cancelled"):
                return ShardClaim("finished", shard)
            if shard.status == "running" and shard.lease_until and shard.lease_until > now:
                return ShardClaim("busy", shard)
            fields: dict[str, Any]
            if shard.attempts >= max_attempts:
                fields = {"status": "failed", "lease_until": None, "updated_at": now}
                outcome: Literal["acquired", "exhausted"] = "exhausted"
            else:
                fields = {
                    "status": "running",
                    "attempts": shard.attempts + 1,
                    "lease_until": now + timedelta(seconds=lease_s),
                    "updated_at": now,
                }
                outcome = "acquired"
            try:
                reference.update(fields, option=self._client.write_option(last_update_time=snapshot.update_time))
            except exceptions.FailedPrecondition:
                continue  # another delivery changed it first: look again
            return ShardClaim(outcome, shard.model_copy(update=fields))

    def complete(self, experiment_id: str, index: int, *, done: int, failed: int) -> None:
        self._shards(experiment_id).document(shard_document_id(index)).update(
            {
                "status": "completed",
                "done": done,
                "failed": failed,
                "lease_until": None,
                "last_error": None,
                "updated_at": datetime.now(UTC),
            }
        )

    def fail(self, experiment_id: str, index: int, *, error: str) -> None:
        """Give up a shard that failed its last attempt (reported as an alert by the caller)."""
        self._shards(experiment_id).document(shard_document_id(index)).update(
            {"status": "failed", "lease_until": None, "last_error": error[:2000], "updated_at": datetime.now(UTC)}
        )

    def extend_lease(self, experiment_id: str, index: int, *, lease_s: float) -> None:
        """Hold a running shard's lease `lease_s` longer (its worker is alive and working)."""
        now = datetime.now(UTC)
        self._shards(experiment_id).document(shard_document_id(index)).update(
            {"lease_until": now + timedelta(seconds=lease_s), "updated_at": now}
        )

    def release(self, experiment_id: str, index: int, *, error: str | None, count_attempt: bool = True) -> None:
        """Give a shard back so its redelivery can take it at once: after a failed attempt, or
        (`count_attempt=False`) after a delivery that ran out of time and hands on the rest."""
        from google.cloud import firestore

        fields: dict[str, Any] = {"status": "pending", "lease_until": None, "updated_at": datetime.now(UTC)}
        if error is not None:
            fields["last_error"] = error[:2000]
        if not count_attempt:
            fields["attempts"] = firestore.Increment(-1)
        self._shards(experiment_id).document(shard_document_id(index)).update(fields)

    def cancel_pending(self, experiment_id: str) -> list[int]:
        """Mark every pending shard cancelled (its runs never start); a running one is left to its
        worker, which notices the cancel and stops. Each is conditional on being unchanged since
        read, so a shard a worker claims meanwhile is left to that worker."""
        from google.api_core import exceptions
        from google.cloud.firestore_v1.base_query import FieldFilter

        cancelled = []
        pending = self._shards(experiment_id).where(filter=FieldFilter("status", "==", "pending"))
        for snapshot in list(pending.stream()):  # read to the end before writing (shared.deadlines)
            try:
                snapshot.reference.update(
                    {"status": "cancelled", "lease_until": None, "updated_at": datetime.now(UTC)},
                    option=self._client.write_option(last_update_time=snapshot.update_time),
                )
            except (exceptions.FailedPrecondition, exceptions.Aborted):
                continue
            cancelled.append(int(snapshot.get("index")))
        return cancelled

    def stop(self, experiment_id: str, index: int, *, done: int, failed: int) -> None:
        """A running shard stopped by a cancel: what it finished is kept, the rest never runs."""
        self._shards(experiment_id).document(shard_document_id(index)).update(
            {
                "status": "cancelled",
                "done": done,
                "failed": failed,
                "lease_until": None,
                "updated_at": datetime.now(UTC),
            }
        )

    def reopen(self, experiment_id: str) -> None:
        """Give failed shards their attempts back (a resume after the cause was fixed)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        failed = self._shards(experiment_id).where(filter=FieldFilter("status", "==", "failed"))
        for snapshot in list(failed.stream()):  # read to the end before writing (shared.deadlines)
            snapshot.reference.update(
                {"status": "pending", "attempts": 0, "lease_until": None, "updated_at": datetime.now(UTC)}
            )
