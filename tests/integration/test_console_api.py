"""The console's read endpoints and entry edits: GET /extract (filters, paging), /extract/options,
images, PUT/GET a dataset entry, GET /experiments."""

from __future__ import annotations

import base64
import io

import pytest

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


def test_listing_filters_and_pages_newest_first(clean_firestore, extract_client, feedback_client):
    made = [extract(extract_client, seed) for seed in (401, 402, 403, 404)]
    down = made[1]
    body = {"span_id": down["span_id"], "trace_id": down["trace_id"], "feedback_type": "thumbs_down"}
    assert feedback_client.post("/", json=body, headers=HEADERS).status_code == 201

    first = extract_client.get("/?page_size=3", headers=HEADERS)
    assert first.status_code == 200, first.json
    assert_matches_contract("/extract", "GET", 200, first.json)
    second = extract_client.get(f"/?page_size=3&page_token={first.json['next_page_token']}", headers=HEADERS).json
    ids = [i["extraction_id"] for i in first.json["items"] + second["items"]]
    assert ids == [e["extraction_id"] for e in reversed(made)] and second["next_page_token"] is None
    assert all(e["reasoning"] is None for i in first.json["items"] for e in i["evaluations"])

    thumbs = extract_client.get("/?feedback=thumbs_down&model=tesseract&status=succeeded", headers=HEADERS).json
    assert [i["extraction_id"] for i in thumbs["items"]] == [down["extraction_id"]]
    none = extract_client.get("/?feedback=none", headers=HEADERS).json
    assert down["extraction_id"] not in {i["extraction_id"] for i in none["items"]} and len(none["items"]) == 3
    assert extract_client.get("/?model=gemini-2.5-pro", headers=HEADERS).json["items"] == []
    assert extract_client.get("/?since=2999-01-01T00:00:00Z", headers=HEADERS).json["items"] == []


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("feedback=meh", 422),
        ("status=done", 422),
        ("golden_candidate=perhaps", 422),
        ("since=yesterday", 422),
        ("page_size=0", 422),
        ("page_size=abc", 422),
        ("colour=red", 422),
        ("model=..%2F", 422),
        ("page_token=%%%", 400),
        ("page_token=bm9wZQ", 400),
    ],
)
def test_bad_listing_queries_are_client_errors(local_stack, extract_client, query, status):
    response = extract_client.get(f"/?{query}", headers=HEADERS)

    assert response.status_code == status, response.json
    assert_matches_contract("/extract", "GET", status, response.json)


def test_options_list_what_a_client_may_pick(local_stack, extract_client):
    response = extract_client.get("/options", headers=HEADERS)

    assert response.status_code == 200
    assert_matches_contract("/extract/options", "GET", 200, response.json)
    models = {m["id"]: m for m in response.json["models"]}
    assert models["tesseract"]["params"]["deskew"] == {"type": "boolean", "default": True}
    assert {"gemini-2.5-flash", "gemini-2.5-pro"} <= set(models)
    assert {"prompt_a", "prompt_b"} <= set(response.json["prompt_versions"])


def test_images_of_an_extraction_and_of_an_entry(local_stack, extract_client, datasets_client):
    form = generate_form(405)
    extraction = extract(extract_client, 405)

    image = extract_client.get(f"/{extraction['extraction_id']}/image", headers=HEADERS)
    assert image.status_code == 200 and image.data == form.image and image.mimetype == "image/png"
    for hostile in ("f" * 32, "..%2F", "x" * 300):
        missing = extract_client.get(f"/{hostile}/image", headers=HEADERS)
        assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"

    name = new_draft(datasets_client, "img")
    entry = {"id": "e1", "input": {"image_base64": base64.b64encode(form.image).decode()}}
    entry["expected_output"] = form.truth.model_dump()
    assert datasets_client.post(f"/{name}/v1/entries", json=entry, headers=HEADERS).status_code == 201
    stored = datasets_client.get(f"/{name}/v1/entries/e1/image", headers=HEADERS)
    assert stored.status_code == 200 and stored.data == form.image
    assert datasets_client.get(f"/{name}/v1/entries/nope/image", headers=HEADERS).status_code == 404


def test_put_entry_replaces_fields_and_diff_sees_it(local_stack, datasets_client):
    form = generate_form(406)
    name = new_draft(datasets_client, "edit")
    entry = {"id": "e1", "input": {"image_base64": base64.b64encode(form.image).decode()}}
    entry["expected_output"] = form.truth.model_dump()
    assert datasets_client.post(f"/{name}/v1/entries", json=entry, headers=HEADERS).status_code == 201
    assert datasets_client.post(f"/{name}/v1/publish", headers=HEADERS).status_code == 200
    assert datasets_client.post(f"/{name}/versions", json={"from_version": "v1", "version": "v2"}, headers=HEADERS)
    changed = form.truth.model_dump()
    changed["ballot_stats"]["rejected_ballots"] = 999

    put = datasets_client.put(
        f"/{name}/v2/entries/e1",
        json={"expected_output": changed, "validated": True, "tags": {"k": "v"}},
        headers=HEADERS,
    )

    assert put.status_code == 200, put.json
    assert_matches_contract("/datasets/{name}/{version}/entries/{entry_id}", "PUT", 200, put.json)
    assert put.json["expected_output"]["ballot_stats"]["rejected_ballots"] == 999 and put.json["validated"] is True
    got = datasets_client.get(f"/{name}/v2/entries/e1", headers=HEADERS)
    assert got.status_code == 200 and got.json == put.json
    diff = datasets_client.get(f"/{name}/diff?from=v1&to=v2", headers=HEADERS).json
    assert diff == {"added": [], "removed": [], "changed": ["e1"]}

    assert datasets_client.put(f"/{name}/v1/entries/e1", json={"validated": True}, headers=HEADERS).status_code == 409
    assert datasets_client.put(f"/{name}/v2/entries/e1", json={"image": "x"}, headers=HEADERS).status_code == 422
    assert datasets_client.put(f"/{name}/v2/entries/e1", json={"validated": "yes"}, headers=HEADERS).status_code == 422
    assert datasets_client.put(f"/{name}/v2/entries/e1", json={}, headers=HEADERS).status_code == 422
    assert datasets_client.put(f"/{name}/v2/entries/nope", json={"validated": True}, headers=HEADERS).status_code == 404
    for hostile in ("..%2F", "x" * 300):
        response = datasets_client.put(f"/{name}/v2/entries/{hostile}", json={"validated": True}, headers=HEADERS)
        assert response.status_code in (404, 422) and response.json["error"]
    malformed = datasets_client.put(
        f"/{name}/v2/entries/e1", data="{oops", headers=HEADERS, content_type="application/json"
    )
    assert malformed.status_code == 400


def test_experiments_list_newest_first_with_filters(clean_firestore, experiments_client):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    batch = firestore_client().batch()
    for index, (dataset, status) in enumerate([("a", "completed"), ("b", "completed"), ("a", "failed")]):
        batch.set(
            firestore_client().collection("experiments").document(f"exp{index}"),
            {
                "experiment_id": f"exp{index}",
                "name": f"run {index}",
                "dataset_name": dataset,
                "dataset_version": "v1",
                "variants": [{"name": "t", "model": "tesseract"}],
                "evaluators": [],
                "repetitions": 1,
                "concurrency": 1,
                "run_timeout_s": 60,
                "status": status,
                "schedule_id": None,
                "created_at": now + timedelta(seconds=index),
            },
        )
    batch.commit()

    listed = experiments_client.get("/?page_size=2", headers=HEADERS)
    assert listed.status_code == 200, listed.json
    assert_matches_contract("/experiments", "GET", 200, listed.json)
    rest = experiments_client.get(f"/?page_size=2&page_token={listed.json['next_page_token']}", headers=HEADERS).json
    assert [i["experiment_id"] for i in listed.json["items"] + rest["items"]] == ["exp2", "exp1", "exp0"]
    both = experiments_client.get("/?dataset=a&status=completed", headers=HEADERS).json["items"]
    assert [i["experiment_id"] for i in both] == ["exp0"]
    for query in ("status=lost", "dataset=..%2F", "schedule_id=a%0Ab", "page_size=999", "x=1"):
        assert experiments_client.get(f"/?{query}", headers=HEADERS).status_code == 422, query
    assert experiments_client.get("/?page_token=%%%", headers=HEADERS).status_code == 400
