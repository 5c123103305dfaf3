"""The `experiments` function's composition root: which adapter serves each port of the experiment
commands and queries, the schedules and the alerts.

`experiments-scheduled` and `experiments-worker` take the factories they share from here
(`shared/wiring/experiments_scheduled.py`, `shared/wiring/experiments_worker.py`).
"""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.experiments.alerts import AlertService
from shared.experiments.commands import ExperimentCommands
from shared.experiments.completion import ExperimentCompletion
from shared.experiments.queries import ExperimentQueries
from shared.experiments.schedules import ScheduleService
from shared.experiments.side_by_side import SideBySide
from shared.experiments.trends import TrendQueries
from shared.observability import llmobs
from shared.observability.datadog_events import DatadogEvents
from shared.pubsub import PubSubPublisher
from shared.storage.alerts import FirestoreAlertRepository
from shared.storage.clients import firestore_client, storage_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.experiments import FirestoreExperimentRepository
from shared.storage.feedback import FirestoreFeedbackRepository
from shared.storage.images import GcsImageStore
from shared.storage.schedules import FirestoreScheduleRepository
from shared.storage.shards import FirestoreShardRepository
from shared.wiring.form_types import form_type_registry
from shared.wiring.judges import judge_registry
from shared.wiring.prompts import prompt_registry


@lru_cache(maxsize=1)
def image_store() -> GcsImageStore:
    return GcsImageStore(storage_client(), get_settings().images_bucket)


class _ImagesOnFirstRead:
    """The image store, made on the first image read: only a report reads images, and a status or
    list request (an instance's usual first) need not wait for the storage client (about 50 ms)."""

    def get(self, uri: str) -> bytes:
        return image_store().get(uri)


@lru_cache(maxsize=1)
def shard_publisher() -> PubSubPublisher:
    """The instance's publisher of shard messages (its Pub/Sub client is made on first publish)."""
    settings = get_settings()
    return PubSubPublisher(project=settings.gcp_project, topic=settings.shards_topic)


@lru_cache(maxsize=1)
def experiment_completion() -> ExperimentCompletion:
    return ExperimentCompletion(experiments=FirestoreExperimentRepository(firestore_client()))


@lru_cache(maxsize=1)
def experiment_commands() -> ExperimentCommands:
    settings = get_settings()
    llmobs.enable_llmobs(settings)
    return ExperimentCommands(
        settings=settings,
        experiments=FirestoreExperimentRepository(firestore_client()),
        datasets=FirestoreDatasetRepository(firestore_client()),
        shards=FirestoreShardRepository(firestore_client()),
        publisher=shard_publisher(),
        completion=experiment_completion(),
        prompts=prompt_registry(),
        form_types=form_type_registry(),
        stored_judges=judge_registry().expand,
    )


@lru_cache(maxsize=1)
def experiment_queries() -> ExperimentQueries:
    settings = get_settings()
    llmobs.enable_llmobs(settings)
    return ExperimentQueries(
        experiments=FirestoreExperimentRepository(firestore_client()),
        shards=FirestoreShardRepository(firestore_client()),
        images=_ImagesOnFirstRead(),
    )


@lru_cache(maxsize=1)
def schedule_service() -> ScheduleService:
    return ScheduleService(
        schedules=FirestoreScheduleRepository(firestore_client()),
        datasets=FirestoreDatasetRepository(firestore_client()),
        experiments=experiment_commands(),
        form_types=form_type_registry(),
    )


@lru_cache(maxsize=1)
def alert_service() -> AlertService:
    client = firestore_client()
    return AlertService(
        events=DatadogEvents(get_settings()),
        alerts=FirestoreAlertRepository(client),
        experiments=FirestoreExperimentRepository(client),
        schedules=FirestoreScheduleRepository(client),
        feedback=FirestoreFeedbackRepository(client),
    )


@lru_cache(maxsize=1)
def trend_queries() -> TrendQueries:
    client = firestore_client()
    return TrendQueries(
        experiments=FirestoreExperimentRepository(client),
        schedules=FirestoreScheduleRepository(client),
        alerts=FirestoreAlertRepository(client),
    )


@lru_cache(maxsize=1)
def side_by_side() -> SideBySide:
    return SideBySide(experiments=FirestoreExperimentRepository(firestore_client()))
