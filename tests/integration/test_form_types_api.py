"""The form-type API (issue 24): GET/POST /extract/form-types and GET /extract/form-types/{ref},
through the extract function over the Firestore emulator; bad input is a 4xx naming the
problem, and nothing is stored after one."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import TEST_API_KEY
from tests.integration.test_api_keys import api_keys_secret, as_key
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
BUILTIN_KEYS = {
    "generic": ["valid_votes", "rejected_ballots", "total_ballots"],
    "ng_ec8a": [
        "registered_voters",
        "accredited_voters",
        "ballots_issued",
        "unused_ballots",
        "spoiled_ballots",
        "rejected_ballots",
        "valid_votes",
        "used_ballots",
    ],
    "bo_acta": ["registered_voters", "ballots_in_box", "unused_ballots", "valid_votes", "blank_votes", "null_votes"],
    "ke_34a": ["registered_voters", "rejected_ballots", "rejected_objected", "disputed_votes", "valid_votes"],
}


def county_form(name: str, **changes) -> dict:
    """A county's own tally sheet: its own keys and rules."""
    return {
        "name": name,
        "title": "County tally sheet A",
        "country": "KE",
        "language": "en",
        "statistics": [
            {"key": "registered_voters", "label": "Registered voters"},
            {"key": "valid_votes", "label": "Valid votes"},
            {"key": "spoilt", "label": "Spoilt papers"},
        ],
        "rules": [
            {"id": "valid_is_sum_of_votes", "expr": "valid_votes == sum(votes)"},
            {"id": "turnout_within_register", "expr": "valid_votes + spoilt <= registered_voters", "severity": "error"},
        ],
    } | changes


def unique_name(prefix: str = "county") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def listed(extract_client) -> list[dict]:
    response = extract_client.get("/form-types", headers=HEADERS)
    assert response.status_code == 200, response.json
    return response.json["items"]


def test_the_builtins_are_listed_with_their_fixed_keys(extract_client):
    response = extract_client.get("/form-types", headers=HEADERS)

    assert response.status_code == 200
    assert_matches_contract("/extract/form-types", "GET", 200, response.json)
    by_name = {item["name"]: item for item in response.json["items"]}
    for name, keys in BUILTIN_KEYS.items():
        assert [s["key"] for s in by_name[name]["statistics"]] == keys
        assert by_name[name]["version"] == 1
    assert by_name["ng_ec8a"]["figures_in_words"] is True and by_name["bo_acta"]["language"] == "es"
    options = extract_client.get("/options", headers=HEADERS).json
    assert set(BUILTIN_KEYS) <= set(options["form_types"]) and options["default_form_type"] == "generic"
    assert_matches_contract("/extract/options", "GET", 200, options)


@pytest.mark.parametrize("ref", ["ng_ec8a", "ng_ec8a@1"])
def test_one_type_by_name_or_version(extract_client, ref):
    response = extract_client.get(f"/form-types/{ref}", headers=HEADERS)

    assert response.status_code == 200, response.json
    assert_matches_contract("/extract/form-types/{ref}", "GET", 200, response.json)
    assert response.json["name"] == "ng_ec8a" and response.json["version"] == 1
    assert response.json["versions"] == [1]
    assert "used_ballots == spoiled_ballots + rejected_ballots + valid_votes" in [
        r["expr"] for r in response.json["rules"]
    ]


@pytest.mark.parametrize(
    "ref", ["no_such_type", "generic@2", "Generic", "..%2F..%2Fetc", "a" * 300, "x%0Ay", "ng_ec8a@0", "ng_ec8a@x"]
)
def test_an_unknown_or_impossible_type_is_404(extract_client, ref):
    response = extract_client.get(f"/form-types/{ref}", headers=HEADERS)

    assert response.status_code == 404, response.json
    assert_matches_contract("/extract/form-types/{ref}", "GET", 404, response.json)
    assert len(response.json["error"]["message"]) < 200


def test_a_user_defined_type_is_stored_versioned_and_listed(extract_client):
    name = unique_name()

    first = extract_client.post("/form-types", json=county_form(name), headers=HEADERS)
    renamed = county_form(name, title="County tally sheet A (2027)")
    second = extract_client.post("/form-types", json=renamed, headers=HEADERS)

    assert first.status_code == 201, first.json
    assert_matches_contract("/extract/form-types", "POST", 201, first.json)
    assert first.json == {"name": name, "version": 1, "ref": f"{name}@1"}
    assert second.status_code == 201 and second.json["version"] == 2
    described = extract_client.get(f"/form-types/{name}", headers=HEADERS).json
    assert described["version"] == 2 and described["versions"] == [1, 2]
    assert described["title"] == "County tally sheet A (2027)"
    assert [s["key"] for s in described["statistics"]] == ["registered_voters", "valid_votes", "spoilt"]
    old = extract_client.get(f"/form-types/{name}@1", headers=HEADERS).json
    assert old["title"] == "County tally sheet A" and old["versions"] == [1, 2]
    assert [item["version"] for item in listed(extract_client) if item["name"] == name] == [2]


def _rule(expr: str) -> dict:
    return {"rules": [{"id": "r1", "expr": expr}]}


BAD_FORM_TYPES = {
    "unparsable rule": (_rule("valid_votes = sum(votes)"), "r1"),
    "two comparisons": (_rule("valid_votes == spoilt == 0"), "one comparison"),
    "unsafe rule": (_rule("__import__('os').system('id') == 0"), "cannot read"),
    "attribute access": (_rule("valid_votes.__class__ == 1"), "cannot read"),
    "multiplication": (_rule("valid_votes * 2 == spoilt"), "cannot read"),
    "unknown key in a rule": (_rule("valid_votes == total_ballots"), "total_ballots"),
    "duplicate key": (
        {"statistics": [{"key": "valid_votes", "label": "A"}, {"key": "valid_votes", "label": "B"}], "rules": []},
        "duplicate statistic key valid_votes",
    ),
    "duplicate rule id": (
        {"rules": [{"id": "r1", "expr": "valid_votes >= 0"}, {"id": "r1", "expr": "spoilt >= 0"}]},
        "duplicate rule id r1",
    ),
    "bad severity": ({"rules": [{"id": "r1", "expr": "valid_votes >= 0", "severity": "fatal"}]}, "severity"),
    "path traversal name": ({"name": "../../form_types/generic"}, "name"),
    "name with a newline": ({"name": "county\n"}, "name"),
    "name with a slash": ({"name": "county/a"}, "name"),
    "upper-case name": ({"name": "County"}, "name"),
    "name too long": ({"name": "c" * 41}, "name"),
    "control character in a label": (
        {"statistics": [{"key": "valid_votes", "label": "Valid\x1b[31m"}], "rules": []},
        "control characters",
    ),
    "control character in the title": ({"title": "tally\r\nX-Injected: 1"}, "control characters"),
    "bad key": ({"statistics": [{"key": "Valid Votes", "label": "Valid"}], "rules": []}, "statistics.0.key"),
    "no statistics": ({"statistics": []}, "statistics"),
    "statistics not a list": ({"statistics": "valid_votes"}, "statistics"),
    "title not a string": ({"title": 7}, "title"),
    "words flag not a boolean": ({"figures_in_words": "yes"}, "figures_in_words"),
    "a version given": ({"version": 3}, "version"),
    "unknown field": ({"owner": "me"}, "owner"),
}


@pytest.mark.parametrize("case", BAD_FORM_TYPES, ids=list(BAD_FORM_TYPES))
def test_bad_form_types_are_422_naming_the_problem_and_nothing_is_stored(extract_client, case):
    changes, named = BAD_FORM_TYPES[case]
    name = unique_name()
    body = county_form(name) | changes
    before = listed(extract_client)

    response = extract_client.post("/form-types", json=body, headers=HEADERS)

    assert response.status_code == 422, response.json
    assert_matches_contract("/extract/form-types", "POST", 422, response.json)
    message = response.json["error"]["message"]
    assert message.startswith("Invalid form type: ") and named in message, message
    assert "\n" not in message and "\x1b" not in message
    assert listed(extract_client) == before
    assert extract_client.get(f"/form-types/{name}", headers=HEADERS).status_code == 404


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"name": "county_x", "title": ', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"", "application/json"),
        (b'{"name": "county_x"}', "text/plain"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(extract_client, raw, content_type):
    before = listed(extract_client)

    response = extract_client.post("/form-types", data=raw, headers={**HEADERS, "Content-Type": content_type})

    assert response.status_code == 400, response.json
    assert_matches_contract("/extract/form-types", "POST", 400, response.json)
    assert listed(extract_client) == before


def test_a_builtin_is_fixed(extract_client):
    before = extract_client.get("/form-types/generic", headers=HEADERS).json

    response = extract_client.post(
        "/form-types", json=county_form("generic", statistics=[{"key": "valid_votes", "label": "V"}], rules=[]),
        headers=HEADERS,
    )  # fmt: skip

    assert response.status_code == 409, response.json
    assert "built-in" in response.json["error"]["message"]
    assert extract_client.get("/form-types/generic", headers=HEADERS).json == before


def test_a_huge_body_is_413(extract_client):
    body = county_form(unique_name(), title="t" * 100, description="x" * 70_000)

    response = extract_client.post("/form-types", json=body, headers=HEADERS)

    assert response.status_code == 413, response.json


def test_reading_needs_read_and_creating_needs_write(extract_client, configure):
    configure(API_KEYS=api_keys_secret())
    name = unique_name()

    by_reader = extract_client.post("/form-types", json=county_form(name), headers=as_key("k-read"))
    by_feedback_key = extract_client.get("/form-types", headers=as_key("k-feedback"))
    read = extract_client.get("/form-types/generic", headers=as_key("k-read"))
    by_writer = extract_client.post("/form-types", json=county_form(name), headers=as_key("k-write"))

    assert by_reader.status_code == 403 and by_feedback_key.status_code == 403
    assert read.status_code == 200
    assert by_writer.status_code == 201, by_writer.json
    assert extract_client.get("/form-types", headers={"X-API-Key": "nope"}).status_code == 401
