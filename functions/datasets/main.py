"""`datasets`: versioned golden datasets (the guide's section 2 paths, made real).

Thin handlers (STYLE.md rule 1): parse, call the dataset service, answer JSON (or a stream).
The contract is API.md's "datasets" section and openapi.yaml.
"""

from __future__ import annotations

from typing import TypeVar

import flask
import functions_framework
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.errors import InvalidField, UnsupportedMediaType
from shared.routes import review
from shared.services.dataset_entries import EntryRequest, EntryUpdate
from shared.services.datasets import (
    CandidatesRequest,
    CreateDatasetRequest,
    FromTraceRequest,
    NewVersionRequest,
)
from shared.web import (
    Route,
    answer_routing_errors_as_json,
    int_arg,
    json_body,
    json_response,
    parse_fields,
    recorded_name,
    serve,
)
from shared.wiring.datasets import dataset_service
from shared.wiring.instance import prepare_instance

Body = TypeVar("Body", bound=BaseModel)
MAX_IMPORT_BYTES = 512 * 1024 * 1024
MAX_PAGE_SIZE = 500
_BOOLEAN = TypeAdapter(bool)  # a query flag as pydantic reads one: true/false, 1/0, yes/no, on/off

prepare_instance()  # the first request's libraries, at instance start
answer_routing_errors_as_json()


@functions_framework.http
def datasets(request: flask.Request) -> flask.Response:
    return serve(request, ROUTES)


def list_datasets(request: flask.Request) -> flask.Response:
    return json_response({"items": dataset_service().listing()})


def create_dataset(request: flask.Request) -> flask.Response:
    wanted = parse_fields(CreateDatasetRequest, json_body(request))
    created = dataset_service().create(wanted, created_by=recorded_name(request))
    return json_response(created.model_dump(mode="json") | {"name": wanted.name}, 201)


def get_version(request: flask.Request, name: str, version: str) -> flask.Response:
    page_size = int_arg(request, "page_size", default=100, low=1, high=MAX_PAGE_SIZE)
    page = dataset_service().get(name, version, page_size=page_size, page_token=request.args.get("page_token"))
    return json_response(page)


def add_entries(request: flask.Request, name: str, version: str) -> flask.Response:
    body = json_body(request)
    raw = body["entries"] if set(body) == {"entries"} else [body]
    if not isinstance(raw, list):
        raise InvalidField("`entries` must be a list of entries.", details={"field": "entries"})
    entries = []
    for index, item in enumerate(raw):
        entries.append(parse_fields(EntryRequest, item, what=f"entry {index}"))
    ids = dataset_service().add_entries(name, version, entries, created_by=recorded_name(request))
    return json_response({"entry_ids": ids}, 201)


def add_from_trace(request: flask.Request, name: str, version: str) -> flask.Response:
    wanted = parse_fields(FromTraceRequest, json_body(request))
    entry_id = dataset_service().from_trace(name, version, wanted, created_by=recorded_name(request))
    return json_response({"entry_id": entry_id}, 201)


def add_candidates(request: flask.Request, name: str, version: str) -> flask.Response:
    body = json_body(request) if request.get_data(cache=True) else {}
    wanted = parse_fields(CandidatesRequest, body)
    ids = dataset_service().add_candidates(name, version, wanted, created_by=recorded_name(request))
    return json_response({"entry_ids": ids}, 201)


def list_candidates(request: flask.Request) -> flask.Response:
    limit = int_arg(request, "limit", default=100, low=1, high=MAX_PAGE_SIZE)
    return json_response({"items": dataset_service().candidates(limit=limit)})


def publish(request: flask.Request, name: str, version: str) -> flask.Response:
    return json_response(dataset_service().publish(name, version).model_dump(mode="json") | {"name": name})


def push_to_datadog(request: flask.Request, name: str, version: str) -> flask.Response:
    pushed, now = dataset_service().push_to_datadog(name, version)
    return json_response(pushed.model_dump(mode="json") | {"name": name}, 201 if now else 200)


def new_version(request: flask.Request, name: str) -> flask.Response:
    wanted = parse_fields(NewVersionRequest, json_body(request))
    created = dataset_service().new_version(name, wanted, created_by=recorded_name(request))
    return json_response(created.model_dump(mode="json") | {"name": name}, 201)


def get_entry(request: flask.Request, name: str, version: str, entry_id: str) -> flask.Response:
    return json_response(dataset_service().entry(name, version, entry_id).model_dump(mode="json"))


def get_entry_image(request: flask.Request, name: str, version: str, entry_id: str) -> flask.Response:
    image, content_type = dataset_service().entry_image(name, version, entry_id)
    return flask.Response(image, mimetype=content_type)


def update_entry(request: flask.Request, name: str, version: str, entry_id: str) -> flask.Response:
    update = parse_fields(EntryUpdate, json_body(request), what="entry fields")
    return json_response(dataset_service().update_entry(name, version, entry_id, update).model_dump(mode="json"))


def delete_entry(request: flask.Request, name: str, version: str, entry_id: str) -> flask.Response:
    dataset_service().delete_entry(name, version, entry_id)
    return flask.Response(status=204)


def delete_version(request: flask.Request, name: str, version: str) -> flask.Response:
    dataset_service().delete_version(name, version)
    return flask.Response(status=204)


def delete_dataset(request: flask.Request, name: str) -> flask.Response:
    dataset_service().delete_dataset(name)
    return flask.Response(status=204)


def diff(request: flask.Request, name: str) -> flask.Response:
    old, new = request.args.get("from"), request.args.get("to")
    if not old or not new:
        raise InvalidField("Give ?from=VERSION&to=VERSION.", details={"fields": ["from", "to"]})
    return json_response(dataset_service().diff(name, old, new))


def export(request: flask.Request, name: str, version: str) -> flask.Response:
    fmt = request.args.get("format", "jsonl")
    lines = dataset_service().export(name, version, fmt)
    mimetype = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    response = flask.Response(lines, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{version}.{fmt}"'
    return response


def import_entries(request: flask.Request, name: str, version: str) -> flask.Response:
    if request.mimetype in ("application/x-ndjson", "application/jsonl", "application/json", "text/plain"):
        fmt = "jsonl"
    elif request.mimetype == "text/csv":
        fmt = "csv"
    elif request.mimetype == "application/octet-stream":
        # What generated clients send (openapi-python-client has no text bodies): `?format=` says which.
        fmt = request.args.get("format", "jsonl")
        if fmt not in ("jsonl", "csv"):
            raise InvalidField("format must be jsonl or csv.", details={"field": "format"})
    else:
        raise UnsupportedMediaType(
            "Import JSONL (application/x-ndjson) or CSV (text/csv), or application/octet-stream with ?format=."
        )
    request.max_content_length = MAX_IMPORT_BYTES
    try:
        all_or_nothing = _BOOLEAN.validate_python(request.args.get("all_or_nothing", "false"))
    except ValidationError:
        raise InvalidField("all_or_nothing must be true or false.", details={"field": "all_or_nothing"}) from None
    report = dataset_service().import_entries(
        name, version, request.stream, fmt=fmt, all_or_nothing=all_or_nothing, created_by=recorded_name(request)
    )
    body = {"imported": report.imported, "rejected": report.rejected, "rejected_count": report.rejected_count}
    return json_response(body, 200)


ROUTES = (
    # The review queue first: `/review/...` would match `/{name}/...` too (and `review` is a
    # reserved dataset name).
    *review.ROUTES,
    Route("GET", "/", list_datasets, "read"),
    Route("POST", "/", create_dataset, "write"),
    Route("GET", "/candidates", list_candidates, "read"),
    Route("GET", "/{name}/diff", diff, "read"),
    Route("POST", "/{name}/versions", new_version, "write"),
    Route("DELETE", "/{name}/versions/{version}", delete_version, "write"),
    Route("DELETE", "/{name}", delete_dataset, "write"),
    Route("GET", "/{name}/{version}", get_version, "read"),
    Route("POST", "/{name}/{version}/entries", add_entries, "write"),
    Route("POST", "/{name}/{version}/from-trace", add_from_trace, "write"),
    Route("POST", "/{name}/{version}/publish", publish, "write"),
    Route("POST", "/{name}/{version}/push-to-datadog", push_to_datadog, "write"),
    Route("POST", "/{name}/{version}/candidates", add_candidates, "write"),
    Route("GET", "/{name}/{version}/entries/{entry_id}", get_entry, "read"),
    Route("PUT", "/{name}/{version}/entries/{entry_id}", update_entry, "write"),
    Route("DELETE", "/{name}/{version}/entries/{entry_id}", delete_entry, "write"),
    Route("GET", "/{name}/{version}/entries/{entry_id}/image", get_entry_image, "read"),
    Route("GET", "/{name}/{version}/export", export, "read"),
    Route("POST", "/{name}/{version}/import", import_entries, "write"),
)
