"""Bad dataset requests: the right status, the JSON error body, and nothing half-written."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


@pytest.fixture(scope="module")
def image_b64() -> str:
    return base64.b64encode(generate_form(81).image).decode()


@pytest.fixture(scope="module")
def truth() -> dict:
    return generate_form(81).truth.model_dump()


@pytest.fixture
def draft(datasets_client) -> str:
    name = f"bad_{uuid.uuid4().hex[:8]}"
    assert datasets_client.post("/", json={"name": name, "version": "v1"}, headers=HEADERS).status_code == 201
    return name


def entry(image_b64: str, truth: dict, **extra) -> dict:
    return {"input": {"image_base64": image_b64}, "expected_output": truth, **extra}


def entry_count(datasets_client, name: str, version: str = "v1") -> int:
    return datasets_client.get(f"/{name}/{version}", headers=HEADERS).json["entry_count"]


@pytest.mark.parametrize(
    "name",
    ["..", "a/b", "../etc", "UPPER", "with space", "tab\tname", "nul\x00", "bell\x07", "-leading", "x" * 64, "", "é"],
)
def test_hostile_dataset_names_are_422(datasets_client, name):
    response = datasets_client.post("/", json={"name": name, "version": "v1"}, headers=HEADERS)

    assert response.status_code == 422, response.json
    assert_matches_contract("/datasets", "POST", 422, response.json)
    assert all(d["name"] != name for d in datasets_client.get("/", headers=HEADERS).json["items"])


# "v1\n": re.match's $ took a trailing newline, and the version was created but unreachable (fuzzer).
@pytest.mark.parametrize(
    "version", ["..", "v1/..", "v1..2", "a/b", "ctl\x01", "x" * 40, "diff", "versions", "", "v1\n"]
)
def test_hostile_versions_are_422(datasets_client, version):
    name = f"ok_{uuid.uuid4().hex[:8]}"
    response = datasets_client.post("/", json={"name": name, "version": version}, headers=HEADERS)

    assert response.status_code == 422, response.json


@pytest.mark.parametrize("path", ["/%2E%2E/v1", "/UPPER/v1", "/name/ver%01sion", "/name/" + "v" * 40])
def test_hostile_names_in_paths_are_refused(datasets_client, path):
    response = datasets_client.get(path, headers=HEADERS)

    assert response.status_code in (404, 422), response.json
    assert response.json["error"]["code"] in ("not_found", "invalid_field")


def test_unknown_dataset_and_version_are_404(datasets_client, draft):
    assert datasets_client.get("/nope_never_made/v1", headers=HEADERS).status_code == 404
    assert datasets_client.get(f"/{draft}/v9", headers=HEADERS).status_code == 404
    assert datasets_client.post(f"/{draft}/v9/publish", headers=HEADERS).status_code == 404
    assert datasets_client.get(f"/{draft}/diff?from=v1&to=v9", headers=HEADERS).status_code == 404
    assert datasets_client.delete(f"/{draft}/v1/entries/nope", headers=HEADERS).status_code == 404
    assert (
        datasets_client.post(
            f"/{draft}/versions", json={"from_version": "v9", "version": "v2"}, headers=HEADERS
        ).status_code
        == 404
    )


def test_duplicate_ids_in_one_request_write_nothing(datasets_client, draft, image_b64, truth):
    body = {
        "entries": [
            entry(image_b64, truth, id="same"),
            entry(image_b64, truth, id="other"),
            entry(image_b64, truth, id="same"),
        ]
    }

    response = datasets_client.post(f"/{draft}/v1/entries", json=body, headers=HEADERS)

    assert response.status_code == 422 and response.json["error"]["details"]["duplicate_ids"] == ["same"]
    assert entry_count(datasets_client, draft) == 0


def test_an_existing_id_fails_the_whole_request(datasets_client, draft, image_b64, truth):
    datasets_client.post(f"/{draft}/v1/entries", json=entry(image_b64, truth, id="taken"), headers=HEADERS)

    response = datasets_client.post(
        f"/{draft}/v1/entries",
        json={"entries": [entry(image_b64, truth, id="fresh"), entry(image_b64, truth, id="taken")]},
        headers=HEADERS,
    )

    assert response.status_code == 409
    assert entry_count(datasets_client, draft) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"input": {"image_base64": "AAAA"}},  # no expected_output
        {"input": {}, "expected_output": {}},
        {"input": {"image_base64": "***"}, "expected_output": {}},
        {"input": {"image_uri": "gs://another-bucket/x.png"}, "expected_output": {}},
        {"input": {"image_uri": "gs://vote-extractor-images/../x.png"}, "expected_output": {}},
        {"input": {"image_base64": base64.b64encode(b"just text").decode()}, "expected_output": {}},
        {"input": {"image_base64": "AAAA"}, "expected_output": {"vote_results": "many"}},
        {"id": "../../x", "input": {"image_base64": "AAAA"}, "expected_output": {}},
        {"input": {"image_base64": "AAAA"}, "expected_output": {}, "surprise": 1},
    ],
)
def test_bad_entries_are_refused(datasets_client, draft, bad):
    response = datasets_client.post(f"/{draft}/v1/entries", json=bad, headers=HEADERS)

    assert response.status_code in (415, 422), response.json
    assert_matches_contract("/datasets/{name}/{version}/entries", "POST", response.status_code, response.json)
    assert entry_count(datasets_client, draft) == 0


def test_an_entry_id_with_a_trailing_newline_is_422(datasets_client, draft, image_b64, truth):
    # re.match's $ took a trailing newline: the entry was stored under an id no path can reach.
    response = datasets_client.post(f"/{draft}/v1/entries", json=entry(image_b64, truth, id="e1\n"), headers=HEADERS)

    assert response.status_code == 422, response.json
    assert entry_count(datasets_client, draft) == 0


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "metadata",
    [{"": 1}, {"__x__": 1}, {"x": {"": 1}}, {"x": [{"__y__": 1}]}, {"x": [[1]]}, {"x": 2**63}, nested(25)],
    ids=["empty-key", "reserved-key", "nested-empty-key", "key-in-array", "array-in-array", "int65", "25-deep"],
)
def test_metadata_firestore_cannot_store_is_422(datasets_client, metadata):
    # Found by the contract fuzzer: Firestore refused the write and the answer was a 500.
    name = f"meta_{uuid.uuid4().hex[:8]}"

    response = datasets_client.post("/", json={"name": name, "version": "v1", "metadata": metadata}, headers=HEADERS)

    assert response.status_code == 422, response.json
    assert_matches_contract("/datasets", "POST", 422, response.json)
    assert all(d["name"] != name for d in datasets_client.get("/", headers=HEADERS).json["items"])


@pytest.mark.parametrize("where", ["tags", "metadata"])
@pytest.mark.parametrize("key", ["", "__x__"])
def test_entry_keys_firestore_cannot_store_are_422(datasets_client, draft, image_b64, truth, where, key):
    bad = entry(image_b64, truth, tags={key: "v"})
    if where == "metadata":
        bad = {"input": {"image_base64": image_b64, "metadata": {key: "v"}}, "expected_output": truth}

    response = datasets_client.post(f"/{draft}/v1/entries", json=bad, headers=HEADERS)

    assert response.status_code == 422, response.json
    assert entry_count(datasets_client, draft) == 0


@pytest.mark.parametrize("extraction_id", ["", ".", "..", "a/b", "__x__", "x" * 65, "a\nb"])
def test_candidate_ids_that_cannot_name_an_extraction_are_422(datasets_client, draft, extraction_id):
    # Found by the contract fuzzer: these reached Firestore as document paths and answered 500.
    response = datasets_client.post(
        f"/{draft}/v1/candidates", json={"extraction_ids": [extraction_id]}, headers=HEADERS
    )

    assert response.status_code == 422, response.json
    assert_matches_contract("/datasets/{name}/{version}/candidates", "POST", 422, response.json)


def test_a_newline_in_a_path_segment_is_a_json_404_and_a_wrong_method_names_the_right_ones(datasets_client, draft):
    # Found by the contract fuzzer: Flask's HTML 404 page, and a 405 without Allow (RFC 9110).
    not_found = datasets_client.get(f"/{draft}/v1%0A/entries/e1/image", headers=HEADERS)
    wrong_method = datasets_client.put(f"/{draft}/v1/publish", headers=HEADERS)

    assert not_found.status_code == 404 and not_found.mimetype == "application/json"
    assert_matches_contract("/datasets/{name}/{version}/entries/{entry_id}/image", "GET", 404, not_found.json)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"


def test_a_malformed_jsonl_line_is_reported_and_the_others_imported(datasets_client, draft, image_b64, truth):
    lines = [
        json.dumps(entry(image_b64, truth, id="a")),
        '{"id": "b", "input": ',
        json.dumps(entry(image_b64, truth, id="c")),
        json.dumps({"id": "d", "input": {"image_base64": image_b64}}),
        json.dumps(entry(image_b64, truth, id="a")),
    ]
    body = ("\n".join(lines) + "\n").encode()

    strict = datasets_client.post(
        f"/{draft}/v1/import?all_or_nothing=true", data=body, content_type="application/x-ndjson", headers=HEADERS
    )
    assert strict.status_code == 200 and strict.json["imported"] == 0
    assert entry_count(datasets_client, draft) == 0

    lenient = datasets_client.post(
        f"/{draft}/v1/import", data=body, content_type="application/x-ndjson", headers=HEADERS
    )

    assert lenient.status_code == 200
    assert lenient.json["imported"] == 2
    assert [r["line"] for r in lenient.json["rejected"]] == [2, 4, 5]
    assert "expected_output" in lenient.json["rejected"][1]["reason"]
    assert entry_count(datasets_client, draft) == 2


def test_a_csv_with_wrong_columns_is_422_and_imports_nothing(datasets_client, draft):
    body = b"name,votes\nJane,12\n"

    response = datasets_client.post(f"/{draft}/v1/import", data=body, content_type="text/csv", headers=HEADERS)

    assert response.status_code == 422 and "columns" in response.json["error"]["message"]
    assert entry_count(datasets_client, draft) == 0


@pytest.mark.parametrize("all_or_nothing", ["true", "false"])
def test_a_csv_that_is_not_utf8_is_422_not_a_500(datasets_client, draft, image_b64, all_or_nothing):
    png = base64.b64decode(image_b64)  # found by contract fuzzing: a binary body sent as CSV

    response = datasets_client.post(
        f"/{draft}/v1/import?format=csv&all_or_nothing={all_or_nothing}",
        data=png,
        content_type="application/octet-stream",
        headers=HEADERS,
    )

    assert response.status_code == 422 and "not UTF-8" in response.json["error"]["message"], response.json
    assert_matches_contract("/datasets/{name}/{version}/import", "POST", 422, response.json)


def test_an_import_sent_as_octet_stream_reads_as_its_format_says(datasets_client, draft, image_b64, truth):
    line = json.dumps({"id": "octet-1", "input": {"image_base64": image_b64}, "expected_output": truth})
    as_csv = b"id,image_uri,expected_output\n"

    jsonl = datasets_client.post(
        f"/{draft}/v1/import", data=line.encode(), content_type="application/octet-stream", headers=HEADERS
    )
    csv_header_only = datasets_client.post(
        f"/{draft}/v1/import?format=csv", data=as_csv, content_type="application/octet-stream", headers=HEADERS
    )
    unknown_format = datasets_client.post(
        f"/{draft}/v1/import?format=xml", data=line.encode(), content_type="application/octet-stream", headers=HEADERS
    )

    assert jsonl.status_code == 200 and jsonl.json["imported"] == 1, jsonl.json
    assert csv_header_only.status_code == 200 and csv_header_only.json["imported"] == 0, csv_header_only.json
    assert unknown_format.status_code == 422 and unknown_format.json["error"]["details"] == {"field": "format"}


@pytest.mark.parametrize("flag", ["null", "maybe", ""])
def test_an_all_or_nothing_that_is_no_boolean_is_422(datasets_client, draft, flag):
    response = datasets_client.post(
        f"/{draft}/v1/import?all_or_nothing={flag}", data=b"{}", content_type="application/x-ndjson", headers=HEADERS
    )

    assert response.status_code == 422 and response.json["error"]["details"] == {"field": "all_or_nothing"}


def test_bad_paging_and_export_arguments(datasets_client, draft):
    assert datasets_client.get(f"/{draft}/v1?page_size=0", headers=HEADERS).status_code == 422
    assert datasets_client.get(f"/{draft}/v1?page_size=abc", headers=HEADERS).status_code == 422
    assert datasets_client.get(f"/{draft}/v1?page_token=%%%", headers=HEADERS).status_code == 400
    assert datasets_client.get(f"/{draft}/v1/export?format=xml", headers=HEADERS).status_code == 422
    assert (
        datasets_client.post(f"/{draft}/v1/import", data=b"x", content_type="image/png", headers=HEADERS).status_code
        == 415
    )
    assert datasets_client.get(f"/{draft}/diff?from=v1", headers=HEADERS).status_code == 422
    assert datasets_client.get("/", headers={}).status_code == 401
