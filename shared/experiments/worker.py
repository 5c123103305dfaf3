"""`experiments-worker`'s use case: run one delivered shard, under redelivery and crashes.

The worker takes a shard under a lease (renewed while it runs, so a worker that dies lets the
redelivery take over within `shard_lease_s`), does the shard's runs that are not yet done (run ids
are deterministic, so a redelivered shard writes nothing twice), and marks it completed; whoever
completes the last shard summarises the experiment and checks its alerts (idempotent: the summary
is recomputed from the stored runs, alerts are created once). A shard that fails
`shard_max_attempts` deliveries is marked failed and reported as an alert, not dropped.

A delivery must end inside the worker's timeout (540 s deployed): after `shard_time_budget_s` no new
run starts, the runs in flight finish (each within its `run_timeout_s`), and the shard is handed
back without spending an attempt, so the next delivery continues where this one stopped.

Scale: each worker instance runs at most `max_concurrent_shards` shards (deployed, one: the
worker's max instances cap them) and `model_calls_per_second` calls a second, so the model's quota
holds however many shards wait in Pub/Sub. With `experiment_quota_rpm` / `_tpm` set, the shards
running at once split the project's quota between them (`budget.py`) instead of each learning it
from 429s.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from shared.config import Settings
from shared.experiments.alerts import AlertCondition, AlertService
from shared.experiments.completion import ExperimentCompletion
from shared.experiments.runner import EntryRange, ExperimentCancelled, ExperimentRunner, ExperimentStopped, OutOfTime
from shared.experiments.shards import ShardBusy, ShardMessage
from shared.models import ExperimentRecord, RunRecord, ShardRecord
from shared.ports.experiments import ExperimentHistory, ShardLeases

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardOutcome:
    outcome: str  # completed | already_finished | failed | cancelled
    done: int = 0
    failed: int = 0


class ShardWorker:
    """Runs one delivered shard; safe under redelivery and concurrent duplicate deliveries."""

    def __init__(
        self,
        *,
        settings: Settings,
        shards: ShardLeases,
        experiments: ExperimentHistory,
        runner: ExperimentRunner,
        completion: ExperimentCompletion,
        alerts: AlertService,
    ) -> None:
        self._settings = settings
        self._shards = shards
        self._experiments = experiments
        self._runner = runner
        self._completion = completion
        self._alerts = alerts
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_shards)

    def process(self, message: ShardMessage) -> ShardOutcome:
        if not self._slots.acquire(blocking=False):
            raise ShardBusy(f"This instance already runs {self._settings.max_concurrent_shards} shards.")
        try:
            freeze_loaded_heap()
            return self._process(message)
        finally:
            self._slots.release()

    def run_inline(self, experiment_id: str) -> ExperimentRecord:
        """Every shard of an experiment, one after another in this thread, through the same code
        as a delivery (benchmarks and tests that measure the runner without Pub/Sub)."""
        for shard in self._shards.all(experiment_id):
            self.process(ShardMessage(experiment_id, shard.index))
        return self._experiments.get(experiment_id)

    def _process(self, message: ShardMessage) -> ShardOutcome:
        experiment_id, index = message.experiment_id, message.shard
        claim = self._shards.claim(
            experiment_id,
            index,
            lease_s=self._settings.shard_lease_s,
            max_attempts=self._settings.shard_max_attempts,
        )
        if claim.outcome == "busy":
            raise ShardBusy(f"Shard {index} of {experiment_id} is running elsewhere.")
        if claim.outcome == "finished":
            self.finalise_if_last(experiment_id)  # a crash may have come between the two
            return ShardOutcome("already_finished", claim.shard.done, claim.shard.failed)
        if claim.outcome == "exhausted":
            return self._give_up(claim.shard, experiment_id)
        shard = claim.shard
        try:
            runs = asyncio.run(self._run_under_lease(experiment_id, shard))
        except ExperimentCancelled as stopped:
            failed = sum(run.status == "failed" for run in stopped.runs)
            self._shards.stop(experiment_id, index, done=len(stopped.runs), failed=failed)
            self.finalise_if_last(experiment_id)
            return ShardOutcome("cancelled", len(stopped.runs), failed)
        except ExperimentStopped as stopped:
            # Its share of the budget is spent: a redelivery would start counting from zero and
            # spend it again, so the shard ends here (the runs it finished are stored).
            self._shards.fail(experiment_id, index, error=str(stopped))
            self.finalise_if_last(experiment_id)
            return ShardOutcome("failed")
        except OutOfTime as stopped:
            # Not a failure: the next delivery goes on from here, so the attempt is given back.
            self._shards.release(experiment_id, index, error=None, count_attempt=False)
            raise ShardBusy(f"Shard {index} of {experiment_id} paused: {stopped}") from None
        except Exception as error:
            logger.exception("shard %s of %s failed (attempt %s)", index, experiment_id, shard.attempts)
            reason = f"{type(error).__name__}: {error}"
            if shard.attempts < self._settings.shard_max_attempts:
                self._shards.release(experiment_id, index, error=reason)
                raise  # Pub/Sub delivers it again
            # The last attempt: report it now rather than count on one more delivery (Pub/Sub's
            # dead-letter policy may take the message first).
            self._shards.fail(experiment_id, index, error=reason)
            return self._give_up(shard.model_copy(update={"last_error": reason}), experiment_id)
        failed = sum(run.status == "failed" for run in runs)
        self._shards.complete(experiment_id, index, done=len(runs), failed=failed)
        self.finalise_if_last(experiment_id, just_run=runs)
        return ShardOutcome("completed", len(runs), failed)

    async def _run_under_lease(self, experiment_id: str, shard: ShardRecord) -> list[RunRecord]:
        experiment = self._experiments.get(experiment_id)
        budget = (
            experiment.budget_usd * shard.runs / max(1, experiment.progress.total)
            if experiment.budget_usd is not None
            else None
        )
        renewing = asyncio.ensure_future(self._renew_lease(experiment_id, shard.index))
        try:
            return await self._runner.run_range(
                experiment_id,
                EntryRange(shard.after_entry_id, shard.last_entry_id),
                budget_usd=budget,
                stop_starting_at=time.monotonic() + self._settings.shard_time_budget_s,
            )
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew_lease(self, experiment_id: str, index: int) -> None:
        """Hold the lease while the shard runs: a third of it at a time, so a missed renewal or two
        is harmless, and a dead worker's shard is free again within one lease."""
        lease_s = self._settings.shard_lease_s
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                await asyncio.to_thread(self._shards.extend_lease, experiment_id, index, lease_s=lease_s)
            except Exception:
                logger.warning("could not renew the lease of shard %s of %s", index, experiment_id, exc_info=True)

    def finalise_if_last(self, experiment_id: str, *, just_run: Sequence[RunRecord] = ()) -> ExperimentRecord | None:
        """Summarise and check alerts once every shard has finished (idempotent: any shard may).
        An experiment already summarised is left alone: a late redelivery must not read every run
        again."""
        experiment = self._experiments.get(experiment_id)
        if experiment.status in ("completed", "failed"):
            return experiment
        shards = self._shards.all(experiment_id)
        if experiment.status == "cancelled":
            return self._completion.finish_cancelled(experiment_id, [shard.status for shard in shards])
        if any(shard.status not in ("completed", "failed") for shard in shards):
            return None
        broken = [shard for shard in shards if shard.status == "failed"]
        reason = (
            f"{len(broken)} of {len(shards)} shards failed (shard {broken[0].index}: {broken[0].last_error})"
            if broken
            else None
        )
        experiment = self._completion.finish(experiment_id, reason=reason, just_run=just_run)
        if experiment.status == "completed":
            self._alerts.check_finished(experiment)
        return experiment

    def _give_up(self, shard: ShardRecord, experiment_id: str) -> ShardOutcome:
        """A shard failed its last attempt: report it, and finish the experiment if it was the last."""
        experiment = self._experiments.get(experiment_id)
        self._alerts.raise_alert(
            experiment,
            AlertCondition(
                "shard_failed",
                f"Shard {shard.index} failed {shard.attempts} deliveries and was given up: {shard.last_error}",
                severity="critical",
                key=f"shard-{shard.index}",
                details={"shard": shard.index, "attempts": shard.attempts, "last_error": shard.last_error},
            ),
        )
        self.finalise_if_last(experiment_id)
        return ShardOutcome("failed")


# A run allocates thousands of short-lived objects (requests, spans, results): a young generation
# of 700 was collected several times a run.
GC_THRESHOLDS = (20_000, 20, 20)


def freeze_loaded_heap() -> None:
    """Once per instance: move what it has loaded (modules, clients, evaluators, ~290,000 objects)
    out of the garbage collector's reach, so full collections walk only what runs allocate, and
    collect the young generation every GC_THRESHOLDS[0] allocations instead of 700.

    Measured (bench.experiment_throughput, c=64, 1,000 runs): collections took 0.6-0.8 ms of a
    run's ~2.5 ms CPU, each full one walking the whole loaded heap; frozen, 0.4 ms; with the
    larger young generation, 0.26 ms. The young generations are collected first, so their garbage
    is not frozen; the old one is not: a full collection took 137 ms here and found nothing (what
    is loaded at that point is long-lived), so an instance pays it no more.
    """
    if gc.get_freeze_count() == 0:
        gc.collect(1)
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
