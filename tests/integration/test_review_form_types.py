"""Expected outputs made from traffic (from-trace, the review queue's approve and correct) are
checked against their form type as a client's entries are, over the real emulators and the
offline model: an unknown statistic is a 422 naming it, and nothing is written."""

from __future__ import annotations

import io

from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.integration.builders import HEADERS, new_draft
from tests.openapi_contract import assert_matches_contract


def extract(extract_client, seed: int) -> dict:
    form = generate_form(seed)
    response = extract_client.post(
        "/", data={"image": (io.BytesIO(form.image), "f.png")}, headers=HEADERS, content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.json
    return response.json


def trace_of(extraction: dict) -> dict:
    return {"span_id": extraction["span_id"], "trace_id": extraction["trace_id"]}


def version_of(datasets_client, name: str) -> dict:
    return datasets_client.get(f"/{name}/v1", headers=HEADERS).json


def test_from_trace_keeps_the_readings_type_and_its_checks(datasets_client, extract_client):
    extraction = extract(extract_client, 411)
    name = new_draft(datasets_client, "trace_ft")

    traced = datasets_client.post(f"/{name}/v1/from-trace", json=trace_of(extraction), headers=HEADERS)

    assert traced.status_code == 201, traced.json
    [stored] = version_of(datasets_client, name)["entries"]
    assert stored["form_type"] == "generic@1"
    assert [c["rule"] for c in stored["checks"]] == ["valid_is_sum_of_votes", "total_is_valid_plus_rejected"]
    assert all(c["status"] in ("pass", "fail", "not_checked") and c["detail"] for c in stored["checks"])


def test_from_trace_of_a_reading_of_another_type_is_that_type(datasets_client, extract_client):
    form = generate_form(414)
    read = extract_client.post(
        "/",
        data={"image": (io.BytesIO(form.image), "f.png"), "form_type": "ke_34a"},
        headers=HEADERS,
        content_type="multipart/form-data",
    )
    assert read.status_code == 200, read.json
    name = new_draft(datasets_client, "trace_ft")

    traced = datasets_client.post(f"/{name}/v1/from-trace", json=trace_of(read.json), headers=HEADERS)

    assert traced.status_code == 201, traced.json
    [stored] = version_of(datasets_client, name)["entries"]
    assert stored["form_type"] == "ke_34a@1"
    assert [c["rule"] for c in stored["checks"]] == ["valid_is_sum_of_votes", "not_over_voted"]


def test_from_trace_of_a_reading_with_a_statistic_its_type_lacks_is_a_422_naming_it(datasets_client, extract_client):
    extraction = extract(extract_client, 412)
    # A stored reading that states a row its paper does not print (as a buggy reader might).
    firestore_client().document(f"extractions/{extraction['extraction_id']}").update(
        {"result.statistics": {"valid_votes": 10, "ballots_in_box": 12}}
    )
    name = new_draft(datasets_client, "trace_ft")

    traced = datasets_client.post(f"/{name}/v1/from-trace", json=trace_of(extraction), headers=HEADERS)

    assert traced.status_code == 422, traced.json
    assert_matches_contract("/datasets/{name}/{version}/from-trace", "POST", 422, traced.json)
    assert traced.json["error"]["details"]["unknown"] == ["ballots_in_box"]
    assert "generic@1" in traced.json["error"]["message"]
    assert version_of(datasets_client, name)["entry_count"] == 0
    record = firestore_client().document(f"extractions/{extraction['extraction_id']}").get().to_dict()
    assert not record.get("in_dataset")


def test_a_review_correction_with_an_unknown_statistic_is_refused_and_the_claim_kept(
    clean_firestore, datasets_client, extract_client, feedback_client
):
    extraction = extract(extract_client, 413)
    thumbs_down = trace_of(extraction) | {"feedback_type": "thumbs_down"}
    assert feedback_client.post("/", json=thumbs_down, headers=HEADERS).status_code == 201
    extraction_id = extraction["extraction_id"]
    name = new_draft(datasets_client, "review_ft")
    claimed = datasets_client.post(
        "/review/claim", json={"reviewer": "ada", "extraction_id": extraction_id}, headers=HEADERS
    )
    assert claimed.status_code == 200, claimed.json
    approve = {"reviewer": "ada", "decision": "approve", "target": {"name": name, "version": "v1"}}

    refused = datasets_client.post(
        f"/review/{extraction_id}/decision",
        json=approve | {"corrections": {"statistics": {"accredited_voters": 300}}},
        headers=HEADERS,
    )

    assert refused.status_code == 422, refused.json
    assert refused.json["error"]["details"]["field"] == "corrections.statistics"
    assert "names accredited_voters" in refused.json["error"]["message"]
    assert version_of(datasets_client, name)["entry_count"] == 0
    queue = datasets_client.get("/review/queue?state=claimed", headers=HEADERS).json
    assert [(i["extraction_id"], i["claimed_by"]) for i in queue["items"]] == [(extraction_id, "ada")]

    corrected = datasets_client.post(
        f"/review/{extraction_id}/decision",
        json=approve | {"corrections": {"ballot_stats": {"valid_votes": 1, "rejected_ballots": 2, "total_ballots": 3}}},
        headers=HEADERS,
    )

    assert corrected.status_code == 200, corrected.json
    [entry] = version_of(datasets_client, name)["entries"]
    assert entry["form_type"] == "generic@1" and entry["validated"] is True
    verdicts = {c["rule"]: c for c in entry["checks"]}
    assert verdicts["total_is_valid_plus_rejected"]["status"] == "pass"
    assert "valid_votes (1)" in verdicts["valid_is_sum_of_votes"]["detail"]
    assert verdicts["valid_is_sum_of_votes"]["status"] == "fail"  # the rows do not add up to 1
