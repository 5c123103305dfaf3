"""POST /extract and GET /extract/{id} end to end, over the real emulators and test agent.

The OCR model runs real Tesseract; Gemini is the local generateContent stand-in (no Gemini is
reachable from here; in production the same adapter talks to Gemini).
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from shared.form_types.checks import shaped
from shared.form_types.resolve import GENERIC_FORM_TYPE
from shared.storage.clients import firestore_client
from shared.storage.prompts import FirestorePromptRepository
from shared.synthetic.forms import Degradation, generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import (
    candidate_blocked_reply,
    delayed,
    error_reply,
    extraction_reply,
    text_reply,
)
from tests.integration import stored
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
ONLINE_LABELS = {"extraction_quality", "output_classification", "consistency", "schema_valid"}
API_FIELDS = {
    "extraction_id",
    "trace_id",
    "span_id",
    "model",
    "prompt_version",
    "status",
    "result",
    "error",
    "evaluations",
    "image_uri",
    "image_sha256",
    "latency_ms",
    "usage",
}


def post_form(client, form, **fields):
    data = {"image": (_file(form), f"form.{'jpg' if form.content_type == 'image/jpeg' else 'png'}", form.content_type)}
    data.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})
    return client.post("/", data=data, headers=HEADERS, content_type="multipart/form-data")


def _file(form):
    import io

    return io.BytesIO(form.image)


@pytest.mark.integration
def test_extract_stores_traces_and_evaluates_a_form(extract_client, clean_test_agent):
    form = generate_form(7, degradation=Degradation(rotation_deg=1.0))

    response = post_form(extract_client, form, expected=form.truth.model_dump(), tags={"batch": "t1"})

    assert response.status_code == 200, response.json
    body = response.json
    assert_matches_contract("/extract", "POST", 200, body)
    assert API_FIELDS <= set(body)
    assert body["status"] == "succeeded" and body["model"] == "tesseract" and body["prompt_version"] == "prompt_a@1"
    assert body["image_sha256"] == hashlib.sha256(form.image).hexdigest()
    assert stored.image_bytes(body["image_uri"]) == form.image
    labels = {e["label"] for e in body["evaluations"]}
    quality = next(e for e in body["evaluations"] if e["label"] == "extraction_quality")
    assert quality["value"] >= 9.0, quality
    golden = float(quality["tags"]["accuracy"]) > 0.95
    assert labels == ONLINE_LABELS | ({"golden_dataset_candidate"} if golden else set())
    assert body["golden_candidate"] is golden

    fetched = extract_client.get(f"/{body['extraction_id']}", headers=HEADERS)
    assert fetched.status_code == 200
    assert_matches_contract("/extract/{extraction_id}", "GET", 200, fetched.json)
    assert fetched.json["result"] == body["result"] and fetched.json["span_id"] == body["span_id"]
    assert "feedback_summary" in fetched.json

    agent = clean_test_agent
    [llm_span] = agent.wait_for(lambda: agent.llmobs_spans(span_id=body["span_id"]))
    assert llm_span["meta"]["span"]["kind"] == "llm"
    assert llm_span["ml_app"] == "vote-extractor"
    assert llm_span["meta"]["model_name"] == "tesseract"
    assert str(llm_span["trace_id"]) == body["trace_id"]
    joined = agent.wait_for(
        lambda: (lambda found: found if {m["label"] for m in found} >= labels else None)(
            agent.evaluations_for(body["span_id"])
        )
    )
    assert sorted(m["label"] for m in joined) == sorted(labels)
    # Marked by the delivery thread once the intake accepted them (EVALUATION_DELIVERY=background).
    outbox = agent.wait_for(
        lambda: (lambda docs: docs if {d["status"] for d in docs} == {"delivered"} else None)(
            stored.outbox_documents(body["extraction_id"])
        )
    )
    assert {d["label"] for d in outbox} == labels


@pytest.mark.integration
def test_the_same_bytes_are_stored_once_and_can_be_extracted_again_by_uri(extract_client):
    form = generate_form(11)
    encoded = base64.b64encode(form.image).decode()

    first = extract_client.post("/", json={"image_base64": encoded}, headers=HEADERS)
    second = extract_client.post("/", json={"image_base64": encoded, "prompt_version": "prompt_b"}, headers=HEADERS)
    by_uri = extract_client.post("/", json={"image_uri": first.json["image_uri"]}, headers=HEADERS)

    assert [r.status_code for r in (first, second, by_uri)] == [200, 200, 200]
    assert first.json["image_uri"] == second.json["image_uri"] == by_uri.json["image_uri"]
    assert len({first.json["extraction_id"], second.json["extraction_id"], by_uri.json["extraction_id"]}) == 3
    # Stored resolved: the version the production label points at now (other tests may move it).
    production = FirestorePromptRepository(firestore_client()).head("prompt_b").labels["production"]
    assert second.json["prompt_version"] == f"prompt_b@{production}"
    assert sum(name.endswith(form_hash(form)) for name in stored.image_names()) == 1


def form_hash(form) -> str:
    return hashlib.sha256(form.image).hexdigest()


@pytest.mark.integration
def test_gemini_extraction_records_usage_and_joins_evaluations_on_the_integration_span(
    extract_client, gemini, clean_test_agent
):
    form = generate_form(21)
    gemini.enqueue(extraction_reply(form.truth, prompt_tokens=1500, output_tokens=210))

    response = post_form(extract_client, form, model="gemini-2.5-flash", expected=form.truth.model_dump())

    assert response.status_code == 200, response.json
    body = response.json
    assert body["result"] == shaped(form.truth, GENERIC_FORM_TYPE).model_dump()  # its statistics filled in
    assert body["usage"] == {"input_tokens": 1500, "output_tokens": 210, "total_tokens": 1710}
    [request] = gemini.generate_requests
    assert request.images[0].data == form.image
    agent = clean_test_agent
    [llm_span] = agent.wait_for(lambda: agent.llmobs_spans(span_id=body["span_id"]))
    assert llm_span["meta"]["span"]["kind"] == "llm" and llm_span["ml_app"] == "vote-extractor"
    assert "gemini-2.5-flash" in llm_span["meta"]["model_name"]
    assert llm_span["tag_map"].get("prompt_version") == "prompt_a@1"
    agent.wait_for(lambda: len(agent.evaluations_for(body["span_id"])) >= len(ONLINE_LABELS))


@pytest.mark.integration
def test_gemini_rate_limit_then_success_is_retried(extract_client, gemini):
    form = generate_form(22)
    gemini.enqueue(error_reply(429), extraction_reply(form.truth))

    response = post_form(extract_client, form, model="gemini-2.5-flash")

    assert response.status_code == 200 and response.json["status"] == "succeeded"
    assert len(gemini.generate_requests) == 2


@pytest.mark.integration
@pytest.mark.parametrize(
    ("replies", "status", "error_code"),
    [
        ([error_reply(503)] * 3, 502, "model_unavailable"),
        ([delayed(extraction_reply(), 5)] * 3, 504, "model_timeout"),
        ([text_reply('{"vote_results": [{"candidate_name": "A", "vote_count": "many"')], 502, "model_output_invalid"),
        ([candidate_blocked_reply()], 502, "model_blocked"),
    ],
    ids=["persistent-503", "timeout", "malformed-json", "safety-block"],
)
def test_a_model_failure_is_answered_and_recorded(
    extract_client, gemini, clean_test_agent, replies, status, error_code
):
    gemini.enqueue(*replies)
    before = stored.extraction_count()

    response = post_form(extract_client, generate_form(23), model="gemini-2.5-flash")

    assert response.status_code == status, response.json
    body = response.json
    assert_matches_contract("/extract", "POST", status, body)
    assert body["status"] == "failed" and body["result"] is None and body["error"]
    assert body["error_code"] == error_code
    assert body["span_id"] and body["trace_id"]
    assert stored.extraction_count() == before + 1
    kept = extract_client.get(f"/{body['extraction_id']}", headers=HEADERS)
    assert kept.status_code == 200 and kept.json["status"] == "failed"
    classification = next(e for e in body["evaluations"] if e["label"] == "output_classification")
    assert classification["value"] == "failed"
