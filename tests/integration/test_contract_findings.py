"""What the contract fuzz found under every check (issue 25, item 5), one test each, against the real
functions on the emulators: fixed path words never fall to an `{id}` route, `Allow` lists the
resource's own methods, a plain OPTIONS (no CORS preflight) answers its methods, a whole number
written 3.0 is 3, and `since` is a real date, as openapi.yaml says."""

from __future__ import annotations

import pytest
import yaml

from shared.api_keys import PERSON_NAME_PATTERN
from shared.models import ISO_8601_SINCE
from tests.conftest import TEST_API_KEY
from tests.integration.conftest import ALLOWED_ORIGIN
from tests.openapi_contract import SPEC_PATH

HEADERS = {"X-API-Key": TEST_API_KEY}


@pytest.mark.parametrize(
    ("client_name", "method", "path", "allow"),
    [
        # `/extract/options` also matched `/{extraction_id}`: DELETE reached "No extraction 'options'".
        ("extract_client", "DELETE", "/options", "GET"),
        ("extract_client", "DELETE", "/form-types", "POST, GET"),
        ("extract_client", "PUT", "/options", "GET"),
        # `/datasets/review/claim` also matched `/{name}/{version}`, `/x/versions` a `{version}`.
        ("datasets_client", "GET", "/review/claim", "POST"),
        ("datasets_client", "GET", "/fuzz/versions", "POST"),
        ("datasets_client", "DELETE", "/candidates", "GET"),
        # `/prompts/p/labels` and `/prompts/p/diff` also matched `/prompts/{name}/{version}`.
        ("experiments_client", "DELETE", "/prompts/prompt_a/labels", "POST"),
        ("experiments_client", "PUT", "/prompts/prompt_a/diff", "GET"),
    ],
)
def test_a_fixed_path_word_is_never_an_id(request, client_name, method, path, allow):
    client = request.getfixturevalue(client_name)

    refused = client.open(path, method=method, headers=HEADERS)
    asked = client.options(path)

    assert refused.status_code == 405 and refused.json["error"]["code"] == "method_not_allowed"
    assert refused.headers["Allow"] == allow
    assert asked.status_code == 204 and asked.headers["Allow"] == allow


def test_an_id_route_still_takes_any_other_word(extract_client, datasets_client):
    missing = extract_client.get("/optionsx", headers=HEADERS)
    version = datasets_client.get("/fuzz/versionsx", headers=HEADERS)

    assert missing.status_code == 404 and missing.json["error"]["message"] == "No extraction 'optionsx'."
    assert version.status_code == 404 and version.json["error"]["code"] == "not_found"


def test_options_without_a_preflight_answers_the_methods_without_a_key(feedback_client, extract_client):
    """Not a preflight (no Access-Control-Request-Method, or no Origin): RFC 9110's OPTIONS, 204 with
    Allow. It was 405 "OPTIONS is not allowed here" on /feedback, whose preflight the document declares."""
    origin_only = feedback_client.options("/", headers={"Origin": ALLOWED_ORIGIN})
    bare = feedback_client.options("/")
    empty_origin = feedback_client.options("/", headers={"Origin": "", "Access-Control-Request-Method": "POST"})
    nowhere = extract_client.options("/x/y/z")

    assert origin_only.status_code == 204 and origin_only.headers["Allow"] == "POST, GET"
    assert origin_only.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert bare.status_code == 204 and bare.headers["Allow"] == "POST, GET"
    assert "Access-Control-Allow-Origin" not in bare.headers
    assert empty_origin.status_code == 204 and empty_origin.headers["Allow"] == "POST, GET"
    assert nowhere.status_code == 404 and nowhere.json["error"]["code"] == "not_found"


def test_a_preflight_is_unchanged(feedback_client):
    preflight = feedback_client.options(
        "/", headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"}
    )

    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, OPTIONS, POST"


@pytest.mark.parametrize(("version", "status"), [(1.0, 200), (1, 200), (1.5, 422), (True, 422), ("1", 422)])
def test_a_whole_number_written_as_a_float_is_that_number(experiments_client, version, status):
    """JSON Schema's `integer` (what openapi.yaml says) takes 1.0, and JSON has one number type:
    refusing 13296.0 was a 422 for a schema-valid request. 1.5, true and "1" stay refused."""
    moved = experiments_client.post(
        "/prompts/prompt_a/labels", json={"label": "production", "version": version}, headers=HEADERS
    )

    assert moved.status_code == status, moved.json
    if status == 200:
        assert moved.json["labels"]["production"] == 1


@pytest.mark.parametrize(
    ("since", "status"),
    [
        ("2024-02-29", 200),
        ("2026-11-27 09:00", 200),
        ("2026-11-27T09:00:00.5+05:30", 200),
        ("0000-00-00", 422),
        ("2023-02-29", 422),
        ("2026-13-01", 422),
        ("2026-11-27T24:00", 422),
        ("2026-11-27Z", 422),
    ],
)
def test_since_is_a_real_date(extract_client, datasets_client, since, status):
    listed = extract_client.get("/", query_string={"since": since}, headers=HEADERS)
    agreement = datasets_client.get("/review/agreement", query_string={"since": since}, headers=HEADERS)

    assert (listed.status_code, agreement.status_code) == (status, status), (listed.json, agreement.json)


def test_the_documented_since_is_the_one_the_server_holds():
    document = yaml.safe_load(SPEC_PATH.read_text())

    assert document["components"]["schemas"]["Since"]["pattern"] == ISO_8601_SINCE


def test_the_documented_person_names_are_the_ones_the_server_holds():
    document = yaml.safe_load(SPEC_PATH.read_text())
    author = document["components"]["schemas"]["FeedbackRequest"]["properties"]["author"]
    decision = document["paths"]["/datasets/review/{extraction_id}/decision"]["post"]["requestBody"]["content"]

    assert author["pattern"] == PERSON_NAME_PATTERN
    assert decision["application/json"]["schema"]["properties"]["reviewer"]["pattern"] == PERSON_NAME_PATTERN
