"""The `extract` function's composition root: which adapter serves each port of the extract use case."""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.observability import llmobs
from shared.services.extraction import ExtractionService
from shared.storage.clients import firestore_client, storage_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.evaluation_outbox import FirestoreEvaluationOutbox
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.feedback import FirestoreFeedbackRepository
from shared.storage.images import GcsImageStore
from shared.storage.review import FirestoreReviewRepository


@lru_cache(maxsize=1)
def extraction_service() -> ExtractionService:
    """The instance's service, built once at cold start with shared clients."""
    settings = get_settings()
    llmobs.enable_llmobs(settings)
    outbox = FirestoreEvaluationOutbox(firestore_client())
    return ExtractionService(
        settings=settings,
        extractions=FirestoreExtractionRepository(firestore_client()),
        images=GcsImageStore(storage_client(), settings.images_bucket),
        outbox=outbox,
        review=FirestoreReviewRepository(firestore_client()),
        feedback=FirestoreFeedbackRepository(firestore_client(), outbox),
        datasets=FirestoreDatasetRepository(firestore_client()),
    )
