"""`/experiments/prompts`: prompt versions and their labels (shared/prompts: versions are
immutable, labels move)."""

from __future__ import annotations

import flask
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from shared.errors import Conflict, InvalidField
from shared.models import WholeNumber
from shared.storable_maps import StorableMap
from shared.web import Route, json_body, json_response, limit_body, parse_fields, recorded_name
from shared.wiring.prompts import prompt_registry

MAX_PROMPT_BODY_BYTES = 128 * 1024  # a template is at most 64 KB; JSON escaping may nearly double it
MAX_LABEL_BODY_BYTES = 1024 * 1024


class PromptVersionRequest(BaseModel):
    """POST /experiments/prompts: a new version of `name` (the prompt is made with its first)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(max_length=63)
    template: StrictStr
    variables: list[StrictStr] = Field(default_factory=list, max_length=20)
    model_settings: StorableMap = Field(default_factory=dict)


class LabelMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: StrictStr = Field(max_length=32)
    version: WholeNumber = Field(ge=1, le=999_999_999)


def create_prompt_version(request: flask.Request) -> flask.Response:
    limit_body(request, MAX_PROMPT_BODY_BYTES)
    wanted = parse_fields(PromptVersionRequest, json_body(request), what="prompt version")
    version = prompt_registry().create_version(
        name=wanted.name,
        template=wanted.template,
        variables=wanted.variables,
        model_settings=wanted.model_settings,
        created_by=recorded_name(request),
    )
    body = {"name": version.name, "version": version.version, "ref": f"{version.name}@{version.version}"}
    return json_response(body, 201)


def list_prompts(request: flask.Request) -> flask.Response:
    return json_response({"items": prompt_registry().listing()})


def get_prompt(request: flask.Request, name: str) -> flask.Response:
    return json_response(prompt_registry().describe(name))


def get_prompt_version(request: flask.Request, name: str, version: str) -> flask.Response:
    return json_response(prompt_registry().version(name, version))


def refuse_prompt_edit(request: flask.Request, name: str, version: str) -> flask.Response:
    raise Conflict(
        "A prompt version is never edited or deleted: POST a new version to /experiments/prompts and move a "
        "label to it.",
        details={"name": name[:100], "version": version[:40]},
    )


def diff_prompt_versions(request: flask.Request, name: str) -> flask.Response:
    unknown = set(request.args) - {"from", "to"}
    missing = {"from", "to"} - set(request.args)
    if unknown or missing:
        raise InvalidField(
            "Give exactly the query arguments from and to (version numbers or labels).",
            details={"unknown": sorted(unknown), "missing": sorted(missing)},
        )
    return json_response(prompt_registry().diff(name, request.args["from"], request.args["to"]))


def move_prompt_label(request: flask.Request, name: str) -> flask.Response:
    limit_body(request, MAX_LABEL_BODY_BYTES)
    wanted = parse_fields(LabelMove, json_body(request), what="label move")
    head = prompt_registry().move_label(
        name, label=wanted.label, version=wanted.version, moved_by=recorded_name(request)
    )
    return json_response(head)


ROUTES = (
    Route("POST", "/prompts", create_prompt_version, "write"),
    Route("GET", "/prompts", list_prompts, "read"),
    Route("GET", "/prompts/{name}", get_prompt, "read"),
    Route("GET", "/prompts/{name}/diff", diff_prompt_versions, "read"),  # before `/prompts/{name}/{version}`
    Route("POST", "/prompts/{name}/labels", move_prompt_label, "write"),
    Route("GET", "/prompts/{name}/{version}", get_prompt_version, "read"),
    Route("PUT", "/prompts/{name}/{version}", refuse_prompt_edit, "write"),
    Route("PATCH", "/prompts/{name}/{version}", refuse_prompt_edit, "write"),
    Route("DELETE", "/prompts/{name}/{version}", refuse_prompt_edit, "write"),
)
