"""`form_type` on POST /extract (issue 24): resolved through the registry, the output shaped by
it, judged by its rules, stored as `name@n`; over the real emulators with the offline model (real
Tesseract).

Until each built-in has a rendered form of its own, the built-ins read today's generic synthetic
form: the rules are named whatever the reading says.
"""

from __future__ import annotations

import base64
import io
import json
import uuid

import pytest
from google.cloud import firestore

from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration import stored
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


def post_form(extract_client, seed: int, **fields):
    form = generate_form(seed)
    data = {"image": (io.BytesIO(form.image), "form.png"), "model": "tesseract"}
    data |= {name: value if isinstance(value, str) else json.dumps(value) for name, value in fields.items()}
    return extract_client.post("/", data=data, headers=HEADERS, content_type="multipart/form-data")


def evaluation(body: dict, label: str) -> dict:
    return next(e for e in body["evaluations"] if e["label"] == label)


def form_type(extract_client, ref: str) -> dict:
    response = extract_client.get(f"/form-types/{ref}", headers=HEADERS)
    assert response.status_code == 200, response.json
    return response.json


@pytest.mark.parametrize("name", ["generic", "ng_ec8a", "bo_acta", "ke_34a"])
def test_each_builtin_reads_judges_and_stores_by_its_type(extract_client, name):
    wanted = form_type(extract_client, name)

    response = post_form(extract_client, 2401, form_type=name)

    assert response.status_code == 200, response.json
    body = response.json
    assert_matches_contract("/extract", "POST", 200, body)
    assert body["form_type"] == f"{name}@1"
    consistency = evaluation(body, "consistency")
    assert consistency["details"]["form_type"] == f"{name}@1"
    assert [c["rule"] for c in consistency["details"]["checks"]] == [r["id"] for r in wanted["rules"]]
    assert all(c["status"] in ("pass", "fail", "not_checked") for c in consistency["details"]["checks"])
    assert list(body["result"]["statistics"]) == [s["key"] for s in wanted["statistics"]]
    if name != "generic":
        assert body["result"]["form"]["form_type"] == f"{name}@1"
        assert body["result"]["ballot_stats"] == {"valid_votes": None, "rejected_ballots": None, "total_ballots": None}
    assert ("figures_match_words" in {e["label"] for e in body["evaluations"]}) <= wanted["figures_in_words"]
    fetched = extract_client.get(f"/{body['extraction_id']}", headers=HEADERS).json
    assert fetched["form_type"] == f"{name}@1" and fetched["result"] == body["result"]
    assert stored.extraction_document(body["extraction_id"])["form_type"] == f"{name}@1"


def test_without_form_type_it_is_generic_as_before(extract_client):
    response = post_form(extract_client, 2402)

    assert response.status_code == 200, response.json
    assert response.json["form_type"] == "generic@1"
    result = response.json["result"]
    assert result["ballot_stats"]["valid_votes"] is not None
    assert result["statistics"] == result["ballot_stats"]
    checks = evaluation(response.json, "consistency")["details"]["checks"]
    assert [c["rule"] for c in checks] == ["valid_is_sum_of_votes", "total_is_valid_plus_rejected"]


def test_form_type_in_a_json_body_by_version(extract_client):
    form = generate_form(2403)

    response = extract_client.post(
        "/", json={"image_base64": base64.b64encode(form.image).decode(), "form_type": "ke_34a@1"}, headers=HEADERS
    )

    assert response.status_code == 200, response.json
    assert response.json["form_type"] == "ke_34a@1"
    assert evaluation(response.json, "consistency")["details"]["form_type"] == "ke_34a@1"


@pytest.mark.parametrize("ref", ["no_such_type", "generic@7", "../../form_types", "NG_EC8A", "x" * 80])
def test_an_unknown_form_type_is_422_naming_it_and_nothing_is_stored(extract_client, ref):
    before = stored.extraction_count()

    response = post_form(extract_client, 2404, form_type=ref)

    assert response.status_code == 422, response.json
    assert_matches_contract("/extract", "POST", 422, response.json)
    assert response.json["error"]["details"]["field"] == "form_type"
    assert "form type" in response.json["error"]["message"]
    assert stored.extraction_count() == before


def test_expected_is_checked_against_the_type(extract_client):
    truth = generate_form(2405).truth.model_dump()
    foreign = truth | {"statistics": {"valid_votes": 10, "accredited_voters": 12}}
    before = stored.extraction_count()

    on_generic = post_form(extract_client, 2405, expected=foreign)
    on_kenya = post_form(extract_client, 2405, form_type="ke_34a", expected=truth)

    assert on_generic.status_code == 422, on_generic.json
    assert "accredited_voters" in on_generic.json["error"]["message"]
    assert on_generic.json["error"]["details"]["unknown"] == ["accredited_voters"]
    # generic's ballot_stats carry total_ballots, which a Kenyan 34A does not print.
    assert on_kenya.status_code == 422, on_kenya.json
    assert on_kenya.json["error"]["details"] == {
        "field": "expected.ballot_stats",
        "unknown": ["total_ballots"],
        "form_type": "ke_34a@1",
        "statistics": ["registered_voters", "rejected_ballots", "rejected_objected", "disputed_votes", "valid_votes"],
    }
    assert stored.extraction_count() == before


def test_an_expected_output_in_the_types_own_keys_is_taken(extract_client):
    truth = generate_form(2406).truth
    stats = truth.ballot_stats
    expected = truth.model_dump() | {
        "ballot_stats": {},
        "statistics": {"valid_votes": stats.valid_votes, "rejected_ballots": stats.rejected_ballots},
    }

    response = post_form(extract_client, 2406, form_type="ke_34a", expected=expected)

    assert response.status_code == 200, response.json
    assert response.json["expected"]["statistics"]["valid_votes"] == stats.valid_votes
    assert evaluation(response.json, "extraction_quality")["value"] is not None


def county_type(extract_client) -> str:
    """A county's own form, made through the API: its rules hold on a consistent paper but for
    one that cannot (valid votes one above their sum)."""
    name = f"county_{uuid.uuid4().hex[:10]}"
    body = {
        "name": name,
        "title": "County tally sheet",
        "statistics": [
            {"key": "valid_votes", "label": "Valid votes"},
            {"key": "rejected_ballots", "label": "Rejected ballots"},
        ],
        "rules": [
            {"id": "valid_is_sum_of_votes", "expr": "valid_votes == sum(votes)"},
            {"id": "valid_one_above_the_rows", "expr": "valid_votes == sum(votes) + 1"},
        ],
    }
    created = extract_client.post("/form-types", json=body, headers=HEADERS)
    assert created.status_code == 201, created.json
    return name


def test_a_user_defined_type_judges_an_extraction_by_its_own_rules(extract_client):
    name = county_type(extract_client)

    response = post_form(extract_client, 2407, form_type=name)

    assert response.status_code == 200, response.json
    body = response.json
    assert body["form_type"] == f"{name}@1"
    assert list(body["result"]["statistics"]) == ["valid_votes", "rejected_ballots"]
    consistency = evaluation(body, "consistency")
    checks = {c["rule"]: c for c in consistency["details"]["checks"]}
    assert list(checks) == ["valid_is_sum_of_votes", "valid_one_above_the_rows"]
    assert checks["valid_is_sum_of_votes"]["status"] == "pass", checks
    assert checks["valid_one_above_the_rows"]["status"] == "fail", checks
    valid = body["result"]["statistics"]["valid_votes"]
    assert f"valid_votes ({valid})" in checks["valid_one_above_the_rows"]["detail"]
    assert consistency["value"] is False and consistency["assessment"] == "fail"
    assert "valid_one_above_the_rows fails" in consistency["reasoning"]
    review = firestore_client().collection("review_items").document(body["extraction_id"]).get().to_dict()
    assert "consistency_failed" in review["reasons"]


def test_a_record_made_before_form_types_reads_as_generic(extract_client):
    made = post_form(extract_client, 2408).json
    document = firestore_client().collection("extractions").document(made["extraction_id"])
    document.update({"form_type": firestore.DELETE_FIELD})
    assert "form_type" not in document.get().to_dict()

    fetched = extract_client.get(f"/{made['extraction_id']}", headers=HEADERS)
    listed = extract_client.get("/", headers=HEADERS, query_string={"page_size": 200})

    assert fetched.status_code == 200
    assert fetched.json["form_type"] == "generic@1"
    assert_matches_contract("/extract/{extraction_id}", "GET", 200, fetched.json)
    [item] = [i for i in listed.json["items"] if i["extraction_id"] == made["extraction_id"]]
    assert item["form_type"] == "generic@1"
