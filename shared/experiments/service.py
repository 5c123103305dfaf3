"""The experiments use case: start, watch, resume, compare and report experiments.

An experiment is checked completely before anything is stored (`plan`), then stored with its
shards in one write and published: every experiment, one shard or four hundred, ad hoc or
scheduled, runs on `experiments-worker` (`worker.py`), inside a delivery Cloud Functions keeps
alive. Nothing runs in the process that answered the request. Status is read back from Firestore.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from shared.config import Settings, get_settings
from shared.errors import Conflict, InvalidField, NotFound
from shared.experiments.plan import ExperimentRequest, plan_experiment
from shared.experiments.ports import MessagePublisher
from shared.experiments.shards import ShardMessage, plan_shards, publish_shards
from shared.models import ExperimentProgress, ExperimentRecord
from shared.observability import llmobs
from shared.paging import decode_page_token, encode_page_token
from shared.storage.clients import firestore_client, storage_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.experiment_ports import DatasetReader, ExperimentStore, ShardPlans
from shared.storage.experiments import FirestoreExperimentRepository
from shared.storage.images import GcsImageStore
from shared.storage.shards import FirestoreShardRepository

logger = logging.getLogger(__name__)

STALE_AFTER_S = 120.0


class ExperimentService:
    def __init__(
        self,
        *,
        settings: Settings,
        experiments: ExperimentStore,
        datasets: DatasetReader,
        shards: ShardPlans,
        publisher: MessagePublisher,
    ) -> None:
        self._settings = settings
        self._experiments = experiments
        self._datasets = datasets
        self._shards = shards
        self._publisher = publisher

    def plan(self, request: ExperimentRequest, *, experiment_id: str | None = None) -> ExperimentRecord:
        """Check everything a client sent and build the experiment, storing nothing."""
        return plan_experiment(
            request,
            settings=self._settings,
            datasets=self._datasets,
            experiments=self._experiments,
            experiment_id=experiment_id,
        )

    def start(
        self,
        request: ExperimentRequest,
        *,
        experiment_id: str | None = None,
        schedule_id: str | None = None,
        slot: str | None = None,
        created_by: str | None,
    ) -> ExperimentRecord:
        """Store the experiment with its shards and publish them to `experiments-worker`.
        Conflict when `experiment_id` exists (a schedule's slot already started). `created_by`:
        the caller's API key name (a scheduled one: its schedule's creator)."""
        experiment = self.plan(request, experiment_id=experiment_id)
        experiment.schedule_id, experiment.slot, experiment.created_by = schedule_id, slot, created_by
        if request.dry_run:
            return experiment
        self._snapshot_dataset(experiment)
        shards = plan_shards(self._datasets, experiment, self._settings.shard_size)
        experiment.shard_count = len(shards)
        self._shards.create_experiment(experiment, shards)
        self.publish_unpublished(experiment.experiment_id)
        return experiment

    def _snapshot_dataset(self, experiment: ExperimentRecord) -> None:
        """A version published before snapshots existed gets one now: the shards are planned and
        their entries read from it (one query read of the entries, which planning did anyway)."""
        name, version = experiment.dataset_name, experiment.dataset_version
        try:
            self._datasets.ensure_snapshot(name, version)
        except Exception:  # the entries are read one by one instead
            logger.warning("could not snapshot %s@%s", name, version, exc_info=True)

    def publish_unpublished(self, experiment_id: str, *, include_unfinished: bool = False) -> list[int]:
        """Publish the shards not yet published (or, to resume, every shard not finished)."""
        shards = self._shards.all(experiment_id)
        wanted = [
            s.index
            for s in shards
            if not s.published or (include_unfinished and s.status in ("pending", "running", "failed"))
        ]
        if not wanted:
            return []
        published = publish_shards(self._publisher, [ShardMessage(experiment_id, index) for index in wanted])
        if published:
            self._shards.mark_published(experiment_id, published)
        return published

    def recover_stalled_shards(self) -> dict[str, list[int]]:
        """Publish the shards never published (Pub/Sub was down when the experiment started: it
        stayed queued with them), and republish the shards of fanned-out experiments that stopped
        moving: a shard whose worker died holding it (lease expired), or every unfinished shard of
        an experiment no run has landed in for a lease's length (its messages were lost or
        dead-lettered). The scheduled function calls this on every trigger; shards are idempotent,
        so a needless republish costs only a delivery. Only queued and running experiments are
        looked at: a cancelled one is never resumed."""
        now = datetime.now(UTC)
        quiet = timedelta(seconds=self._settings.shard_lease_s)
        recovered: dict[str, list[int]] = {}
        for experiment in self._experiments.unfinished():
            last_moved = experiment.heartbeat_at or experiment.created_at
            shards = self._shards.all(experiment.experiment_id)
            never_published = [s.index for s in shards if s.status == "pending" and not s.published]
            stalled = [
                s.index
                for s in shards
                if (s.status == "running" and s.lease_until is not None and s.lease_until < now)
                or (s.status == "pending" and s.published and now - last_moved > quiet and now - s.updated_at > quiet)
            ]
            published = []
            if never_published:
                published = publish_shards(
                    self._publisher, [ShardMessage(experiment.experiment_id, index) for index in never_published]
                )
                if published:
                    self._shards.mark_published(experiment.experiment_id, published)
            if stalled:
                published += publish_shards(
                    self._publisher, [ShardMessage(experiment.experiment_id, index) for index in stalled]
                )
            if published:
                recovered[experiment.experiment_id] = sorted(published)
        return recovered

    def finish_abandoned_cancels(self) -> list[str]:
        """Summarise the cancelled experiments whose running shard's worker died (its lease ran
        out) before it could stop the shard and summarise: that shard is marked cancelled, and the
        experiment summarised from its stored runs. A shard whose lease still runs is left to its
        worker. The ids of the experiments summarised now."""
        from shared.experiments.cancel import finish_cancelled

        now = datetime.now(UTC)
        summarised = []
        for experiment in self._experiments.cancelled_unsummarised():
            shards = self._shards.all(experiment.experiment_id)
            for shard in shards:
                if shard.status == "running" and (shard.lease_until is None or shard.lease_until < now):
                    self._shards.stop(experiment.experiment_id, shard.index, done=shard.done, failed=shard.failed)
                    shard.status = "cancelled"
            finished = finish_cancelled(self._experiments, [s.status for s in shards], experiment.experiment_id)
            if finished is not None and finished.finished_at is not None:
                summarised.append(experiment.experiment_id)
        return summarised

    def cancel(self, experiment_id: str) -> ExperimentRecord:
        """Cancel a queued or running experiment: no run starts after it (pending shards are
        cancelled now, running ones stop within CANCEL_POLL_S), finished runs stay and are
        summarised. Cancelling a cancelled experiment again changes nothing; a finished one is
        Conflict."""
        from shared.experiments.cancel import CANCELLED_BY_REQUEST, finish_cancelled

        experiment, _ = self._experiments.cancel(experiment_id, CANCELLED_BY_REQUEST)
        if experiment.finished_at is not None:
            return experiment
        self._shards.cancel_pending(experiment_id)
        shard_states = [s.status for s in self._shards.all(experiment_id)]
        return finish_cancelled(self._experiments, shard_states, experiment_id) or experiment

    def resume(self, experiment_id: str) -> ExperimentRecord:
        """Run again what is missing or failed (failed shards get their attempts back)."""
        experiment = self._experiments.get(experiment_id)
        if experiment.status == "cancelled":
            raise Conflict(
                "The experiment was cancelled; start a new one to run it again.",
                details={"experiment_id": experiment_id, "status": "cancelled"},
            )
        if experiment.status == "completed" and experiment.progress.failed == 0:
            raise Conflict("The experiment is complete; nothing to resume.")
        if not experiment.shard_count:  # stored by a release that ran small experiments in-process
            shards = plan_shards(self._datasets, experiment, self._settings.shard_size)
            self._shards.add_shards(experiment_id, shards)
        self._shards.reopen(experiment_id)
        self._experiments.update(experiment_id, {"status": "running", "status_reason": None})
        self.publish_unpublished(experiment_id, include_unfinished=True)
        return self._experiments.get(experiment_id)

    def list(
        self,
        *,
        dataset: str | None,
        status: str | None,
        schedule_id: str | None,
        page_size: int,
        page_token: str | None,
    ) -> dict[str, Any]:
        """A page of experiments, newest first, in brief."""
        after = decode_page_token(page_token) if page_token else None
        found = self._experiments.listing(
            dataset=dataset, status=status, schedule_id=schedule_id, after=after, limit=page_size
        )
        return {
            "items": [
                {
                    "experiment_id": e.experiment_id,
                    "name": e.name,
                    "status": e.status,
                    "dataset": {"name": e.dataset_name, "version": e.dataset_version},
                    "variants": [v.model_dump(mode="json") for v in e.variants],
                    "progress": e.progress.model_dump(),
                    "schedule_id": e.schedule_id,
                    "created_at": e.created_at.isoformat(),
                    "created_by": e.created_by,
                    "finished_at": e.finished_at.isoformat() if e.finished_at else None,
                }
                for e in found
            ],
            "next_page_token": encode_page_token(found[-1].experiment_id) if len(found) == page_size else None,
        }

    def status(self, experiment_id: str) -> dict[str, Any]:
        experiment = self._experiments.get(experiment_id)
        progress = experiment.progress
        if experiment.status in ("queued", "running") or (
            experiment.status == "cancelled" and experiment.finished_at is None
        ):
            done, failed = self._experiments.progress(experiment_id)
            progress = ExperimentProgress(done=done, total=experiment.progress.total, failed=failed)
        body = experiment.model_dump(mode="json")
        body["progress"] = progress.model_dump()
        quiet_s = (datetime.now(UTC) - experiment.heartbeat_at).total_seconds() if experiment.heartbeat_at else 0.0
        if experiment.status == "running" and quiet_s > STALE_AFTER_S:
            body["status_reason"] = (
                f"no run has finished for {quiet_s:.0f} s: the worker running it may have stopped; its shard "
                f"is delivered again once the lease lapses, or POST /experiments/{experiment_id}/resume now"
            )
        body["dataset"] = {"name": experiment.dataset_name, "version": experiment.dataset_version}
        if experiment.shard_count:  # 0 only for experiments stored before every one ran in shards
            shards = self._shards.all(experiment_id)
            body["shards"] = {
                "total": len(shards),
                **{
                    state: sum(s.status == state for s in shards)
                    for state in ("pending", "running", "completed", "failed", "cancelled")
                },
            }
        return body

    def results(self, experiment_id: str, *, page_size: int, page_token: str | None) -> dict[str, Any]:
        self._experiments.get(experiment_id)
        after = decode_page_token(page_token) if page_token else None
        runs = self._experiments.page(experiment_id, page_size=page_size, after=after)
        return {
            "items": [run.model_dump(mode="json") for run in runs],
            "next_page_token": encode_page_token(runs[-1].run_id) if len(runs) == page_size else None,
        }

    def compare(
        self, experiment_id: str, *, a: str | None, b: str | None, baseline: str | None, variant: str | None
    ) -> dict[str, Any]:
        from shared.experiments.analysis import baseline_variant, compare_experiment_runs

        experiment = self._experiments.get(experiment_id)
        if baseline:
            base = self._experiments.get(baseline)
            mine = variant or _only_variant(experiment)
            theirs = baseline_variant(base, variant) or _only_variant(base)
            runs_a = [r for r in self._experiments.runs(baseline) if r.variant == theirs]
            runs_b = [r for r in self._experiments.runs(experiment_id) if r.variant == mine]
            labels = {"a": f"{baseline}:{theirs}", "b": f"{experiment_id}:{mine}"}
        else:
            if not a or not b:
                raise InvalidField(
                    "Give ?a=VARIANT&b=VARIANT, or ?baseline=EXPERIMENT_ID.", details={"fields": ["a", "b"]}
                )
            names = {v.name for v in experiment.variants}
            unknown = sorted({a, b} - names)
            if unknown:
                raise InvalidField(
                    f"No variant {unknown[0]!r} in this experiment.", details={"variants": sorted(names)}
                )
            runs = list(self._experiments.runs(experiment_id))
            runs_a = [r for r in runs if r.variant == a]
            runs_b = [r for r in runs if r.variant == b]
            labels = {"a": a, "b": b}
        return {"experiment_id": experiment_id, **labels, **compare_experiment_runs(runs_a, runs_b)}

    def report(self, experiment_id: str) -> str:
        from shared.experiments.report import render_report

        experiment = self._experiments.get(experiment_id)
        runs = list(self._experiments.runs(experiment_id))
        baseline = None
        if experiment.baseline_experiment_id:
            try:
                base = self._experiments.get(experiment.baseline_experiment_id)
                baseline = (base, list(self._experiments.runs(base.experiment_id)))
            except NotFound:  # a deleted baseline: the variants are compared among themselves
                logger.warning("Baseline %s of %s is gone", experiment.baseline_experiment_id, experiment_id)
        images = GcsImageStore(storage_client(), self._settings.images_bucket)
        return render_report(experiment, runs, images=images, baseline=baseline)


def _only_variant(experiment: ExperimentRecord) -> str:
    if len(experiment.variants) != 1:
        raise InvalidField(
            f"Experiment {experiment.experiment_id} has several variants: name one with ?variant=.",
            details={"variants": [v.name for v in experiment.variants]},
        )
    return experiment.variants[0].name


@lru_cache(maxsize=1)
def experiment_service() -> ExperimentService:
    from shared.pubsub import PubSubPublisher

    settings = get_settings()
    llmobs.enable_llmobs(settings)
    return ExperimentService(
        settings=settings,
        experiments=FirestoreExperimentRepository(firestore_client()),
        datasets=FirestoreDatasetRepository(firestore_client()),
        shards=FirestoreShardRepository(firestore_client()),
        publisher=PubSubPublisher(project=settings.gcp_project, topic=settings.shards_topic),
    )
