"""Corrections by form type (issue 24): `statistics` keys are checked against the extraction's
stored type, the corrected result is in that type's shape, `corrected_accuracy` covers the
statistics, and "a correction made it complete and consistent" is judged by the type's rules."""

from __future__ import annotations

import io
import json

import pytest
from google.cloud import firestore

from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration import stored
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
NG_EC8A_KEYS = [
    "registered_voters",
    "accredited_voters",
    "ballots_issued",
    "unused_ballots",
    "spoiled_ballots",
    "rejected_ballots",
    "valid_votes",
    "used_ballots",
]


def extract(extract_client, seed: int, **fields) -> dict:
    form = generate_form(seed)
    data = {"image": (io.BytesIO(form.image), "form.png"), "model": "tesseract"}
    data |= {name: value if isinstance(value, str) else json.dumps(value) for name, value in fields.items()}
    response = extract_client.post("/", data=data, headers=HEADERS, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    return response.json


def feedback(extraction: dict, corrections: dict, feedback_type: str = "thumbs_down") -> dict:
    return {
        "span_id": extraction["span_id"],
        "trace_id": extraction["trace_id"],
        "feedback_type": feedback_type,
        "corrections": corrections,
    }


def evaluation(body: dict, label: str) -> dict | None:
    return next((e for e in body["evaluations"] if e["label"] == label), None)


@pytest.fixture(scope="module")
def nigerian(extract_client) -> dict:
    return extract(extract_client, 2501, form_type="ng_ec8a")


@pytest.mark.parametrize(
    ("corrections", "field", "unknown"),
    [
        ({"statistics": {"total_ballots": 5}}, "corrections.statistics", ["total_ballots"]),
        ({"statistics": {"valid_votes": 5, "blank_votes": 1, "null_votes": 2}}, "corrections.statistics",
         ["blank_votes", "null_votes"]),
        ({"ballot_stats": {"total_ballots": 5}}, "corrections.ballot_stats", ["total_ballots"]),
    ],
)  # fmt: skip
def test_a_key_the_extractions_type_lacks_is_422_naming_it(nigerian, feedback_client, corrections, field, unknown):
    response = feedback_client.post("/", json=feedback(nigerian, corrections), headers=HEADERS)

    assert response.status_code == 422, response.json
    assert_matches_contract("/feedback", "POST", 422, response.json)
    details = response.json["error"]["details"]
    assert details["field"] == field and details["unknown"] == unknown and details["form_type"] == "ng_ec8a@1"
    assert all(key in response.json["error"]["message"] for key in unknown)
    assert stored.feedback_documents(nigerian["extraction_id"]) == []


def test_a_statistic_of_the_type_is_applied_in_its_shape(nigerian, extract_client, feedback_client):
    corrections = {"statistics": {"accredited_voters": 731, "used_ballots": 702}}

    response = feedback_client.post("/", json=feedback(nigerian, corrections), headers=HEADERS)

    assert response.status_code == 201, response.json
    accuracy = evaluation(response.json, "corrected_accuracy")
    assert accuracy is not None and accuracy["value"] < 1.0
    [record] = stored.feedback_documents(nigerian["extraction_id"])
    corrected = record["corrected_result"]
    assert sorted(corrected["statistics"]) == sorted(NG_EC8A_KEYS)  # a Firestore map keeps no order
    assert corrected["statistics"]["accredited_voters"] == 731 and corrected["statistics"]["used_ballots"] == 702
    assert corrected["form"]["form_type"] == "ng_ec8a@1"
    assert record["corrections"] == corrections
    listed = feedback_client.get("/", query_string={"extraction_id": nigerian["extraction_id"]}, headers=HEADERS)
    assert listed.json["items"][0]["corrected_result"]["statistics"]["accredited_voters"] == 731


def test_corrected_accuracy_counts_the_statistics(extract_client, feedback_client):
    extraction = extract(extract_client, 2502, form_type="ke_34a")
    stats = extraction["result"]["statistics"]
    one_statistic = {"statistics": {"disputed_votes": (stats["disputed_votes"] or 0) + 3}}

    response = feedback_client.post("/", json=feedback(extraction, one_statistic), headers=HEADERS)

    assert response.status_code == 201, response.json
    assert evaluation(response.json, "corrected_accuracy")["value"] < 1.0


def test_a_correction_that_makes_it_consistent_by_the_types_rules_is_a_golden_candidate(
    extract_client, feedback_client
):
    extraction = extract(extract_client, 2503, form_type="ke_34a")
    rows = extraction["result"]["vote_results"]
    assert rows and all(row["vote_count"] is not None for row in rows), rows
    total = sum(row["vote_count"] for row in rows)
    # ke_34a's rules: valid == sum(votes); valid + rejected <= registered. No total_ballots (the
    # generic rule that would need it does not apply).
    consistent = {"registered_voters": total + 100, "rejected_ballots": 7, "valid_votes": total}
    inconsistent = {"registered_voters": total, "rejected_ballots": 7, "valid_votes": total}

    over_voted = feedback_client.post("/", json=feedback(extraction, {"statistics": inconsistent}), headers=HEADERS)
    fixed = feedback_client.post("/", json=feedback(extraction, {"statistics": consistent}), headers=HEADERS)

    assert over_voted.status_code == 201 and fixed.status_code == 201, (over_voted.json, fixed.json)
    assert evaluation(over_voted.json, "golden_dataset_candidate") is None
    golden = evaluation(fixed.json, "golden_dataset_candidate")
    assert golden is not None and golden["value"] == "approved", fixed.json
    assert golden["reasoning"] == "a correction made it complete and consistent"


def test_a_record_made_before_form_types_is_corrected_as_generic(extract_client, feedback_client):
    extraction = extract(extract_client, 2504)
    document = firestore_client().collection("extractions").document(extraction["extraction_id"])
    document.update({"form_type": firestore.DELETE_FIELD})
    valid = extraction["result"]["ballot_stats"]["valid_votes"]

    foreign = feedback_client.post(
        "/", json=feedback(extraction, {"statistics": {"accredited_voters": 3}}), headers=HEADERS
    )
    by_key = feedback_client.post(
        "/", json=feedback(extraction, {"statistics": {"valid_votes": valid + 1}}), headers=HEADERS
    )

    assert foreign.status_code == 422 and foreign.json["error"]["details"]["form_type"] == "generic@1"
    assert by_key.status_code == 201, by_key.json
    [record] = stored.feedback_documents(extraction["extraction_id"])
    assert record["corrected_result"]["ballot_stats"]["valid_votes"] == valid + 1
    assert record["corrected_result"]["statistics"]["valid_votes"] == valid + 1
