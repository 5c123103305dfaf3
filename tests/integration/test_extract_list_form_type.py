"""`GET /extract?form_type=NAME` lists the extractions of that form type: `name` covers each of
its versions, `name@n` that version only, combined with the other filters (AND).

Real Tesseract reads the forms; Firestore is the emulator, queried as in production (an `in` on
`form_type`, newest first, served by the (form_type, created_at) index in shared/storage/indexes.py).
"""

from __future__ import annotations

import base64
import uuid

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration.test_form_types_api import county_form
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


def read_as(extract_client, seed: int, **fields) -> str:
    body = {"image_base64": base64.b64encode(generate_form(seed).image).decode(), "model": "tesseract", **fields}
    response = extract_client.post("/", json=body, headers=HEADERS)
    assert response.status_code == 200, response.json
    return response.json["extraction_id"]


def listed(extract_client, query: str) -> list[str]:
    response = extract_client.get(f"/?{query}", headers=HEADERS)
    assert response.status_code == 200, response.json
    assert_matches_contract("/extract", "GET", 200, response.json)
    return [item["extraction_id"] for item in response.json["items"]]


@pytest.mark.integration
def test_the_list_filters_by_form_type_name_or_version(clean_firestore, extract_client):
    name = f"county_{uuid.uuid4().hex[:10]}"
    assert extract_client.post("/form-types", json=county_form(name), headers=HEADERS).status_code == 201
    first = read_as(extract_client, 1780, form_type=f"{name}@1")
    renamed = county_form(name, title="County tally sheet A (2027)")
    assert extract_client.post("/form-types", json=renamed, headers=HEADERS).status_code == 201
    second = read_as(extract_client, 1781, form_type=name)  # its newest version: @2
    generic = read_as(extract_client, 1782)

    every_version = listed(extract_client, f"form_type={name}")
    one_version = listed(extract_client, f"form_type={name}@2")
    generic_by_tesseract = listed(extract_client, "form_type=generic&model=tesseract&status=succeeded")
    other_model = listed(extract_client, f"form_type={name}&model=gemini-2.5-flash")

    assert every_version == [second, first]  # newest first
    assert one_version == [second]
    assert generic_by_tesseract == [generic]
    assert other_model == []


@pytest.mark.integration
@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("form_type=no_such_type", "no_such_type"),
        ("form_type=generic@99", "generic"),
        ("form_type=", "form_type"),
        ("form_type=Not%20A%20Type", "form type"),
    ],
    ids=["unknown-name", "unknown-version", "empty", "not-a-name"],
)
def test_an_unknown_form_type_filter_is_422_with_a_sentence(extract_client, query, said):
    response = extract_client.get(f"/?{query}", headers=HEADERS)

    assert response.status_code == 422, response.json
    assert said in response.json["error"]["message"]
    assert_matches_contract("/extract", "GET", 422, response.json)
