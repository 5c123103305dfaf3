"""What a client may do to an experiment: start it, cancel it, resume it.

An experiment is checked completely before anything is stored (`plan`), then stored with its
shards in one write and published: every experiment, one shard or four hundred, ad hoc or
scheduled, runs on `experiments-worker` (`worker.py`), inside a delivery Cloud Functions keeps
alive. Nothing runs in the process that answered the request.

Cancelling marks the experiment `cancelled` (conditionally: a finished one is 409) and its pending
shards `cancelled`, so their deliveries run nothing. A shard running at the time is stopped by its
worker, whose runner re-reads the experiment's status every `CANCEL_POLL_S` and then starts no
new run; the runs in flight finish and are stored. Whoever leaves the last shard stopped (the
cancel itself when none was running) summarises the experiment from its stored runs, once
(`completion.py`). The scheduled recovery never republishes a cancelled experiment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.config import Settings
from shared.errors import Conflict
from shared.experiments.completion import ExperimentCompletion
from shared.experiments.plan import ExperimentRequest, plan_experiment
from shared.experiments.shards import ShardMessage, plan_shards, publish_shards
from shared.form_types.expected import FormTypeResolver
from shared.models import ExperimentRecord
from shared.ports.experiments import DatasetReader, ExperimentControl, MessagePublisher, ShardPlans
from shared.prompts import PromptRegistry

logger = logging.getLogger(__name__)

CANCELLED_BY_REQUEST = "cancelled by request"


class ExperimentCommands:
    def __init__(
        self,
        *,
        settings: Settings,
        experiments: ExperimentControl,
        datasets: DatasetReader,
        shards: ShardPlans,
        publisher: MessagePublisher,
        completion: ExperimentCompletion,
        prompts: PromptRegistry,
        form_types: FormTypeResolver,
        stored_judges: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self._settings = settings
        self._stored_judges = stored_judges  # the judge registry's `expand` (llm_judge naming a stored judge)
        self._prompts = prompts
        self._form_types = form_types
        self._experiments = experiments
        self._datasets = datasets
        self._shards = shards
        self._publisher = publisher
        self._completion = completion

    def plan(self, request: ExperimentRequest, *, experiment_id: str | None = None) -> ExperimentRecord:
        """Check everything a client sent and build the experiment, storing nothing."""
        return plan_experiment(
            request,
            settings=self._settings,
            datasets=self._datasets,
            experiments=self._experiments,
            prompts=self._prompts,
            form_types=self._form_types,
            experiment_id=experiment_id,
            stored_judges=self._stored_judges,
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

    def cancel(self, experiment_id: str) -> ExperimentRecord:
        """Cancel a queued or running experiment: no run starts after it (pending shards are
        cancelled now, running ones stop within CANCEL_POLL_S), finished runs stay and are
        summarised. Cancelling a cancelled experiment again changes nothing; a finished one is
        Conflict."""
        experiment, _ = self._experiments.cancel(experiment_id, CANCELLED_BY_REQUEST)
        if experiment.finished_at is not None:
            return experiment
        self._shards.cancel_pending(experiment_id)
        shard_states = [s.status for s in self._shards.all(experiment_id)]
        return self._completion.finish_cancelled(experiment_id, shard_states) or experiment

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
