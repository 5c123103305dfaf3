"""The `extract` function's composition root: which adapter serves each port of the extract use case."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from shared.config import get_settings
from shared.evaluation.judges.versions import StoredExample
from shared.evaluation.online_judges import online_evaluators
from shared.observability import llmobs
from shared.services.extraction import ExtractionService
from shared.storage.clients import firestore_client, storage_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.feedback import FirestoreFeedbackRepository
from shared.storage.images import GcsImageStore
from shared.storage.review import FirestoreReviewRepository
from shared.wiring.evaluations import evaluation_sink
from shared.wiring.form_types import form_type_registry
from shared.wiring.judges import judge_registry
from shared.wiring.prompts import prompt_registry


@lru_cache(maxsize=1)
def extraction_service() -> ExtractionService:
    """The instance's service, built once at cold start with shared clients."""
    settings = get_settings()
    llmobs.enable_llmobs(settings)
    images = GcsImageStore(storage_client(), settings.images_bucket)
    return ExtractionService(
        settings=settings,
        extractions=FirestoreExtractionRepository(firestore_client()),
        images=images,
        evaluations=evaluation_sink(),
        prompts=prompt_registry(),
        form_types=form_type_registry(),
        evaluators=online_evaluators(settings, stored_judges=_stored_judges(images)),
        review=FirestoreReviewRepository(firestore_client()),
        feedback=FirestoreFeedbackRepository(firestore_client()),
        datasets=FirestoreDatasetRepository(firestore_client()),
    )


def _stored_judges(images: GcsImageStore) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An online judge naming a stored judge: its version's params, read once at cold start, with
    its examples' images when it sees images."""

    def image_of(example: StoredExample) -> bytes | None:
        return images.get(example.image_uri) if example.image_uri else None

    return lambda params: judge_registry().expand(params, image_of=image_of)
