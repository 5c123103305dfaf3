"""The review queue (API.md "review queue") over the real emulators and the Datadog test agent."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.services.review import cohen_kappa
from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration.builders import new_draft
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


def extract(extract_client, seed: int) -> dict:
    form = generate_form(seed)
    response = extract_client.post(
        "/", data={"image": (io.BytesIO(form.image), "f.png")}, headers=HEADERS, content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.json
    return response.json


def thumbs_down(feedback_client, extraction: dict) -> None:
    body = {"span_id": extraction["span_id"], "trace_id": extraction["trace_id"], "feedback_type": "thumbs_down"}
    assert feedback_client.post("/", json=body, headers=HEADERS).status_code == 201


def claim(datasets_client, reviewer: str, **extra):
    return datasets_client.post("/review/claim", json={"reviewer": reviewer, **extra}, headers=HEADERS)


def decide(datasets_client, extraction_id: str, body: dict):
    return datasets_client.post(f"/review/{extraction_id}/decision", json=body, headers=HEADERS)


@pytest.fixture
def queued(clean_firestore, extract_client, feedback_client) -> list[dict]:
    """Three extractions in the queue by thumbs-down feedback, oldest first."""
    extractions = [extract(extract_client, seed) for seed in (301, 302, 303)]
    for extraction in extractions:
        thumbs_down(feedback_client, extraction)
    return extractions


def test_thumbs_down_puts_the_extraction_in_the_queue_once(queued, datasets_client, feedback_client):
    thumbs_down(feedback_client, queued[0])  # a second one adds nothing

    listed = datasets_client.get("/review/queue?reason=thumbs_down&state=pending", headers=HEADERS)

    assert listed.status_code == 200, listed.json
    assert_matches_contract("/datasets/review/queue", "GET", 200, listed.json)
    ids = [item["extraction_id"] for item in listed.json["items"]]
    assert ids == [e["extraction_id"] for e in queued]
    assert all("thumbs_down" in item["reasons"] and item["state"] == "pending" for item in listed.json["items"])
    assert listed.json["counts"]["thumbs_down"] == {"pending": 3, "claimed": 0, "done": 0}

    first = datasets_client.get("/review/queue?state=pending&page_size=2", headers=HEADERS).json
    second = datasets_client.get(
        f"/review/queue?state=pending&page_size=2&page_token={first['next_page_token']}", headers=HEADERS
    ).json
    paged = [i["extraction_id"] for i in first["items"] + second["items"]]
    assert paged == ids and second["next_page_token"] is None


def test_claims_are_exclusive_and_expire(queued, datasets_client):
    first_id = queued[0]["extraction_id"]

    mine = claim(datasets_client, "ada", extraction_id=first_id)
    assert mine.status_code == 200, mine.json
    assert_matches_contract("/datasets/review/claim", "POST", 200, mine.json)
    assert mine.json["item"]["claimed_by"] == "ada"
    assert mine.json["extraction"]["extraction_id"] == first_id

    taken = claim(datasets_client, "bob", extraction_id=first_id)
    assert taken.status_code == 409 and taken.json["error"]["code"] == "conflict"
    assert claim(datasets_client, "ada", extraction_id=first_id).status_code == 200  # renews her own

    nexts = [claim(datasets_client, "bob") for _ in range(3)]
    assert [r.status_code for r in nexts] == [200, 200, 204]
    assert {r.json["item"]["extraction_id"] for r in nexts[:2]} == {e["extraction_id"] for e in queued[1:]}

    firestore_client().collection("review_items").document(first_id).update(
        {"claim_expires_at": datetime.now(UTC) - timedelta(seconds=1)}
    )
    listed = datasets_client.get("/review/queue?state=pending", headers=HEADERS).json
    assert [i["extraction_id"] for i in listed["items"]] == [first_id]
    again = claim(datasets_client, "bob")
    assert again.status_code == 200 and again.json["item"]["extraction_id"] == first_id
    late = decide(datasets_client, first_id, {"reviewer": "ada", "decision": "reject"})
    assert late.status_code == 409


def test_eight_concurrent_claims_never_share_an_item(clean_firestore, extract_client, feedback_client, datasets_client):
    for seed in range(311, 316):
        thumbs_down(feedback_client, extract(extract_client, seed))

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda i: claim(datasets_client, f"reviewer{i}"), range(8)))

    granted = [r.json["item"]["extraction_id"] for r in responses if r.status_code == 200]
    assert sorted(r.status_code for r in responses) == [200] * 5 + [204] * 3
    assert len(set(granted)) == len(granted) == 5


def test_approve_with_corrections_makes_a_validated_entry_and_sends_human_review(
    queued, datasets_client, clean_test_agent
):
    extraction = queued[0]
    name = new_draft(datasets_client, "reviewed")
    row = extraction["result"]["vote_results"][0]
    corrected_count = row["vote_count"] + 5
    assert claim(datasets_client, "ada", extraction_id=extraction["extraction_id"]).status_code == 200
    body = {
        "reviewer": "ada",
        "decision": "approve",
        "corrections": {"vote_results": [{"candidate_name": row["candidate_name"], "vote_count": corrected_count}]},
        "target": {"name": name, "version": "v1"},
        "note": "one count was misread",
    }

    decided = decide(datasets_client, extraction["extraction_id"], body)

    assert decided.status_code == 200, decided.json
    assert_matches_contract("/datasets/review/{extraction_id}/decision", "POST", 200, decided.json)
    assert decided.json["item"]["state"] == "done" and decided.json["item"]["verdict"] == "corrected"
    entry = datasets_client.get(f"/{name}/v1/entries/{decided.json['entry_id']}", headers=HEADERS).json
    assert entry["validated"] is True
    assert entry["expected_output"]["vote_results"][0]["vote_count"] == corrected_count
    assert decide(datasets_client, extraction["extraction_id"], body).json == decided.json  # a retry

    agent = clean_test_agent
    found = agent.wait_for(
        lambda: [m for m in agent.evaluations_for(extraction["span_id"]) if m["label"] == "human_review"] or None
    )
    assert found[0]["value"] == "corrected"
    assert found[0]["tag_map"]["reviewer"] == "ada" and found[0]["tag_map"]["decision"] == "approve"


def test_decisions_need_the_claim_a_draft_target_and_a_known_item(queued, datasets_client):
    extraction_id = queued[0]["extraction_id"]
    name = new_draft(datasets_client, "frozen")
    assert datasets_client.post(f"/{name}/v1/publish", headers=HEADERS).status_code == 200
    approve = {"reviewer": "ada", "decision": "approve", "target": {"name": name, "version": "v1"}}

    assert decide(datasets_client, extraction_id, approve).status_code == 409  # no claim
    assert claim(datasets_client, "ada", extraction_id=extraction_id).status_code == 200
    assert decide(datasets_client, extraction_id, {**approve, "reviewer": "bob"}).status_code == 409
    published = decide(datasets_client, extraction_id, approve)
    assert published.status_code == 409 and "published" in published.json["error"]["message"]
    no_target = decide(datasets_client, extraction_id, {"reviewer": "ada", "decision": "approve"})
    assert no_target.status_code == 422
    skipped = decide(datasets_client, extraction_id, {"reviewer": "ada", "decision": "skip"})
    assert skipped.status_code == 200 and skipped.json["item"]["state"] == "pending"
    assert decide(datasets_client, "f" * 32, {"reviewer": "ada", "decision": "reject"}).status_code == 404


def test_agreement_table_and_kappa_on_a_known_set(clean_firestore, datasets_client):
    # consistency pass/fail against verdicts: pass-right 3, pass-wrong 1, fail-right 1, fail-wrong 3.
    cases = [("pass", "approved")] * 3 + [("pass", "rejected"), ("fail", "approved")] + [("fail", "corrected")] * 3
    now = datetime.now(UTC)
    batch = firestore_client().batch()
    for index, (assessment, verdict) in enumerate(cases):
        batch.set(
            firestore_client().collection("review_items").document(f"agree{index}"),
            {
                "extraction_id": f"agree{index}",
                "reasons": ["thumbs_down"],
                "closed": 1,
                "verdict": verdict,
                "decided_at": now,
                "created_at": now,
                "evaluator_outcomes": {"consistency": {"assessment": assessment, "value": assessment == "pass"}},
            },
        )
    batch.commit()

    response = datasets_client.get("/review/agreement", headers=HEADERS)

    assert response.status_code == 200, response.json
    assert_matches_contract("/datasets/review/agreement", "GET", 200, response.json)
    consistency = next(e for e in response.json["evaluators"] if e["label"] == "consistency")
    assert consistency["table"] == {"pass": {"right": 3, "wrong": 1}, "fail": {"right": 1, "wrong": 3}}
    # po = 6/8 = 0.75; pe = (4*4 + 4*4)/64 = 0.5; kappa = (0.75 - 0.5) / 0.5 = 0.5
    assert consistency["kappa"] == 0.5 and consistency["n"] == 8
    classification = next(e for e in response.json["evaluators"] if e["label"] == "output_classification")
    assert classification["kappa"] is None and classification["kappa_undefined_reason"]
    future = datasets_client.get("/review/agreement?since=2999-01-01T00:00:00Z", headers=HEADERS).json
    assert future["n"] == 0


def test_kappa_is_undefined_when_chance_agreement_is_certain():
    assert cohen_kappa({"pass": {"right": 4, "wrong": 0}, "fail": {"right": 0, "wrong": 0}})[0] is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/review/claim", "{not json", 400),
        ("POST", "/review/claim", {"reviewer": 7}, 422),
        ("POST", "/review/claim", {"reviewer": "ada", "reason": "boredom"}, 422),
        ("POST", "/review/claim", {"reviewer": "ada", "extraction_id": "..%2F"}, 422),
        ("POST", "/review/claim", {"reviewer": "a\nb"}, 422),
        ("POST", "/review/..%2F/decision", {"reviewer": "ada", "decision": "reject"}, 404),
        ("POST", "/review/a%0Ab/decision", {"reviewer": "ada", "decision": "reject"}, 404),
        ("POST", f"/review/{'x' * 300}/decision", {"reviewer": "ada", "decision": "reject"}, 404),
        ("POST", "/review/abc/decision", {"reviewer": "ada", "decision": "maybe"}, 422),
        ("POST", "/review/abc/decision", {"reviewer": "ada", "decision": "reject", "extra": 1}, 422),
        ("GET", "/review/queue?state=lost", None, 422),
        ("GET", "/review/queue?page_token=%%%", None, 400),
        ("GET", "/review/queue?page_size=0", None, 422),
        ("GET", "/review/agreement?since=yesterday", None, 422),
    ],
)
def test_bad_input_is_a_client_error(local_stack, datasets_client, method, path, body, status):
    if isinstance(body, str):
        response = datasets_client.open(
            path, method=method, data=body, headers=HEADERS, content_type="application/json"
        )
    else:
        response = datasets_client.open(path, method=method, json=body, headers=HEADERS)

    assert response.status_code == status, response.data[:300]
    if "%0A" not in path:  # functions-framework's own router answers a newline in the path (HTML 404)
        assert_matches_contract("/datasets/review/claim", "POST", 422, response.json)  # the error body


def test_a_dataset_cannot_be_named_review(datasets_client):
    assert datasets_client.post("/", json={"name": "review", "version": "v1"}, headers=HEADERS).status_code == 422
