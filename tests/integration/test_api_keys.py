"""Named API keys with scopes (issue 13): who may do what, and the name every write records."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.openapi_contract import assert_matches_contract

SCOPES = ("admin", "write", "review", "feedback", "read")
# One key per scope, named after it; plus a person's own review key and the console's delegating key.
KEYS = {f"k-{scope}": {"key": f"secret-{scope}-{'x' * 24}", "scopes": [scope]} for scope in SCOPES}
KEYS["ada"] = {"key": "secret-ada-" + "y" * 24, "scopes": ["review", "feedback"]}
KEYS["console"] = {"key": "secret-console-" + "z" * 24, "scopes": ["review", "feedback"], "delegates": True}


def api_keys_secret() -> str:
    return json.dumps(
        {
            name: {"sha256": hashlib.sha256(spec["key"].encode()).hexdigest(), "scopes": spec["scopes"]}
            | ({"delegates": True} if spec.get("delegates") else {})
            for name, spec in KEYS.items()
        }
    )


def as_key(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name]["key"]}


@pytest.fixture
def named_keys(configure):
    configure(API_KEYS=api_keys_secret())


def extract(extract_client, seed: int, headers: dict) -> dict:
    form = generate_form(seed)
    response = extract_client.post(
        "/", data={"image": (io.BytesIO(form.image), "f.png")}, headers=headers, content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture(scope="module")
def extraction(extract_client) -> dict:
    """Made under the session's plain test key, before a test configures named keys."""
    return extract(extract_client, 1301, {"X-API-Key": TEST_API_KEY})


def _read(clients, extraction):
    return clients["datasets"].get("/", headers=clients["headers"])


def _feedback(clients, extraction):
    body = {
        "span_id": extraction["span_id"],
        "trace_id": extraction["trace_id"],
        "feedback_type": "thumbs_up",
        "feedback_id": f"scope-{uuid.uuid4().hex[:12]}",
    }
    return clients["feedback"].post("/", json=body, headers=clients["headers"])


def _review(clients, extraction):
    return clients["datasets"].post("/review/claim", json={"reason": "golden_candidate"}, headers=clients["headers"])


def _write(clients, extraction):
    body = {"name": f"scopes_{uuid.uuid4().hex[:8]}", "version": "v1"}
    return clients["datasets"].post("/", json=body, headers=clients["headers"])


OPERATIONS = {"read": _read, "feedback": _feedback, "review": _review, "write": _write}
ALLOWED = {
    "admin": {"read", "feedback", "review", "write"},
    "write": {"read", "write"},
    "review": {"read", "review"},
    "feedback": {"feedback"},
    "read": {"read"},
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_may_do_what_the_table_says(
    scope, operation, extraction, named_keys, datasets_client, feedback_client
):
    clients = {"datasets": datasets_client, "feedback": feedback_client, "headers": as_key(f"k-{scope}")}

    response = OPERATIONS[operation](clients, extraction)

    if operation in ALLOWED[scope]:
        assert 200 <= response.status_code < 300, response.json
    else:
        assert response.status_code == 403, response.json
        assert response.json["error"]["code"] == "forbidden"
        assert response.json["error"]["details"] == {"key": f"k-{scope}", "scope": operation}


def test_a_feedback_key_cannot_read_datasets_or_start_experiments(
    named_keys, datasets_client, experiments_client, extract_client
):
    headers = as_key("k-feedback")

    listed = datasets_client.get("/", headers=headers)
    started = experiments_client.post("/", json={"name": "x"}, headers=headers)
    extracted = extract_client.post("/", json={"image_base64": "AA=="}, headers=headers)

    for refused in (listed, started, extracted):
        assert refused.status_code == 403, refused.json
        assert "scope" in refused.json["error"]["message"]
    assert datasets_client.get("/", headers={"X-API-Key": "no-such-key"}).status_code == 401


def test_a_reviewer_cannot_claim_or_decide_under_another_name(
    clean_firestore, extract_client, feedback_client, datasets_client, configure
):
    queued = extract(extract_client, 1302, {"X-API-Key": TEST_API_KEY})
    body = {"span_id": queued["span_id"], "trace_id": queued["trace_id"], "feedback_type": "thumbs_down"}
    assert feedback_client.post("/", json=body, headers={"X-API-Key": TEST_API_KEY}).status_code == 201
    configure(API_KEYS=api_keys_secret())
    item = queued["extraction_id"]

    as_bob = datasets_client.post(
        "/review/claim", json={"reviewer": "bob", "extraction_id": item}, headers=as_key("ada")
    )
    mine = datasets_client.post("/review/claim", json={"extraction_id": item}, headers=as_key("ada"))
    decide_as_bob = datasets_client.post(
        f"/review/{item}/decision", json={"reviewer": "bob", "decision": "reject"}, headers=as_key("ada")
    )
    decided = datasets_client.post(f"/review/{item}/decision", json={"decision": "reject"}, headers=as_key("ada"))

    assert as_bob.status_code == 403 and as_bob.json["error"]["code"] == "forbidden"
    assert mine.status_code == 200 and mine.json["item"]["claimed_by"] == "ada"
    assert decide_as_bob.status_code == 403
    assert decided.status_code == 200, decided.json
    assert decided.json["item"]["decided_by"] == "ada"


def test_the_console_s_delegating_key_records_key_name_and_person(
    clean_firestore, extract_client, feedback_client, datasets_client, configure, clean_test_agent
):
    queued = extract(extract_client, 1303, {"X-API-Key": TEST_API_KEY})
    configure(API_KEYS=api_keys_secret())
    item = queued["extraction_id"]
    body = {"span_id": queued["span_id"], "trace_id": queued["trace_id"], "feedback_type": "thumbs_down"}

    feedback = feedback_client.post("/", json=body | {"author": "bea"}, headers=as_key("console"))
    claimed = datasets_client.post(
        "/review/claim", json={"reviewer": "bea", "extraction_id": item}, headers=as_key("console")
    )
    other_prefix = datasets_client.post(
        f"/review/{item}/decision", json={"reviewer": "ada:bea", "decision": "reject"}, headers=as_key("console")
    )
    decided = datasets_client.post(
        f"/review/{item}/decision", json={"reviewer": "bea", "decision": "reject"}, headers=as_key("console")
    )

    assert feedback.status_code == 201 and feedback.json["author"] == "console:bea"
    assert claimed.status_code == 200 and claimed.json["item"]["claimed_by"] == "console:bea"
    assert other_prefix.status_code == 403
    assert decided.status_code == 200 and decided.json["item"]["decided_by"] == "console:bea"
    agent = clean_test_agent
    human = agent.wait_for(lambda: agent.evaluations_for(queued["span_id"], "human_review") or None)
    assert human[0]["tag_map"]["reviewer"] == "console:bea"
    user = agent.wait_for(lambda: agent.evaluations_for(queued["span_id"], "user_feedback") or None)
    assert user[0]["tag_map"]["author"] == "console:bea"


def test_every_write_records_its_key_s_name(
    clean_firestore, named_keys, extract_client, feedback_client, datasets_client, experiments_client, clean_test_agent
):
    writer, person = as_key("k-write"), as_key("ada")
    form = generate_form(1304)

    extraction = extract(extract_client, 1304, writer)
    feedback = feedback_client.post(
        "/",
        json={"span_id": extraction["span_id"], "trace_id": extraction["trace_id"], "feedback_type": "thumbs_up"},
        headers=person,
    )
    name = f"who_{uuid.uuid4().hex[:8]}"
    created = datasets_client.post("/", json={"name": name, "version": "v1"}, headers=writer)
    entry = {
        "id": "e1",
        "input": {"image_base64": base64.b64encode(form.image).decode()},
        "expected_output": form.truth.model_dump(),
    }
    added = datasets_client.post(f"/{name}/v1/entries", json=entry, headers=writer)
    published = datasets_client.post(f"/{name}/v1/publish", headers=writer)
    experiment = {
        "name": "who",
        "dataset": {"name": name, "version": "v1"},
        "variants": [{"name": "ocr", "model": "tesseract"}],
        "dry_run": True,
    }
    planned = experiments_client.post("/", json=experiment, headers=writer)
    schedule = {
        "schedule_id": f"who-{uuid.uuid4().hex[:8]}",
        "interval_minutes": 60,
        "dataset": {"name": name},
        "variants": [{"name": "ocr", "model": "tesseract"}],
    }
    scheduled = experiments_client.post("/schedules", json=schedule, headers=writer)

    assert extraction["created_by"] == "k-write"
    assert extract_client.get(f"/{extraction['extraction_id']}", headers=writer).json["created_by"] == "k-write"
    assert feedback.status_code == 201 and feedback.json["author"] == "ada"
    listed = feedback_client.get(f"/?extraction_id={extraction['extraction_id']}", headers=writer).json["items"]
    assert [item["author"] for item in listed] == ["ada"]
    assert created.status_code == 201 and created.json["created_by"] == "k-write"
    assert added.status_code == 201 and published.status_code == 200
    version = datasets_client.get(f"/{name}/v1", headers=writer).json
    assert version["created_by"] == "k-write" and version["entries"][0]["created_by"] == "k-write"
    assert planned.status_code == 200 and planned.json["created_by"] == "k-write"
    assert scheduled.status_code == 201 and scheduled.json["created_by"] == "k-write"
    for path, status, body in (
        ("/extract/{extraction_id}", 200, extraction),
        ("/feedback", 201, feedback.json),
        ("/datasets", 201, created.json),
        ("/experiments", 200, planned.json),
        ("/experiments/schedules", 201, scheduled.json),
    ):
        assert_matches_contract(path, "POST" if path != "/extract/{extraction_id}" else "GET", status, body)
    agent = clean_test_agent
    online = agent.wait_for(lambda: agent.evaluations_for(extraction["span_id"], "consistency") or None)
    assert online[0]["tag_map"]["created_by"] == "k-write"
    user = agent.wait_for(lambda: agent.evaluations_for(extraction["span_id"], "user_feedback") or None)
    assert user[0]["tag_map"]["author"] == "ada"
    spans = agent.wait_for(lambda: agent.llmobs_spans(name="extract") or None)
    assert any(span["tag_map"].get("created_by") == "k-write" for span in spans)
