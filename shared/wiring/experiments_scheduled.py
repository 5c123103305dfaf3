"""The `experiments-scheduled` function's composition root: the schedules it starts, the recovery
it runs and the alert events it resends.

The schedules and alerts are wired as for `experiments` (the same factories); the recovery is
this function's alone.
"""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.experiments.recovery import ExperimentRecovery
from shared.storage.clients import firestore_client
from shared.storage.experiments import FirestoreExperimentRepository
from shared.storage.shards import FirestoreShardRepository
from shared.wiring.experiments import alert_service, experiment_completion, schedule_service, shard_publisher

__all__ = ["alert_service", "experiment_recovery", "schedule_service"]


@lru_cache(maxsize=1)
def experiment_recovery() -> ExperimentRecovery:
    return ExperimentRecovery(
        settings=get_settings(),
        experiments=FirestoreExperimentRepository(firestore_client()),
        shards=FirestoreShardRepository(firestore_client()),
        publisher=shard_publisher(),
        completion=experiment_completion(),
    )
