"""`extract`: POST /extract reads a form image; GET /extract/{extraction_id} returns the record;
the form types a reading can be of are served here too (`/extract/form-types`, shared/routes).

Thin handler (STYLE.md rule 1): parse and check the request, call the extraction service,
answer JSON. The contract is API.md's "extract" section.
"""

from __future__ import annotations

import json
from typing import Any

import flask
import functions_framework

from shared.config import get_settings
from shared.errors import InvalidField, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from shared.images import decode_image_base64
from shared.routes import form_types
from shared.services.extraction import ExtractionFilters, ExtractOptions, ImageSource
from shared.web import (
    REPLAYED_HEADER,
    Route,
    answer_routing_errors_as_json,
    idempotency_key,
    int_arg,
    json_body,
    json_response,
    known_extraction_id,
    parse_fields,
    recorded_name,
    serve,
)
from shared.wiring.extract import extraction_service
from shared.wiring.instance import prepare_instance

_JSON_FORM_FIELDS = ("params", "expected", "tags")
_TEXT_FORM_FIELDS = ("model", "prompt_version", "reference_docs", "form_type")
_BODY_OVERHEAD = 256 * 1024  # multipart boundaries and the other form fields
_PAGING_ARGS = ("page_size", "page_token")
MAX_PAGE_SIZE = 200

prepare_instance()  # the first request's libraries, at instance start
answer_routing_errors_as_json()


@functions_framework.http
def extract(request: flask.Request) -> flask.Response:
    return serve(request, ROUTES)


def create_extraction(request: flask.Request) -> flask.Response:
    settings = get_settings()
    # base64 in JSON is 4/3 of the image's size; anything bigger is refused before it is read.
    body_limit = settings.max_upload_bytes * 4 // 3 + _BODY_OVERHEAD
    if (request.content_length or 0) > body_limit:
        raise PayloadTooLarge(f"The request body is larger than {body_limit} bytes.")
    request.max_content_length = body_limit
    if request.mimetype == "multipart/form-data":
        options, source = _read_multipart(request, settings.max_upload_bytes)
    elif request.is_json:
        options, source = _read_json(json_body(request))
    elif not request.content_length and not request.get_data(cache=True):
        raise MalformedRequest("The request body is empty: send multipart/form-data with an image, or JSON.")
    else:
        raise UnsupportedMediaType("Send multipart/form-data (field `image`) or application/json.")
    extracted = extraction_service().extract(
        options, source, created_by=recorded_name(request), idempotency_key=idempotency_key(request)
    )
    record = extracted.record
    status = 200
    if record.status == "failed":
        status = 504 if record.error_code == "model_timeout" else 502
    response = json_response(record.model_dump(mode="json"), status)
    if extracted.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response


def get_extraction(request: flask.Request, extraction_id: str) -> flask.Response:
    return json_response(extraction_service().get(known_extraction_id(extraction_id)).model_dump(mode="json"))


def delete_extraction(request: flask.Request, extraction_id: str) -> flask.Response:
    extraction_service().delete(known_extraction_id(extraction_id, echoed=100))
    return flask.Response(status=204)


def list_extractions(request: flask.Request) -> flask.Response:
    page_size = int_arg(request, "page_size", default=50, low=1, high=MAX_PAGE_SIZE)
    fields = {name: value for name, value in request.args.items() if name not in _PAGING_ARGS}
    filters = parse_fields(ExtractionFilters, fields, what="filters")
    page = extraction_service().listing(filters, page_size=page_size, page_token=request.args.get("page_token"))
    return json_response(page)


def extraction_options(request: flask.Request) -> flask.Response:
    return json_response(extraction_service().options())


def get_image(request: flask.Request, extraction_id: str) -> flask.Response:
    image, content_type = extraction_service().image(known_extraction_id(extraction_id))
    return flask.Response(image, mimetype=content_type)


def _read_multipart(request: flask.Request, max_bytes: int) -> tuple[ExtractOptions, ImageSource]:
    unknown = set(request.form) - set(_JSON_FORM_FIELDS) - set(_TEXT_FORM_FIELDS)
    unknown |= set(request.files) - {"image"}
    if None in unknown or "" in unknown:  # a part whose Content-Disposition names no field
        raise InvalidField("Every form part needs a name (Content-Disposition: form-data; name=...).")
    repeated = sorted(
        name
        for name in {*request.form, *request.files}
        if len(request.form.getlist(name)) + len(request.files.getlist(name)) > 1
    )
    if repeated:
        raise InvalidField(f"Give each form field once: {', '.join(repeated)}.", details={"fields": repeated})
    if unknown:
        raise InvalidField(f"Unknown form fields: {', '.join(sorted(unknown))}.", details={"fields": sorted(unknown)})
    upload = request.files.get("image")
    if upload is None:
        raise InvalidField("The form needs a file field `image`.", details={"field": "image"})
    image = upload.read(max_bytes + 1)
    if len(image) > max_bytes:
        raise PayloadTooLarge(f"The image is larger than {max_bytes} bytes.", details={"limit_bytes": max_bytes})
    fields: dict[str, Any] = {name: request.form[name] for name in _TEXT_FORM_FIELDS if name in request.form}
    for name in _JSON_FORM_FIELDS:
        if name in request.form:
            try:
                fields[name] = json.loads(request.form[name])
            except ValueError:
                raise InvalidField(f"Form field `{name}` must be JSON.", details={"field": name}) from None
    return parse_fields(ExtractOptions, fields), ImageSource(data=image)


def _read_json(body: dict[str, Any]) -> tuple[ExtractOptions, ImageSource]:
    image_uri = body.pop("image_uri", None)
    image_base64 = body.pop("image_base64", None)
    if image_uri is not None and not isinstance(image_uri, str):
        raise InvalidField("image_uri must be a gs:// string.", details={"field": "image_uri"})
    if image_base64 is not None and not isinstance(image_base64, str):
        raise InvalidField("image_base64 must be a base64 string.", details={"field": "image_base64"})
    if (image_uri is None) == (image_base64 is None):
        raise InvalidField("Send exactly one of image_uri or image_base64.", details={"field": "image"})
    data = decode_image_base64(image_base64) if image_base64 is not None else None
    return parse_fields(ExtractOptions, body), ImageSource(data=data, uri=image_uri)


ROUTES = (
    *form_types.ROUTES,  # before `/{extraction_id}`, which matches `/form-types` too
    Route("POST", "/", create_extraction, "write"),
    Route("GET", "/", list_extractions, "read"),
    Route("GET", "/options", extraction_options, "read"),  # before `/{extraction_id}`, which matches it too
    Route("GET", "/{extraction_id}", get_extraction, "read"),
    Route("DELETE", "/{extraction_id}", delete_extraction, "write"),
    Route("GET", "/{extraction_id}/image", get_image, "read"),
)
