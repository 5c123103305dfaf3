"""Experiments in Firestore: `experiments/{id}` and its runs, `experiments/{id}/runs/{run_id}`.

A run's id is `{entry_id}~{variant}~{repetition}`, so a run written twice (a resumed or redelivered
experiment) is still one document. A run is stored as JSON text beside the two fields queries use
(`run_id`, `status`): nothing queries inside it, encoding a few hundred nested fields per run into
Firestore's protobufs was the runner's largest CPU cost (a quarter of it at 64 runs in flight),
and every stored field is also an index entry to write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import Conflict, NotFound
from shared.models import ExperimentRecord, RunRecord
from shared.storage.cursor import start_after_document

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "experiments"
_PAGE = 500


class FirestoreExperimentRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._collection = client.collection(COLLECTION)

    def _runs(self, experiment_id: str) -> firestore.CollectionReference:
        return self._collection.document(experiment_id).collection("runs")

    def create(self, experiment: ExperimentRecord) -> None:
        from google.api_core import exceptions

        try:
            self._collection.document(experiment.experiment_id).create(experiment.model_dump(mode="python"))
        except exceptions.AlreadyExists:
            raise Conflict(f"Experiment {experiment.experiment_id!r} exists.") from None

    def get(self, experiment_id: str) -> ExperimentRecord:
        snapshot = self._collection.document(experiment_id).get()
        if not snapshot.exists:
            raise NotFound(f"No experiment {experiment_id!r}.", details={"experiment_id": experiment_id})
        return ExperimentRecord.model_validate(snapshot.to_dict())

    def listing(
        self,
        *,
        dataset: str | None = None,
        status: str | None = None,
        schedule_id: str | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[ExperimentRecord]:
        """Newest first (created_at, then id, descending); filters are equalities, combined by
        Firestore merging the one-field indexes (field, created_at desc) in `indexes.py`."""
        from google.cloud import firestore as firestore_module
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.order_by("created_at", direction=firestore_module.Query.DESCENDING)
        if dataset is not None:
            query = query.where(filter=FieldFilter("dataset_name", "==", dataset))
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status))
        if schedule_id is not None:
            query = query.where(filter=FieldFilter("schedule_id", "==", schedule_id))
        query = start_after_document(query, self._collection, after)
        return [ExperimentRecord.model_validate(s.to_dict()) for s in query.limit(limit).stream()]

    def unfinished(self) -> list[ExperimentRecord]:
        """Experiments queued or running (the scheduled function looks for stalled shards in them)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("status", "in", ["queued", "running"]))
        return [ExperimentRecord.model_validate(s.to_dict()) for s in query.stream()]

    def cancelled_unsummarised(self) -> list[ExperimentRecord]:
        """Experiments cancelled and not yet summarised (the scheduled function finishes those whose
        running shard's worker died, which nobody else would)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        # Only experiments in progress have no finished_at, so this reads few; one field, no index.
        query = self._collection.where(filter=FieldFilter("finished_at", "==", None))
        found = [ExperimentRecord.model_validate(s.to_dict()) for s in query.stream()]
        return [experiment for experiment in found if experiment.status == "cancelled"]

    def update(self, experiment_id: str, fields: dict[str, Any]) -> None:
        self._collection.document(experiment_id).update(fields)

    def update_unless_cancelled(self, experiment_id: str, fields: dict[str, Any]) -> bool:
        """Apply `fields` unless the experiment is cancelled (False then): an update preconditioned
        on the document being unchanged since it was read, so a cancel is never overwritten."""
        return self._change(experiment_id, lambda record: None if record.status == "cancelled" else fields)

    def cancel(self, experiment_id: str, reason: str) -> tuple[ExperimentRecord, bool]:
        """Mark a queued or running experiment cancelled: (the experiment, True when cancelled now);
        one already cancelled is (it, False); a finished one is Conflict."""

        def cancelled(record: ExperimentRecord) -> dict[str, Any] | None:
            if record.status == "cancelled":
                return None
            if record.status in ("completed", "failed"):
                raise Conflict(
                    f"Experiment {experiment_id!r} is {record.status}; only a queued or running one can be cancelled.",
                    details={"experiment_id": experiment_id, "status": record.status},
                )
            return {"status": "cancelled", "status_reason": reason, "cancelled_at": datetime.now(UTC)}

        changed = self._change(experiment_id, cancelled)
        return self.get(experiment_id), changed

    def _change(self, experiment_id: str, fields_for: Any) -> bool:
        from google.api_core import exceptions

        reference = self._collection.document(experiment_id)
        while True:
            snapshot = reference.get()
            if not snapshot.exists:
                raise NotFound(f"No experiment {experiment_id!r}.", details={"experiment_id": experiment_id})
            fields = fields_for(ExperimentRecord.model_validate(snapshot.to_dict()))
            if fields is None:
                return False
            try:
                reference.update(fields, option=self._client.write_option(last_update_time=snapshot.update_time))
                return True
            except (exceptions.FailedPrecondition, exceptions.Aborted):
                continue  # someone wrote first (a heartbeat, a cancel): read again

    def save_runs(
        self,
        experiment_id: str,
        runs: list[RunRecord],
        *,
        also: Callable[[firestore.WriteBatch], None],
        heartbeat: bool,
    ) -> None:
        """Runs, `also`'s writes (their evaluations staged for Datadog) and, with `heartbeat`, the
        experiment's heartbeat, in one atomic batch (500 writes at most)."""
        batch = self._client.batch()
        for run in runs:
            batch.set(self._runs(experiment_id).document(run.run_id), _document(run))
        also(batch)
        if heartbeat:
            batch.update(self._collection.document(experiment_id), {"heartbeat_at": datetime.now(UTC)})
        batch.commit()

    def succeeded_run_ids(self, experiment_id: str, run_ids: Sequence[str]) -> set[str]:
        """Which of `run_ids` are stored as succeeded. A shard asks of its own runs, a page at a time:
        reading every run of the experiment instead cost each shard's start O(runs done so far)."""
        if not run_ids:
            return set()
        runs = self._runs(experiment_id)
        found = self._client.get_all([runs.document(run_id) for run_id in run_ids], field_paths=["status"])
        return {s.id for s in found if s.exists and s.get("status") == "succeeded"}

    def runs(self, experiment_id: str) -> Iterator[RunRecord]:
        after: str | None = None
        while True:
            query = self._runs(experiment_id).order_by("run_id").limit(_PAGE)
            if after:
                query = query.start_after({"run_id": after})
            page = [_run(s.to_dict()) for s in query.stream()]
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].run_id

    def page(self, experiment_id: str, *, page_size: int, after: str | None) -> list[RunRecord]:
        query = self._runs(experiment_id).order_by("run_id").limit(page_size)
        if after:
            query = query.start_after({"run_id": after})
        return [_run(s.to_dict()) for s in query.stream()]

    def progress(self, experiment_id: str) -> tuple[int, int]:
        """(runs written, runs failed), counted from the runs themselves (exact after any resume)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        runs = self._runs(experiment_id)
        done = runs.count().get()[0][0].value
        failed = runs.where(filter=FieldFilter("status", "==", "failed")).count().get()[0][0].value
        return int(done), int(failed)


def _document(run: RunRecord) -> dict[str, Any]:
    # Only what queries need as fields; the rest is one JSON text: the Firestore emulator indexes
    # every field of every run (and so does Firestore), and fewer index entries made writes cheaper.
    return {"run_id": run.run_id, "status": run.status, "run_json": run.model_dump_json()}


def _run(document: dict[str, Any] | None) -> RunRecord:
    return RunRecord.model_validate_json((document or {})["run_json"])
