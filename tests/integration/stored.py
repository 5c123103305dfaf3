"""Read back what the product stored, straight from the emulators (for assertions)."""

from __future__ import annotations

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.config import get_settings
from shared.storage.clients import firestore_client, storage_client


def extraction_count() -> int:
    return firestore_client().collection("extractions").count().get()[0][0].value


def outbox_documents(source_id: str) -> list[dict]:
    query = firestore_client().collection("llmobs_evaluations").where(filter=FieldFilter("source_id", "==", source_id))
    return [snapshot.to_dict() for snapshot in query.stream()]


def all_outbox_documents() -> list[dict]:
    return [snapshot.to_dict() for snapshot in firestore_client().collection("llmobs_evaluations").stream()]


def image_names() -> set[str]:
    return {blob.name for blob in storage_client().list_blobs(get_settings().images_bucket)}


def image_bytes(uri: str) -> bytes:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return storage_client().bucket(bucket).blob(name).download_as_bytes()


def feedback_documents(extraction_id: str) -> list[dict]:
    query = firestore_client().collection("feedback").where(filter=FieldFilter("extraction_id", "==", extraction_id))
    return [snapshot.to_dict() for snapshot in query.stream()]


def extraction_document(extraction_id: str) -> dict:
    return firestore_client().collection("extractions").document(extraction_id).get().to_dict()
