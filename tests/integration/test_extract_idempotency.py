"""POST /extract with an Idempotency-Key: a client's retry makes one record, against the real
emulators. The model is the Gemini stand-in (tests/fakes/gemini_server.py, a local HTTP server
speaking Gemini's REST API: no Gemini can be reached here), so each test counts the readings.
"""

from __future__ import annotations

import base64
import io
import threading
import uuid

import pytest

from shared.services.extraction import keyed_extraction_id
from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.fakes.gemini_server import candidate_blocked_reply, delayed, extraction_reply
from tests.integration.builders import HEADERS
from tests.integration.test_api_keys import as_key, named_keys  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration


def json_body(seed: int, gemini, **fields) -> dict:
    form = generate_form(seed)
    gemini.set_responder(lambda request: extraction_reply(form.truth.model_dump()))
    return {"image_base64": base64.b64encode(form.image).decode(), "model": "gemini-2.5-flash", **fields}


def keyed(key: str, headers: dict | None = None) -> dict:
    return {**(headers or HEADERS), "Idempotency-Key": key}


def stored(extraction_id: str) -> bool:
    return firestore_client().collection("extractions").document(extraction_id).get().exists


def test_a_repeat_of_a_key_answers_the_record_made_without_reading_again(extract_client, gemini):
    body, key = json_body(1501, gemini, tags={"batch": "b1"}), uuid.uuid4().hex

    first = extract_client.post("/", json=body, headers=keyed(key))
    readings = len(gemini.generate_requests)
    again = extract_client.post("/", json=body, headers=keyed(key))

    assert first.status_code == again.status_code == 200, (first.json, again.json)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["extraction_id"] == first.json["extraction_id"]
    assert again.json["span_id"] == first.json["span_id"]
    assert again.json["result"] == first.json["result"]
    assert first.json["idempotency_key"] == key
    assert len(gemini.generate_requests) == readings  # the form was not read again
    assert readings >= 1
    # Keys are the caller's: the record's id is derived from the key and the API key's name.
    assert first.json["extraction_id"] == keyed_extraction_id(first.json["created_by"], key)
    assert stored(first.json["extraction_id"])


def test_the_same_key_with_another_request_is_a_conflict_and_stores_nothing(extract_client, gemini):
    key = uuid.uuid4().hex
    first = extract_client.post("/", json=json_body(1502, gemini), headers=keyed(key))
    assert first.status_code == 200, first.json
    readings = len(gemini.generate_requests)

    other_image = extract_client.post("/", json=json_body(1503, gemini), headers=keyed(key))
    other_options = extract_client.post("/", json=json_body(1502, gemini, tags={"x": "y"}), headers=keyed(key))

    for refused in (other_image, other_options):
        assert refused.status_code == 409, refused.json
        assert refused.json["error"]["code"] == "conflict"
        assert "different request" in refused.json["error"]["message"]
    assert len(gemini.generate_requests) == readings
    record = extract_client.get(f"/{first.json['extraction_id']}", headers=HEADERS).json
    assert record["tags"] == {} and record["image_sha256"] == first.json["image_sha256"]  # untouched


def test_a_multipart_upload_repeats_by_its_key_too(extract_client, gemini):
    form = generate_form(1504)
    gemini.set_responder(lambda request: extraction_reply(form.truth.model_dump()))
    key = uuid.uuid4().hex

    def post():
        data = {"image": (io.BytesIO(form.image), "form.png"), "model": "gemini-2.5-flash"}
        return extract_client.post("/", data=data, headers=keyed(key), content_type="multipart/form-data")

    first, again = post(), post()
    assert first.status_code == again.status_code == 200, (first.json, again.json)
    assert again.json["extraction_id"] == first.json["extraction_id"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_two_api_keys_using_one_key_value_make_two_records(extract_client, gemini, named_keys):  # noqa: F811
    body, key = json_body(1505, gemini), uuid.uuid4().hex

    mine = extract_client.post("/", json=body, headers=keyed(key, as_key("k-write")))
    theirs = extract_client.post("/", json=body, headers=keyed(key, as_key("k-admin")))

    assert mine.status_code == theirs.status_code == 200, (mine.json, theirs.json)
    assert mine.json["extraction_id"] != theirs.json["extraction_id"]
    assert "Idempotent-Replayed" not in theirs.headers
    assert stored(mine.json["extraction_id"]) and stored(theirs.json["extraction_id"])


@pytest.mark.parametrize(
    "key",
    ["", "../../extractions/x", "a\tb", "k" * 65, "-starts-with-dash", "spaces are not allowed", "é"],
    ids=["empty", "traversal", "control", "too-long", "dash", "spaces", "non-ascii"],
)
def test_a_malformed_key_is_refused_before_anything_is_read_or_stored(extract_client, gemini, key):
    body = json_body(1506, gemini)
    readings = len(gemini.generate_requests)
    extractions = firestore_client().collection("extractions").count().get()[0][0].value

    try:
        response = extract_client.post("/", json=body, headers=keyed(key))
    except ValueError:  # werkzeug's test client itself refuses a header it cannot send
        pytest.skip("the HTTP client cannot send this header")

    assert response.status_code == 422, response.json
    assert response.json["error"]["details"] == {"header": "Idempotency-Key"}
    assert "Idempotency-Key" in response.json["error"]["message"]
    assert len(gemini.generate_requests) == readings
    assert firestore_client().collection("extractions").count().get()[0][0].value == extractions


def test_two_concurrent_requests_with_one_key_make_one_record(gemini, extract_client):
    """Both miss the record, both read the form (slowly: 1 s each); the second write finds the
    first's record and answers it."""
    form = generate_form(1507)
    gemini.set_responder(lambda request: delayed(extraction_reply(form.truth.model_dump()), 1))
    body = {"image_base64": base64.b64encode(form.image).decode(), "model": "gemini-2.5-flash"}
    key = uuid.uuid4().hex
    answers: list = [None, None]

    def post(slot: int) -> None:
        answers[slot] = extract_client.application.test_client().post("/", json=body, headers=keyed(key))

    threads = [threading.Thread(target=post, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(gemini.generate_requests) == 2  # both read: the race was run
    assert all(answer is not None and answer.status_code == 200 for answer in answers), answers
    assert answers[0].json["extraction_id"] == answers[1].json["extraction_id"]
    assert sorted(answer.headers.get("Idempotent-Replayed", "") for answer in answers) == ["", "true"]
    winner = next(answer for answer in answers if "Idempotent-Replayed" not in answer.headers)
    stored_record = extract_client.get(f"/{winner.json['extraction_id']}", headers=HEADERS).json
    assert stored_record["span_id"] == winner.json["span_id"]  # the loser's reading was not written


def test_a_failed_reading_is_answered_again_as_it_was(extract_client, gemini):
    form = generate_form(1508)
    gemini.set_responder(lambda request: candidate_blocked_reply())
    body = {"image_base64": base64.b64encode(form.image).decode(), "model": "gemini-2.5-flash"}
    key = uuid.uuid4().hex

    first = extract_client.post("/", json=body, headers=keyed(key))
    readings = len(gemini.generate_requests)
    gemini.set_responder(lambda request: extraction_reply(form.truth.model_dump()))
    again = extract_client.post("/", json=body, headers=keyed(key))

    assert first.status_code == 502, first.json
    assert first.json["status"] == "failed" and first.json["error_code"] == "model_blocked"
    assert again.status_code == 502 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["extraction_id"] == first.json["extraction_id"]
    assert len(gemini.generate_requests) == readings  # a new attempt takes a new key
