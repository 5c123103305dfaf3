"""Fan-out: a large experiment split into shards, carried by Pub/Sub to `experiments-worker`.

A shard is a contiguous range of the (frozen) dataset version's entries with every variant and
repetition of them. The experiment and its shards are created in one atomic write; the shards are
then published, one message each. The worker takes a shard under a lease, does its runs that are
not yet done (run ids are deterministic, so a redelivered shard writes nothing twice), and marks it
completed; whoever completes the last shard summarises the experiment and checks its alerts
(idempotent: the summary is recomputed from the stored runs, alerts are created once). A shard that
fails `shard_max_attempts` deliveries is marked failed and reported as an alert, not dropped.

Scale: each worker instance runs at most `max_concurrent_shards` shards (in production the
worker's max instances, one shard each) and `model_calls_per_second` calls a second, so the
model's quota holds however many shards wait in Pub/Sub.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.config import Settings
from shared.errors import VoteExtractorError
from shared.experiments.alerts import AlertCondition, AlertService
from shared.experiments.runner import EntryRange, ExperimentRunner
from shared.models import ExperimentRecord, ShardRecord
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.shards import MAX_SHARDS, FirestoreShardRepository

logger = logging.getLogger(__name__)


class ShardBusy(VoteExtractorError):
    """This delivery cannot run the shard now (another holds it, or this instance is full):
    refused so that Pub/Sub delivers it again later."""

    status, code = 429, "shard_busy"


@dataclass(frozen=True)
class ShardMessage:
    experiment_id: str
    shard: int

    def encode(self) -> bytes:
        return json.dumps({"experiment_id": self.experiment_id, "shard": self.shard}).encode()

    @classmethod
    def decode(cls, data: bytes) -> ShardMessage:
        """A message we published; ValueError for anything else."""
        body = json.loads(data)
        if not isinstance(body, dict) or set(body) != {"experiment_id", "shard"}:
            raise ValueError("a shard message is {experiment_id, shard}")
        experiment_id, shard = body["experiment_id"], body["shard"]
        if not isinstance(experiment_id, str) or not experiment_id or len(experiment_id) > 64:
            raise ValueError("experiment_id must be a short string")
        if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < MAX_SHARDS:
            raise ValueError("shard must be a shard index")
        return cls(experiment_id, shard)


def entries_per_shard(experiment: ExperimentRecord, shard_size: int) -> int:
    """Whole entries per shard (an entry's variants and repetitions stay together, for pairing)."""
    return max(1, shard_size // (len(experiment.variants) * experiment.repetitions))


def plan_shards(
    datasets: FirestoreDatasetRepository, experiment: ExperimentRecord, shard_size: int
) -> list[ShardRecord]:
    """Split the version's entries into shards of about `shard_size` runs, in id order."""
    per_shard = entries_per_shard(experiment, shard_size)
    runs_per_entry = len(experiment.variants) * experiment.repetitions
    ids = [entry.id for entry in datasets.stream(experiment.dataset_name, experiment.dataset_version)]
    count = math.ceil(len(ids) / per_shard)
    if count > MAX_SHARDS:
        from shared.errors import InvalidField

        raise InvalidField(
            f"{len(ids)} entries make {count} shards, more than {MAX_SHARDS}: raise SHARD_SIZE.",
            details={"shards": count, "max_shards": MAX_SHARDS},
        )
    now = datetime.now(UTC)
    shards = []
    for index in range(count):
        chunk = ids[index * per_shard : (index + 1) * per_shard]
        shards.append(
            ShardRecord(
                index=index,
                after_entry_id=ids[index * per_shard - 1] if index else None,
                last_entry_id=chunk[-1],
                runs=len(chunk) * runs_per_entry,
                updated_at=now,
            )
        )
    return shards


class ShardPublisher:
    """Publishes shard messages to the shards topic (google-cloud-pubsub, imported on first use:
    it costs half a second at import, which the functions that never fan out should not pay)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    def publish(self, messages: list[ShardMessage]) -> list[int]:
        """Publish every message; the shard indexes Pub/Sub accepted."""
        client = self._publisher()
        topic = client.topic_path(self._settings.gcp_project, self._settings.shards_topic)
        futures = [
            (message, client.publish(topic, message.encode(), experiment_id=message.experiment_id))
            for message in messages
        ]
        accepted = []
        for message, future in futures:
            try:
                future.result(timeout=30)
                accepted.append(message.shard)
            except Exception:
                logger.exception("shard %s of %s was not published", message.shard, message.experiment_id)
        return accepted

    def _publisher(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import pubsub_v1

                self._client = pubsub_v1.PublisherClient()
            return self._client


@dataclass(frozen=True)
class ShardOutcome:
    outcome: str  # completed | already_finished | failed
    done: int = 0
    failed: int = 0


class ShardWorker:
    """Runs one delivered shard; safe under redelivery and concurrent duplicate deliveries."""

    def __init__(
        self,
        *,
        settings: Settings,
        shards: FirestoreShardRepository,
        runner: ExperimentRunner,
        alerts: AlertService,
    ) -> None:
        self._settings = settings
        self._shards = shards
        self._runner = runner
        self._alerts = alerts
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_shards)

    def process(self, message: ShardMessage) -> ShardOutcome:
        if not self._slots.acquire(blocking=False):
            raise ShardBusy(f"This instance already runs {self._settings.max_concurrent_shards} shards.")
        try:
            return self._process(message)
        finally:
            self._slots.release()

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
            experiment = self._runner.experiment(experiment_id)
            budget = (
                experiment.budget_usd * shard.runs / max(1, experiment.progress.total)
                if experiment.budget_usd is not None
                else None
            )
            runs = asyncio.run(
                self._runner.run_range(
                    experiment_id, EntryRange(shard.after_entry_id, shard.last_entry_id), budget_usd=budget
                )
            )
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
        self.finalise_if_last(experiment_id)
        return ShardOutcome("completed", len(runs), failed)

    def finalise_if_last(self, experiment_id: str) -> ExperimentRecord | None:
        """Summarise and check alerts once every shard has finished (idempotent: any shard may).
        An experiment already summarised is left alone: a late redelivery must not read every run
        again."""
        experiment = self._runner.experiment(experiment_id)
        if experiment.status in ("completed", "failed"):
            return experiment
        shards = self._shards.all(experiment_id)
        if any(shard.status not in ("completed", "failed") for shard in shards):
            return None
        broken = [shard for shard in shards if shard.status == "failed"]
        reason = (
            f"{len(broken)} of {len(shards)} shards failed (shard {broken[0].index}: {broken[0].last_error})"
            if broken
            else None
        )
        experiment = self._runner.finish_from_store(experiment_id, reason=reason)
        if experiment.status == "completed":
            self._alerts.check_finished(experiment)
        return experiment

    def _give_up(self, shard: ShardRecord, experiment_id: str) -> ShardOutcome:
        """A shard failed its last attempt: report it, and finish the experiment if it was the last."""
        experiment = self._runner.experiment(experiment_id)
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
