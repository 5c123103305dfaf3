"""The `feedback` function's composition root: which adapter serves each port of the feedback use case."""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.observability import llmobs
from shared.services.feedback import FeedbackService
from shared.storage.clients import firestore_client
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.feedback import FirestoreFeedbackRepository
from shared.storage.review import FirestoreReviewRepository
from shared.wiring.evaluations import evaluation_sink
from shared.wiring.form_types import form_type_registry


@lru_cache(maxsize=1)
def feedback_service() -> FeedbackService:
    """The instance's service, built once at cold start with shared clients."""
    settings = get_settings()
    llmobs.enable_llmobs(settings)
    return FeedbackService(
        settings=settings,
        extractions=FirestoreExtractionRepository(firestore_client()),
        feedback=FirestoreFeedbackRepository(firestore_client()),
        evaluations=evaluation_sink(),
        review=FirestoreReviewRepository(firestore_client()),
        form_types=form_type_registry(),
    )
