"""Bad feedback gets the right status and the JSON error body, and nothing is stored."""

from __future__ import annotations

import io

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration import stored
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


@pytest.fixture(scope="module")
def extraction(extract_client) -> dict:
    form = generate_form(61)
    response = extract_client.post(
        "/", data={"image": (io.BytesIO(form.image), "f.png")}, headers=HEADERS, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    return response.json


def valid(extraction: dict, **changes) -> dict:
    return {
        "span_id": extraction["span_id"],
        "trace_id": extraction["trace_id"],
        "feedback_type": "thumbs_up",
    } | changes


BAD = {
    "unknown-span": (lambda e: {"json": valid(e, span_id="123456789")}, 404, "not_found"),
    "mismatched-trace": (lambda e: {"json": valid(e, trace_id="0" * 32)}, 404, "not_found"),
    "quality-0": (lambda e: {"json": valid(e, quality_score=0)}, 422, "invalid_field"),
    "quality-6": (lambda e: {"json": valid(e, quality_score=6)}, 422, "invalid_field"),
    "quality-five": (lambda e: {"json": valid(e, quality_score="five")}, 422, "invalid_field"),
    "quality-float": (lambda e: {"json": valid(e, quality_score=4.5)}, 422, "invalid_field"),
    "thumbs-sideways": (lambda e: {"json": valid(e, feedback_type="thumbs_sideways")}, 422, "invalid_field"),
    "long-comment": (lambda e: {"json": valid(e, comment="x" * 10_000)}, 422, "invalid_field"),
    "100-tags": (lambda e: {"json": valid(e, tags={f"k{i}": "v" for i in range(100)})}, 422, "invalid_field"),
    "nested-tag": (lambda e: {"json": valid(e, tags={"a": {"b": "c"}})}, 422, "invalid_field"),
    "long-tag-value": (lambda e: {"json": valid(e, tags={"a": "v" * 500})}, 422, "invalid_field"),
    # Firestore reserves __name__-shaped field names: the write failed with a 500.
    "reserved-tag-key": (lambda e: {"json": valid(e, tags={"__a__": "v"})}, 422, "invalid_field"),
    "unknown-field": (lambda e: {"json": valid(e, stars=5)}, 422, "invalid_field"),
    "hostile-feedback-id": (lambda e: {"json": valid(e, feedback_id="../../etc/passwd")}, 422, "invalid_field"),
    "control-chars-id": (lambda e: {"json": valid(e, feedback_id="abc\x00\x07")}, 422, "invalid_field"),
    "empty-correction": (lambda e: {"json": valid(e, corrections={})}, 422, "invalid_field"),
    "negative-correction": (
        lambda e: {"json": valid(e, corrections={"ballot_stats": {"valid_votes": -5}})},
        422,
        "invalid_field",
    ),
    # Found by the deep contract fuzz: Firestore stores 64-bit integers only (was a 500).
    "count-past-64-bits": (
        lambda e: {"json": valid(e, corrections={"ballot_stats": {"rejected_ballots": 2**72}})},
        422,
        "invalid_field",
    ),
    "no-api-key": (lambda e: {"json": valid(e), "headers": {}}, 401, "unauthenticated"),
    "not-json": (lambda e: {"data": b"thumbs up!", "content_type": "application/json"}, 400, "malformed_request"),
    "text-plain": (lambda e: {"data": b"thumbs up!", "content_type": "text/plain"}, 400, "malformed_request"),
    "json-list": (lambda e: {"json": [valid(e)]}, 400, "malformed_request"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_feedback_is_refused_and_nothing_is_stored(feedback_client, extraction, case):
    build, status, code = BAD[case]
    request = {"headers": HEADERS, **build(extraction)}
    before = stored.extraction_document(extraction["extraction_id"])["feedback_summary"]

    response = feedback_client.post("/", **request)

    assert response.status_code == status, response.json
    assert_matches_contract("/feedback", "POST", status, response.json)
    assert response.json["error"]["code"] == code
    assert stored.feedback_documents(extraction["extraction_id"]) == []
    assert stored.extraction_document(extraction["extraction_id"])["feedback_summary"] == before


def test_listing_needs_an_extraction_id(feedback_client):
    assert feedback_client.get("/", headers=HEADERS).status_code == 422
    assert feedback_client.get("/?extraction_id=../x", headers=HEADERS).status_code == 404
    # re.match's $ took a trailing newline: the listing answered 200 for no possible extraction (fuzzer).
    assert feedback_client.get("/?extraction_id=abc%0A", headers=HEADERS).status_code == 404
    assert feedback_client.get("/?extraction_id=unknown", headers=HEADERS).json == {"items": []}
