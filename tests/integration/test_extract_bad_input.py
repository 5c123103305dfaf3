"""Bad requests to `extract` get the right status and the JSON error body, and nothing is stored."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration import stored
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def form_png() -> bytes:
    return generate_form(3).image


def multipart(image: bytes, name: str = "form.png", **fields) -> dict:
    return {"data": {"image": (io.BytesIO(image), name), **fields}, "content_type": "multipart/form-data"}


BAD_REQUESTS = {
    "no-api-key": (
        lambda png: {"data": b"{}", "content_type": "application/json", "headers": {}},
        401,
        "unauthenticated",
    ),
    "wrong-api-key": (
        lambda png: {"json": {"image_base64": base64.b64encode(png).decode()}, "headers": {"X-API-Key": "nope"}},
        401,
        "unauthenticated",
    ),
    "empty-body": (lambda png: {"data": b""}, 400, "malformed_request"),
    "malformed-json": (
        lambda png: {"data": b'{"image_base64": ', "content_type": "application/json"},
        400,
        "malformed_request",
    ),
    "json-array": (lambda png: {"json": [1, 2]}, 400, "malformed_request"),
    "text-named-png": (
        lambda png: multipart(b"hello, I am text pretending to be a PNG"),
        415,
        "unsupported_media_type",
    ),
    "12-mb-upload": (
        lambda png: multipart(b"\x89PNG\r\n\x1a\n" + b"\x00" * (12 * 1024 * 1024)),
        413,
        "payload_too_large",
    ),
    "pixel-bomb": (lambda png: multipart(png_claiming(50_000, 50_000)), 413, "payload_too_large"),
    "image-uri-other-bucket": (
        lambda png: {"json": {"image_uri": "gs://someone-else/images/x.png"}},
        422,
        "invalid_field",
    ),
    "image-uri-traversal": (
        lambda png: {"json": {"image_uri": "gs://vote-extractor-images/images/../../secrets.png"}},
        422,
        "invalid_field",
    ),
    "expected-not-vote-extraction": (
        lambda png: multipart(png, expected=json.dumps({"votes": "lots"})),
        422,
        "invalid_field",
    ),
    "expected-not-json": (lambda png: multipart(png, expected="{not json"), 422, "invalid_field"),
    "unknown-model": (lambda png: multipart(png, model="gpt-17"), 422, "invalid_field"),
    "unknown-prompt": (lambda png: multipart(png, prompt_version="prompt_z"), 422, "invalid_field"),
    "bad-params": (lambda png: multipart(png, params=json.dumps({"deskew": "yes"})), 422, "invalid_field"),
    "no-image-field": (
        lambda png: {"data": {"model": "tesseract"}, "content_type": "multipart/form-data"},
        422,
        "invalid_field",
    ),
    "both-image-sources": (
        lambda png: {"json": {"image_base64": base64.b64encode(png).decode(), "image_uri": "gs://x/y"}},
        422,
        "invalid_field",
    ),
    "bad-base64": (lambda png: {"json": {"image_base64": "***not base64***"}}, 422, "invalid_field"),
    "too-many-tags": (
        lambda png: multipart(png, tags=json.dumps({f"k{i}": "v" for i in range(21)})),
        422,
        "invalid_field",
    ),
    "plain-text-body": (lambda png: {"data": b"hello", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    # Found by the contract fuzzer: a part without a name was a 500 (sorting None with the names).
    "unnamed-part": (lambda png: unnamed_part_multipart(png), 422, "invalid_field"),
    # Firestore reserves __name__-shaped field names: the write failed after the model ran (503).
    # Found by the deep contract fuzz: a repeated field (model twice) was answered with the first one.
    "repeated-field": (lambda png: repeated_model_multipart(png), 422, "invalid_field"),
    "reserved-tag-key": (lambda png: multipart(png, tags=json.dumps({"__a__": "x"})), 422, "invalid_field"),
    # Found by the contract fuzzer: lax int took true and "12" as counts of a ground truth (12.0 is 12, as JSON says).
    "boolean-count": (lambda png: with_expected(png, {"ballot_stats": {"total_ballots": True}}), 422, "invalid_field"),
    "text-count": (
        lambda png: with_expected(png, {"vote_results": [{"candidate_name": "A", "vote_count": "12"}]}),
        422,
        "invalid_field",
    ),
    "reserved-params-key": (lambda png: multipart(png, params=json.dumps({"__a__": 1})), 422, "invalid_field"),
}


def with_expected(image: bytes, expected: dict) -> dict:
    return {"json": {"image_base64": base64.b64encode(image).decode(), "model": "tesseract", "expected": expected}}


def repeated_model_multipart(image: bytes) -> dict:
    boundary = "fuzz-boundary"
    text_parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n{model}\r\n'
        for model in ("tesseract", "gemini-2.5-flash")
    )
    body = (
        (
            text_parts + f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="f.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def unnamed_part_multipart(image: bytes) -> dict:
    boundary = "fuzz-boundary"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nno name\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="f.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_is_refused_with_the_json_error_body_and_nothing_stored(extract_client, form_png, case):
    build, status, code = BAD_REQUESTS[case]
    request = {"headers": HEADERS, **build(form_png)}
    extractions_before, images_before = stored.extraction_count(), stored.image_names()

    response = extract_client.post("/", **request)

    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert_matches_contract("/extract", "POST", status, response.json)
    error = response.json["error"]
    assert error["code"] == code and error["message"] and "details" in error
    assert stored.extraction_count() == extractions_before
    assert stored.image_names() == images_before


@pytest.mark.integration
@pytest.mark.parametrize("extraction_id", ["does-not-exist", "__reserved__", "..", "a" * 200])
def test_unknown_extraction_id_is_404(extract_client, extraction_id):
    response = extract_client.get(f"/{extraction_id}", headers=HEADERS)

    assert response.status_code == 404
    assert_matches_contract("/extract/{extraction_id}", "GET", 404, response.json)
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.integration
def test_wrong_method_and_path_are_json_errors(extract_client):
    refused = extract_client.delete("/", headers=HEADERS)
    assert refused.status_code == 405 and refused.json["error"]["code"] == "method_not_allowed"
    assert refused.headers["Allow"] == "POST, GET"  # RFC 9110; found by the contract fuzzer
    assert extract_client.get("/a/b/c", headers=HEADERS).json["error"]["code"] == "not_found"


@pytest.mark.integration
@pytest.mark.parametrize("since", ["0.5", "1700000000", "yesterday", "2026-11-27T09"])
def test_a_since_that_is_not_iso_8601_is_422(extract_client, since):
    # Found by the contract fuzzer: pydantic took "0.5" as a Unix time and the listing answered 200.
    response = extract_client.get("/", query_string={"since": since}, headers=HEADERS)

    assert response.status_code == 422, response.json
    assert_matches_contract("/extract", "GET", 422, response.json)


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/abc%0Adef", "/abc%0A/image", "/robots.txt"])
def test_a_path_flask_cannot_route_is_a_json_404(extract_client, path):
    # Found by the contract fuzzer: a newline in a path segment got Flask's HTML 404 page.
    response = extract_client.get(path, headers=HEADERS)

    assert response.status_code == 404 and response.mimetype == "application/json"
    assert_matches_contract("/extract/{extraction_id}", "GET", 404, response.json)
