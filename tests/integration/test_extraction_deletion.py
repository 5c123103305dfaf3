"""DELETE /extract/{extraction_id} over the real emulators: what goes, what stays, and retries."""

from __future__ import annotations

import base64
import hashlib
import io
from urllib.parse import quote

import pytest
from google.api_core import exceptions
from google.cloud.firestore_v1.document import DocumentReference

from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.integration import stored
from tests.integration.builders import HEADERS, new_draft
from tests.openapi_contract import assert_matches_contract

pytestmark = pytest.mark.integration

PATH = "/extract/{extraction_id}"


def extract(extract_client, seed: int) -> dict:
    form = generate_form(seed)
    response = extract_client.post(
        "/", data={"image": (io.BytesIO(form.image), "form.png")}, headers=HEADERS, content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.json
    return response.json


def thumbs_down(feedback_client, extraction: dict) -> None:
    body = {"span_id": extraction["span_id"], "trace_id": extraction["trace_id"], "feedback_type": "thumbs_down"}
    response = feedback_client.post("/", json=body, headers=HEADERS)
    assert response.status_code == 201, response.json


def image_object(extraction: dict) -> str:
    return extraction["image_uri"].split("/", 3)[3]


def record_exists(extraction_id: str) -> bool:
    return firestore_client().collection("extractions").document(extraction_id).get().exists


def review_item_exists(extraction_id: str) -> bool:
    return firestore_client().collection("review_items").document(extraction_id).get().exists


def test_delete_removes_the_record_its_feedback_review_item_and_unshared_image(extract_client, feedback_client):
    extraction = extract(extract_client, 9101)
    extraction_id = extraction["extraction_id"]
    thumbs_down(feedback_client, extraction)
    assert stored.feedback_documents(extraction_id) and review_item_exists(extraction_id)

    deleted = extract_client.delete(f"/{extraction_id}", headers=HEADERS)

    assert deleted.status_code == 204
    assert not record_exists(extraction_id)
    assert stored.feedback_documents(extraction_id) == []
    assert not review_item_exists(extraction_id)
    assert image_object(extraction) not in stored.image_names()
    assert extract_client.get(f"/{extraction_id}", headers=HEADERS).status_code == 404
    # Evaluations already staged for Datadog refer to the span, not the record: they stay.
    assert firestore_client().collection("llmobs_outbox").document(f"extraction~{extraction_id}").get().exists


def test_a_repeated_delete_is_404(extract_client):
    extraction_id = extract(extract_client, 9102)["extraction_id"]
    assert extract_client.delete(f"/{extraction_id}", headers=HEADERS).status_code == 204

    again = extract_client.delete(f"/{extraction_id}", headers=HEADERS)

    assert again.status_code == 404
    assert_matches_contract(PATH, "DELETE", 404, again.json)


def test_an_image_another_extraction_shares_stays_until_the_last_one_goes(extract_client):
    first, second = extract(extract_client, 9103), extract(extract_client, 9103)
    assert first["image_uri"] == second["image_uri"]

    assert extract_client.delete(f"/{first['extraction_id']}", headers=HEADERS).status_code == 204

    assert image_object(first) in stored.image_names()
    assert extract_client.get(f"/{second['extraction_id']}/image", headers=HEADERS).status_code == 200
    assert extract_client.delete(f"/{second['extraction_id']}", headers=HEADERS).status_code == 204
    assert image_object(first) not in stored.image_names()


def test_an_image_a_dataset_entry_uses_stays(extract_client, datasets_client):
    form = generate_form(9104)
    extraction = extract(extract_client, 9104)
    name = new_draft(datasets_client, "delx")
    entry = {
        "id": "same-image",
        "input": {"image_base64": base64.b64encode(form.image).decode()},
        "expected_output": form.truth.model_dump(),
    }
    assert datasets_client.post(f"/{name}/v1/entries", json=entry, headers=HEADERS).status_code == 201
    assert image_object(extraction).endswith(hashlib.sha256(form.image).hexdigest())

    assert extract_client.delete(f"/{extraction['extraction_id']}", headers=HEADERS).status_code == 204

    assert not record_exists(extraction["extraction_id"])
    assert image_object(extraction) in stored.image_names()
    assert datasets_client.get(f"/{name}/v1/entries/same-image/image", headers=HEADERS).status_code == 200


def test_an_extraction_in_a_dataset_is_409_naming_the_entries_and_nothing_is_deleted(
    extract_client, feedback_client, datasets_client
):
    extraction = extract(extract_client, 9105)
    extraction_id = extraction["extraction_id"]
    thumbs_down(feedback_client, extraction)
    name = new_draft(datasets_client, "delx")
    trace = {"span_id": extraction["span_id"], "trace_id": extraction["trace_id"]}
    assert datasets_client.post(f"/{name}/v1/from-trace", json=trace, headers=HEADERS).status_code == 201

    refused = extract_client.delete(f"/{extraction_id}", headers=HEADERS)

    assert refused.status_code == 409
    assert_matches_contract(PATH, "DELETE", 409, refused.json)
    assert refused.json["error"]["details"] == {
        "extraction_id": extraction_id,
        "dataset_entries": [f"{name}@v1/{extraction_id}"],
    }
    assert record_exists(extraction_id) and review_item_exists(extraction_id)
    assert stored.feedback_documents(extraction_id)
    assert image_object(extraction) in stored.image_names()

    # Once no entry refers to it (the draft deleted, which released it), it may go.
    assert datasets_client.delete(f"/{name}/versions/v1", headers=HEADERS).status_code == 204
    released = stored.extraction_document(extraction_id)
    assert released["in_dataset"] is False and released["datasets"] == []
    assert extract_client.delete(f"/{extraction_id}", headers=HEADERS).status_code == 204
    assert not record_exists(extraction_id)


def test_a_delete_cut_short_before_the_record_is_finished_by_the_repeat(extract_client, feedback_client, monkeypatch):
    extraction = extract(extract_client, 9106)
    extraction_id = extraction["extraction_id"]
    thumbs_down(feedback_client, extraction)
    original = DocumentReference.delete

    def records_cannot_be_deleted(self, *args, **kwargs):
        if self.parent.id == "extractions":
            raise exceptions.ServiceUnavailable("injected: Firestore went away")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DocumentReference, "delete", records_cannot_be_deleted)

    crashed = extract_client.delete(f"/{extraction_id}", headers=HEADERS)

    assert crashed.status_code == 503
    assert record_exists(extraction_id)  # the record drives the retry
    assert stored.feedback_documents(extraction_id) == [] and not review_item_exists(extraction_id)
    assert image_object(extraction) not in stored.image_names()
    assert extract_client.get(f"/{extraction_id}/image", headers=HEADERS).status_code == 404
    monkeypatch.setattr(DocumentReference, "delete", original)

    assert extract_client.delete(f"/{extraction_id}", headers=HEADERS).status_code == 204
    assert not record_exists(extraction_id)


def test_feedback_arriving_midway_is_deleted_too(extract_client, feedback_client, monkeypatch):
    extraction = extract(extract_client, 9107)
    extraction_id = extraction["extraction_id"]
    original = DocumentReference.delete
    sent = []

    def feedback_arrives_first(self, *args, **kwargs):
        if self.parent.id == "review_items" and not sent:
            sent.append(True)
            thumbs_down(feedback_client, extraction)  # after the feedback was deleted, before the record
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DocumentReference, "delete", feedback_arrives_first)

    deleted = extract_client.delete(f"/{extraction_id}", headers=HEADERS)

    assert deleted.status_code == 204
    assert sent
    assert not record_exists(extraction_id)
    assert stored.feedback_documents(extraction_id) == []
    assert not review_item_exists(extraction_id)


@pytest.mark.parametrize(
    "extraction_id",
    ["..", "../extractions", "a/../b", "nul\x00", "ctl\x01", "tab\tx", "__id__", "x" * 65, "é", "-leading"],
)
def test_hostile_ids_are_404_and_touch_nothing(extract_client, extraction_id):
    before = stored.extraction_count()

    response = extract_client.delete(f"/{quote(extraction_id, safe='')}", headers=HEADERS)

    assert response.status_code == 404, response.json
    assert_matches_contract(PATH, "DELETE", 404, response.json)
    assert stored.extraction_count() == before


def test_an_unknown_id_is_404(extract_client):
    response = extract_client.delete("/0123456789abcdef0123456789abcdef", headers=HEADERS)

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
