"""The `experiments-worker` function's composition root: the shard worker, its runner and what
they read and write.

Completion, alerts and the image store are wired as for `experiments` (the same factories).
"""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.experiments.runner import ExperimentRunner
from shared.experiments.worker import ShardWorker
from shared.observability import llmobs
from shared.storage.clients import firestore_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.experiments import FirestoreExperimentRepository
from shared.storage.quota_shares import FirestoreQuotaShares
from shared.storage.shards import FirestoreShardRepository
from shared.wiring.evaluations import evaluation_sink
from shared.wiring.experiments import alert_service, experiment_completion, image_store
from shared.wiring.form_types import form_type_registry
from shared.wiring.prompts import prompt_registry


@lru_cache(maxsize=1)
def shard_worker() -> ShardWorker:
    settings = get_settings()
    llmobs.enable_llmobs(settings)
    experiments = FirestoreExperimentRepository(firestore_client())
    runner = ExperimentRunner(
        settings=settings,
        experiments=experiments,
        datasets=FirestoreDatasetRepository(firestore_client()),
        images=image_store(),
        evaluations=evaluation_sink(),
        prompts=prompt_registry(),
        form_types=form_type_registry(),
        quota_shares=FirestoreQuotaShares(firestore_client()),
    )
    return ShardWorker(
        settings=settings,
        shards=FirestoreShardRepository(firestore_client()),
        experiments=experiments,
        runner=runner,
        completion=experiment_completion(),
        alerts=alert_service(),
    )
