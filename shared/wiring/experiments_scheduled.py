"""The `experiments-scheduled` function's composition root: the schedules it starts, the recovery
it runs, the production-traffic rates it alerts on and the alert events it resends.

The schedules and alerts are wired as for `experiments` (the same factories); the recovery and
the traffic alerts are this function's alone.
"""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.experiments.recovery import ExperimentRecovery
from shared.experiments.traffic_alerts import TrafficAlerts, TrafficLimits
from shared.storage.clients import firestore_client
from shared.storage.experiments import FirestoreExperimentRepository
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.feedback import FirestoreFeedbackRepository
from shared.storage.shards import FirestoreShardRepository
from shared.wiring.experiments import alert_service, experiment_completion, schedule_service, shard_publisher

__all__ = ["alert_service", "experiment_recovery", "schedule_service", "traffic_alerts"]


@lru_cache(maxsize=1)
def experiment_recovery() -> ExperimentRecovery:
    return ExperimentRecovery(
        settings=get_settings(),
        experiments=FirestoreExperimentRepository(firestore_client()),
        shards=FirestoreShardRepository(firestore_client()),
        publisher=shard_publisher(),
        completion=experiment_completion(),
    )


@lru_cache(maxsize=1)
def traffic_alerts() -> TrafficAlerts:
    settings = get_settings()
    return TrafficAlerts(
        extractions=FirestoreExtractionRepository(firestore_client()),
        feedback=FirestoreFeedbackRepository(firestore_client()),
        alerts=alert_service(),
        limits=TrafficLimits.from_settings(settings),
        window_minutes=settings.traffic_alert_window_minutes,
        max_extractions=settings.traffic_alert_max_extractions,
    )
