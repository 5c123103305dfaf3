"""Read back what the product stored, straight from the emulators (for assertions)."""

from __future__ import annotations

import json

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.config import get_settings
from shared.storage.clients import firestore_client, storage_client


def extraction_count() -> int:
    return firestore_client().collection("extractions").count().get()[0][0].value


def outbox_documents(source_id: str) -> list[dict]:
    """The evaluations of one record (extraction, feedback, ...) in the outbox, each with its
    delivery `status` and the `entry_id` of the outbox entry that holds it."""
    return [evaluation for evaluation in all_outbox_documents() if evaluation["source_id"] == source_id]


def all_outbox_documents() -> list[dict]:
    """Every evaluation in the outbox, read straight from its entries' documents."""
    evaluations = []
    for snapshot in firestore_client().collection("llmobs_outbox").stream():
        entry = snapshot.to_dict()
        delivered = set(entry.get("delivered_ids") or [])
        for submission in json.loads(entry["submissions_json"]):
            done = entry["status"] == "delivered" or submission["evaluation_id"] in delivered
            evaluations.append(submission | {"status": "delivered" if done else "pending", "entry_id": snapshot.id})
    return evaluations


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
