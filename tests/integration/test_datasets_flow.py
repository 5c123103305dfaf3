"""The datasets function end to end over the real emulators (issue 4's acceptance walk)."""

from __future__ import annotations

import base64
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration import stored
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def entry(seed: int, **extra) -> dict:
    form = generate_form(seed)
    return {
        "input": {"image_base64": base64.b64encode(form.image).decode(), "metadata": {"form_type": "34A"}},
        "expected_output": form.truth.model_dump(),
        **extra,
    }


def extract_and_correct(extract_client, feedback_client, seed: int) -> tuple[dict, dict]:
    form = generate_form(seed)
    extraction = extract_client.post(
        "/", data={"image": (io.BytesIO(form.image), "f.png")}, headers=HEADERS, content_type="multipart/form-data"
    ).json
    row = extraction["result"]["vote_results"][0]
    correction = {"vote_results": [{"candidate_name": row["candidate_name"], "vote_count": row["vote_count"] + 7}]}
    feedback = feedback_client.post(
        "/",
        json={
            "span_id": extraction["span_id"],
            "trace_id": extraction["trace_id"],
            "feedback_type": "thumbs_down",
            "corrections": correction,
        },
        headers=HEADERS,
    )
    assert feedback.status_code == 201
    return extraction, row


def test_dataset_lifecycle(datasets_client, extract_client, feedback_client):
    name = unique("golden_forms")
    created = datasets_client.post(
        "/", json={"name": name, "version": "v1", "description": "acceptance"}, headers=HEADERS
    )
    assert created.status_code == 201, created.json
    assert_matches_contract("/datasets", "POST", 201, created.json)

    added = datasets_client.post(
        f"/{name}/v1/entries", json={"entries": [entry(1), entry(2), entry(3)]}, headers=HEADERS
    )
    assert added.status_code == 201, added.json
    assert len(added.json["entry_ids"]) == 3
    assert_matches_contract("/datasets/{name}/{version}/entries", "POST", 201, added.json)

    extraction, row = extract_and_correct(extract_client, feedback_client, 4)
    traced = datasets_client.post(
        f"/{name}/v1/from-trace",
        json={"span_id": extraction["span_id"], "trace_id": extraction["trace_id"]},
        headers=HEADERS,
    )
    assert traced.status_code == 201, traced.json
    version = datasets_client.get(f"/{name}/v1", headers=HEADERS).json
    assert_matches_contract("/datasets/{name}/{version}", "GET", 200, version)
    assert version["entry_count"] == 4 and version["status"] == "draft"
    from_trace = next(e for e in version["entries"] if e["id"] == traced.json["entry_id"])
    assert from_trace["expected_output"]["vote_results"][0]["vote_count"] == row["vote_count"] + 7
    assert from_trace["validated"] is True and from_trace["source"]["kind"] == "trace"
    assert from_trace["input"]["image_uri"] == extraction["image_uri"]  # referenced, not copied

    assert datasets_client.post(f"/{name}/v1/publish", headers=HEADERS).status_code == 200
    frozen = [
        datasets_client.post(f"/{name}/v1/entries", json=entry(5), headers=HEADERS),
        datasets_client.delete(f"/{name}/v1/entries/{added.json['entry_ids'][0]}", headers=HEADERS),
        datasets_client.post(f"/{name}/v1/import", data=b"", content_type="application/x-ndjson", headers=HEADERS),
        datasets_client.post(f"/{name}/v1/publish", headers=HEADERS),
    ]
    assert [r.status_code for r in frozen] == [409, 409, 409, 409]

    images_before = stored.image_names()
    v2 = datasets_client.post(f"/{name}/versions", json={"from_version": "v1", "version": "v2"}, headers=HEADERS)
    assert v2.status_code == 201 and v2.json["entry_count"] == 4 and v2.json["status"] == "draft"
    assert stored.image_names() == images_before
    removed_id = added.json["entry_ids"][1]
    assert datasets_client.delete(f"/{name}/v2/entries/{removed_id}", headers=HEADERS).status_code == 204

    diff = datasets_client.get(f"/{name}/diff?from=v1&to=v2", headers=HEADERS).json
    assert diff == {"added": [], "removed": [removed_id], "changed": []}
    assert_matches_contract("/datasets/{name}/diff", "GET", 200, diff)

    exported = datasets_client.get(f"/{name}/v1/export?format=jsonl", headers=HEADERS)
    lines = exported.get_data(as_text=True).splitlines()
    assert exported.status_code == 200 and len(lines) == 4
    assert {json.loads(line)["id"] for line in lines} == set(added.json["entry_ids"]) | {traced.json["entry_id"]}

    listed = datasets_client.get("/", headers=HEADERS).json["items"]
    mine = next(d for d in listed if d["name"] == name)
    assert [(v["version"], v["status"], v["entry_count"]) for v in mine["versions"]] == [
        ("v1", "published", 4),
        ("v2", "draft", 3),
    ]


def test_the_same_image_in_many_entries_is_stored_once(datasets_client):
    name = unique("dedupe")
    datasets_client.post("/", json={"name": name, "version": "v1"}, headers=HEADERS)
    same = entry(8)

    added = datasets_client.post(f"/{name}/v1/entries", json={"entries": [same, same, same]}, headers=HEADERS)

    uris = {e["input"]["image_uri"] for e in datasets_client.get(f"/{name}/v1", headers=HEADERS).json["entries"]}
    assert added.status_code == 201 and len(uris) == 1
    [uri] = uris
    assert sum(1 for image in stored.image_names() if uri.endswith(image)) == 1


def test_racing_creates_and_concurrent_adds(datasets_client):
    name = unique("race")

    with ThreadPoolExecutor(max_workers=2) as pool:
        creates = list(
            pool.map(
                lambda _: datasets_client.post("/", json={"name": name, "version": "v1"}, headers=HEADERS), range(2)
            )
        )
    assert sorted(r.status_code for r in creates) == [201, 409]

    image = entry(9)
    with ThreadPoolExecutor(max_workers=8) as pool:
        adds = list(
            pool.map(
                lambda i: datasets_client.post(
                    f"/{name}/v1/entries", json={**image, "id": f"e{i:03d}"}, headers=HEADERS
                ),
                range(40),
            )
        )
    assert [r.status_code for r in adds] == [201] * 40
    page = datasets_client.get(f"/{name}/v1?page_size=500", headers=HEADERS).json
    assert page["entry_count"] == 40 and len(page["entries"]) == 40


def test_paging_and_golden_candidates(datasets_client, extract_client, feedback_client):
    name = unique("paged")
    datasets_client.post("/", json={"name": name, "version": "v1"}, headers=HEADERS)
    image = entry(10)
    datasets_client.post(
        f"/{name}/v1/entries", json={"entries": [{**image, "id": f"p{i:02d}"} for i in range(7)]}, headers=HEADERS
    )

    first = datasets_client.get(f"/{name}/v1?page_size=3", headers=HEADERS).json
    second = datasets_client.get(f"/{name}/v1?page_size=3&page_token={first['next_page_token']}", headers=HEADERS).json
    third = datasets_client.get(f"/{name}/v1?page_size=3&page_token={second['next_page_token']}", headers=HEADERS).json
    assert [e["id"] for e in first["entries"] + second["entries"] + third["entries"]] == [f"p{i:02d}" for i in range(7)]
    assert third["next_page_token"] is None

    # A person corrects an extraction to the truth: complete and consistent, so a golden candidate.
    form = generate_form(11)
    extraction = extract_client.post(
        "/", data={"image": (io.BytesIO(form.image), "f.png")}, headers=HEADERS, content_type="multipart/form-data"
    ).json
    truth = form.truth.model_dump()
    feedback = feedback_client.post(
        "/",
        json={
            "span_id": extraction["span_id"],
            "trace_id": extraction["trace_id"],
            "feedback_type": "thumbs_down",
            "corrections": {"vote_results": truth["vote_results"], "ballot_stats": truth["ballot_stats"]},
        },
        headers=HEADERS,
    )
    assert feedback.json["golden_candidate"] is True
    candidates = datasets_client.get("/candidates?limit=500", headers=HEADERS).json["items"]
    assert extraction["extraction_id"] in {c["extraction_id"] for c in candidates}

    bulk = datasets_client.post(
        f"/{name}/v1/candidates", json={"extraction_ids": [extraction["extraction_id"]]}, headers=HEADERS
    )

    assert bulk.status_code == 201 and bulk.json["entry_ids"] == [extraction["extraction_id"]]
    added = datasets_client.get(f"/{name}/v1?page_size=500", headers=HEADERS).json["entries"]
    kept = next(e for e in added if e["id"] == extraction["extraction_id"])
    assert kept["validated"] is True
    assert kept["expected_output"]["ballot_stats"] == truth["ballot_stats"]
    after = datasets_client.get("/candidates?limit=500", headers=HEADERS).json["items"]
    assert extraction["extraction_id"] not in {c["extraction_id"] for c in after}
