"""The judge registry and its alignment, for the `experiments` function: built once per instance
on the shared Firestore and Cloud Storage clients."""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.evaluation.judges.alignment import JudgeAlignment
from shared.evaluation.judges.registry import JudgeRegistry
from shared.evaluation.judges.storage import FirestoreJudgeRepository
from shared.storage.clients import firestore_client, storage_client
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.images import GcsImageStore
from shared.storage.review import FirestoreReviewRepository


@lru_cache(maxsize=1)
def judge_registry() -> JudgeRegistry:
    return JudgeRegistry(
        FirestoreJudgeRepository(firestore_client()), FirestoreExtractionRepository(firestore_client())
    )


@lru_cache(maxsize=1)
def judge_alignment() -> JudgeAlignment:
    settings = get_settings()
    return JudgeAlignment(
        settings=settings,
        registry=judge_registry(),
        decisions=FirestoreReviewRepository(firestore_client()),
        extractions=FirestoreExtractionRepository(firestore_client()),
        images=GcsImageStore(storage_client(), settings.images_bucket),
    )
