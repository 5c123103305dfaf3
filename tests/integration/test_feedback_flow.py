"""POST /feedback and GET /feedback over the real emulators and test agent (issue 3's acceptance)."""

from __future__ import annotations

import io
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration import stored
from tests.integration.conftest import ALLOWED_ORIGIN
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
FEEDBACK_LABELS = {"user_feedback", "user_quality_rating", "user_correction", "corrected_accuracy"}


def extract(extract_client, seed: int) -> dict:
    form = generate_form(seed)
    response = extract_client.post(
        "/",
        data={"image": (io.BytesIO(form.image), "form.png")},
        headers=HEADERS,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def extraction(extract_client) -> dict:
    return extract(extract_client, 51)


def first_candidate(extraction: dict) -> dict:
    return extraction["result"]["vote_results"][0]


def test_thumbs_down_with_stars_comment_and_correction(extraction, extract_client, feedback_client, clean_test_agent):
    row = first_candidate(extraction)
    body = {
        "span_id": extraction["span_id"],
        "trace_id": extraction["trace_id"],
        "feedback_type": "thumbs_down",
        "comment": "The first candidate's count is wrong: it says 10 more on the form.",
        "quality_score": 2,
        "tags": {"page": "vote_extractor", "User Session": "abc 123"},
        "corrections": {
            "vote_results": [{"candidate_name": row["candidate_name"], "vote_count": row["vote_count"] + 10}]
        },
    }

    response = feedback_client.post("/", json=body, headers=HEADERS)

    assert response.status_code == 201, response.json
    assert_matches_contract("/feedback", "POST", 201, response.json)
    labels = {e["label"] for e in response.json["evaluations"]}
    assert labels == FEEDBACK_LABELS
    accuracy = next(e["value"] for e in response.json["evaluations"] if e["label"] == "corrected_accuracy")
    assert 0.8 < accuracy < 1.0

    agent = clean_test_agent
    joined = agent.wait_for(
        lambda: (lambda found: found if {m["label"] for m in found} >= FEEDBACK_LABELS else None)(
            agent.evaluations_for(extraction["span_id"])
        )
    )
    by_label = {m["label"]: m for m in joined}
    assert by_label["user_feedback"]["value"] == "thumbs_down"
    assert by_label["user_feedback"]["tag_map"]["feedback_source"] == "user_interface"
    assert by_label["user_feedback"]["tag_map"]["user_session"] == "abc_123"  # Datadog's tag rules
    assert by_label["user_quality_rating"]["value"] == 2
    assert by_label["user_correction"]["value"]["vote_results"][0]["vote_count"] == row["vote_count"] + 10
    assert all(m["trace_id"] == extraction["trace_id"] for m in joined)

    record = extract_client.get(f"/{extraction['extraction_id']}", headers=HEADERS).json
    summary = record["feedback_summary"]
    assert (summary["thumbs_down"], summary["thumbs_up"], summary["ratings"]) == (1, 0, 1)
    assert summary["mean_quality_score"] == 2.0 and summary["corrected"] is True
    assert record["corrected_result"]["vote_results"][0]["vote_count"] == row["vote_count"] + 10

    listed = feedback_client.get(f"/?extraction_id={extraction['extraction_id']}", headers=HEADERS)
    assert listed.status_code == 200
    assert_matches_contract("/feedback", "GET", 200, listed.json)
    assert [item["feedback_id"] for item in listed.json["items"]] == [response.json["feedback_id"]]


def test_ten_identical_posts_at_once_record_one_feedback(extraction, feedback_client):
    body = {
        "span_id": extraction["span_id"],
        "trace_id": extraction["trace_id"],
        "feedback_type": "thumbs_up",
        "quality_score": 4,
        "feedback_id": f"replay-{uuid.uuid4().hex[:12]}",
    }

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: feedback_client.post("/", json=body, headers=HEADERS), range(10)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [201], [r.json for r in responses]
    assert {r.json["feedback_id"] for r in responses} == {body["feedback_id"]}
    assert len(stored.feedback_documents(extraction["extraction_id"])) == 1
    outbox = stored.outbox_documents(body["feedback_id"])
    assert sorted(d["label"] for d in outbox) == sorted(
        {"user_feedback", "user_quality_rating"} | {e["label"] for e in responses[0].json["evaluations"]}
    )
    summary = stored.extraction_document(extraction["extraction_id"])["feedback_summary"]
    assert summary["thumbs_up"] == 1 and summary["ratings"] == 1

    conflict = feedback_client.post("/", json={**body, "quality_score": 1}, headers=HEADERS)
    assert conflict.status_code == 409
    assert conflict.json["error"]["code"] == "conflict"


def test_fifty_concurrent_posts_keep_the_summary_exact(extraction, feedback_client, extract_client):
    def post(index: int):
        body = {
            "span_id": extraction["span_id"],
            "trace_id": extraction["trace_id"],
            "feedback_type": "thumbs_up" if index % 5 else "thumbs_down",
            "quality_score": index % 5 + 1,
        }
        return feedback_client.post("/", json=body, headers=HEADERS).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(post, range(50)))

    assert statuses == [201] * 50
    summary = extract_client.get(f"/{extraction['extraction_id']}", headers=HEADERS).json["feedback_summary"]
    assert (summary["thumbs_up"], summary["thumbs_down"]) == (40, 10)
    assert (summary["ratings"], summary["rating_sum"]) == (50, 150)
    assert summary["mean_quality_score"] == 3.0
    assert len(stored.feedback_documents(extraction["extraction_id"])) == 50


def test_a_person_vouching_or_correcting_makes_a_golden_candidate(extract_client, feedback_client):
    extraction = extract(extract_client, 52)
    consistent = next(e["value"] for e in extraction["evaluations"] if e["label"] == "consistency")
    vouch = {
        "span_id": extraction["span_id"],
        "trace_id": extraction["trace_id"],
        "feedback_type": "thumbs_up",
        "quality_score": 5,
    }

    vouched = feedback_client.post("/", json=vouch, headers=HEADERS)

    labels = {e["label"] for e in vouched.json["evaluations"]}
    assert ("golden_dataset_candidate" in labels) is consistent
    assert vouched.json["golden_candidate"] is consistent
    assert stored.extraction_document(extraction["extraction_id"])["golden_candidate"] is consistent

    lukewarm = feedback_client.post("/", json={**vouch, "quality_score": 3}, headers=HEADERS)
    assert "golden_dataset_candidate" not in {e["label"] for e in lukewarm.json["evaluations"]}


def test_cors_preflight_and_response_headers(feedback_client, extraction):
    preflight = feedback_client.options(
        "/",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-api-key",
        },
    )
    refused = feedback_client.options(
        "/", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    posted = feedback_client.post(
        "/",
        json={"span_id": extraction["span_id"], "trace_id": extraction["trace_id"], "feedback_type": "thumbs_up"},
        headers={**HEADERS, "Origin": ALLOWED_ORIGIN},
    )

    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]  # a browser's extract may send one
    assert "Idempotent-Replayed" in posted.headers["Access-Control-Expose-Headers"]
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
    assert posted.status_code == 201 and posted.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
