"""The `experiments-scheduled` function's composition root: the schedules it starts, the recovery
it runs, the production-traffic rates it alerts on, the alert events it resends and the
production-accuracy gauges it sends to Datadog.

The schedules and alerts are wired as for `experiments` (the same factories); the recovery, the
traffic alerts and the gauges are this function's alone.
"""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.experiments.recovery import ExperimentRecovery
from shared.experiments.traffic_alerts import TrafficAlerts, TrafficLimits
from shared.observability.datadog_metrics import DatadogMetrics
from shared.services.production_accuracy import ProductionAccuracyService
from shared.services.production_accuracy_gauges import ProductionAccuracyGauges
from shared.storage.clients import firestore_client
from shared.storage.experiments import FirestoreExperimentRepository
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.feedback import FirestoreFeedbackRepository
from shared.storage.review import FirestoreReviewRepository
from shared.storage.shards import FirestoreShardRepository
from shared.wiring.experiments import alert_service, experiment_completion, schedule_service, shard_publisher

__all__ = [
    "alert_service",
    "experiment_recovery",
    "production_accuracy_gauges",
    "schedule_service",
    "traffic_alerts",
]


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


@lru_cache(maxsize=1)
def production_accuracy_gauges() -> ProductionAccuracyGauges:
    settings = get_settings()
    accuracy = ProductionAccuracyService(
        review=FirestoreReviewRepository(firestore_client()),
        extractions=FirestoreExtractionRepository(firestore_client()),
    )
    return ProductionAccuracyGauges(accuracy=accuracy, metrics=DatadogMetrics(settings), ml_app=settings.ml_app)
