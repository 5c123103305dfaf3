"""`/experiments/judges`: stored judges' versions, labels and alignment with reviewers (served by
the `experiments` function)."""

from __future__ import annotations

import flask

from shared.errors import Conflict, NotFound
from shared.evaluation.judges.versions import AlignRequest, JudgeVersionRequest, LabelMove
from shared.web import Route, json_body, json_response, limit_body, parse_fields, recorded_name
from shared.wiring.judges import judge_alignment, judge_registry

MAX_JUDGE_BODY_BYTES = 64 * 1024
MAX_SMALL_BODY_BYTES = 4 * 1024


def create_judge_version(request: flask.Request) -> flask.Response:
    limit_body(request, MAX_JUDGE_BODY_BYTES)
    wanted = parse_fields(JudgeVersionRequest, json_body(request), what="judge version")
    version = judge_registry().create_version(wanted, created_by=recorded_name(request))
    return json_response({"name": version.name, "version": version.version, "ref": version.ref}, 201)


def list_judges(request: flask.Request) -> flask.Response:
    return json_response({"items": judge_registry().listing()})


def get_judge(request: flask.Request, name: str) -> flask.Response:
    return json_response(judge_registry().describe(name))


def get_judge_version(request: flask.Request, name: str, version: str) -> flask.Response:
    return json_response(judge_registry().version_body(name, version))


def get_alignment(request: flask.Request, name: str, version: str) -> flask.Response:
    stored = judge_registry().version(name, version)
    if stored.alignment is None:
        raise NotFound(
            f"Judge version {stored.ref} was not made by an alignment (POST /experiments/judges/{name}/align).",
            details={"ref": stored.ref},
        )
    return json_response(stored.alignment)


def move_judge_label(request: flask.Request, name: str) -> flask.Response:
    limit_body(request, MAX_SMALL_BODY_BYTES)
    wanted = parse_fields(LabelMove, json_body(request), what="label move")
    return json_response(judge_registry().move_label(name, label=wanted.label, version=wanted.version))


def align_judge(request: flask.Request, name: str) -> flask.Response:
    limit_body(request, MAX_SMALL_BODY_BYTES)
    body = json_body(request) if request.get_data(cache=True) else {}
    wanted = parse_fields(AlignRequest, body, what="alignment")
    return json_response(judge_alignment().align(name, wanted, created_by=recorded_name(request)), 201)


def refuse_judge_edit(request: flask.Request, name: str, version: str) -> flask.Response:
    raise Conflict(
        "A judge version is never edited or deleted: POST a new version to /experiments/judges and move a label to it.",
        details={"name": name[:100], "version": version[:40]},
    )


ROUTES = (
    Route("POST", "/judges", create_judge_version, "write"),
    Route("GET", "/judges", list_judges, "read"),
    Route("GET", "/judges/{name}", get_judge, "read"),
    Route("POST", "/judges/{name}/labels", move_judge_label, "write"),
    Route("POST", "/judges/{name}/align", align_judge, "write"),
    Route("GET", "/judges/{name}/{version}", get_judge_version, "read"),
    Route("GET", "/judges/{name}/{version}/alignment", get_alignment, "read"),
    Route("PUT", "/judges/{name}/{version}", refuse_judge_edit, "write"),
    Route("DELETE", "/judges/{name}/{version}", refuse_judge_edit, "write"),
)
