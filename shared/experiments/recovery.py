"""Recovery, the scheduled function's job: experiments that stopped moving get going again, and
cancelled ones whose worker died before it could stop are summarised.

`experiments-scheduled` calls both on every trigger. Shards are idempotent, so a needless
republish costs only a delivery; only queued and running experiments are republished, so a
cancelled one is never resumed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.config import Settings
from shared.experiments.completion import ExperimentCompletion
from shared.experiments.shards import ShardMessage, publish_shards
from shared.ports.experiments import MessagePublisher, ShardRecovery, UnfinishedExperiments


class ExperimentRecovery:
    def __init__(
        self,
        *,
        settings: Settings,
        experiments: UnfinishedExperiments,
        shards: ShardRecovery,
        publisher: MessagePublisher,
        completion: ExperimentCompletion,
    ) -> None:
        self._settings = settings
        self._experiments = experiments
        self._shards = shards
        self._publisher = publisher
        self._completion = completion

    def recover_stalled_shards(self) -> dict[str, list[int]]:
        """Publish the shards never published (Pub/Sub was down when the experiment started: it
        stayed queued with them), and republish the shards of fanned-out experiments that stopped
        moving: a shard whose worker died holding it (lease expired), or every unfinished shard of
        an experiment no run has landed in for a lease's length (its messages were lost or
        dead-lettered). The ids of the experiments republished, with their shards'."""
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
        now = datetime.now(UTC)
        summarised = []
        for experiment in self._experiments.cancelled_unsummarised():
            shards = self._shards.all(experiment.experiment_id)
            for shard in shards:
                if shard.status == "running" and (shard.lease_until is None or shard.lease_until < now):
                    self._shards.stop(experiment.experiment_id, shard.index, done=shard.done, failed=shard.failed)
                    shard.status = "cancelled"
            finished = self._completion.finish_cancelled(experiment.experiment_id, [s.status for s in shards])
            if finished is not None and finished.finished_at is not None:
                summarised.append(experiment.experiment_id)
        return summarised
