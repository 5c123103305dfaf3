"""The `datasets` function's composition root: the adapters of the dataset use case and of the
review queue (both served by this function)."""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.evaluation.online_judges import parse_online_judges
from shared.observability import llmobs
from shared.observability.datadog_datasets import push_dataset
from shared.services.datasets import DatasetService
from shared.services.production_accuracy import ProductionAccuracyService
from shared.services.review import ReviewService
from shared.storage.clients import firestore_client, storage_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.images import GcsImageStore
from shared.storage.review import FirestoreReviewRepository
from shared.wiring.evaluations import evaluation_sink
from shared.wiring.form_types import form_type_registry


@lru_cache(maxsize=1)
def dataset_service() -> DatasetService:
    """The instance's dataset service, built once at cold start with shared clients."""
    settings = get_settings()
    return DatasetService(
        settings=settings,
        datasets=FirestoreDatasetRepository(firestore_client()),
        extractions=FirestoreExtractionRepository(firestore_client()),
        images=GcsImageStore(storage_client(), settings.images_bucket),
        push_dataset=push_dataset,
        form_types=form_type_registry(),
    )


@lru_cache(maxsize=1)
def review_service() -> ReviewService:
    """The instance's review queue service, built once at cold start with shared clients."""
    settings = get_settings()
    llmobs.enable_llmobs(settings)
    return ReviewService(
        settings=settings,
        review=FirestoreReviewRepository(firestore_client()),
        extractions=FirestoreExtractionRepository(firestore_client()),
        datasets=FirestoreDatasetRepository(firestore_client()),
        evaluations=evaluation_sink(),
        # Only named here (labels), never run: a bad ONLINE_JUDGES stops the instance, saying why.
        online_judges=[judge.evaluation_label for judge in parse_online_judges(settings.online_judges)],
        form_types=form_type_registry(),
    )


@lru_cache(maxsize=1)
def production_accuracy_service() -> ProductionAccuracyService:
    """Production accuracy (GET /datasets/review/accuracy), read from the extractions and the queue."""
    return ProductionAccuracyService(
        review=FirestoreReviewRepository(firestore_client()),
        extractions=FirestoreExtractionRepository(firestore_client()),
    )
