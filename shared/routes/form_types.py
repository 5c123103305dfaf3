"""`/extract/form-types`: the form types a reading can be of (shared/form_types: versions are
immutable, the built-ins are version 1 of their names)."""

from __future__ import annotations

from typing import Any

import flask
from pydantic import ValidationError

from shared.errors import InvalidField
from shared.form_types.model import FORM_TYPE_NAME_PATTERN, FormTypeDraft
from shared.form_types.validation import check_new_form_type
from shared.web import Route, json_body, json_response, limit_body, recorded_name, validation_details
from shared.wiring.form_types import form_type_registry

# 40 statistics and 30 rules of at most a few hundred characters each fit with room to spare.
MAX_FORM_TYPE_BODY_BYTES = 64 * 1024
_NAME_RULE = "a name is 1-40 lowercase letters, digits and _, starting with a letter (e.g. ke_county_a)"


def create_form_type(request: flask.Request) -> flask.Response:
    limit_body(request, MAX_FORM_TYPE_BODY_BYTES)
    draft = _draft(json_body(request))
    check_new_form_type(draft)
    stored = form_type_registry().create(draft, created_by=recorded_name(request))
    return json_response({"name": stored.name, "version": stored.version, "ref": stored.ref}, 201)


def list_form_types(request: flask.Request) -> flask.Response:
    return json_response({"items": [form_type.model_dump() for form_type in form_type_registry().listing()]})


def get_form_type(request: flask.Request, ref: str) -> flask.Response:
    return json_response(form_type_registry().describe(ref))


def _draft(body: dict[str, Any]) -> FormTypeDraft:
    """The body as a FormTypeDraft; InvalidField (422) with a sentence naming each problem (a
    rule's own sentence says what in it cannot be read)."""
    try:
        return FormTypeDraft.model_validate(body)
    except ValidationError as error:
        _, problems = validation_details(error)
        sentences = []
        for problem in problems[:5]:
            where = ".".join(str(part) for part in problem["loc"])
            said = str(problem["msg"]).removeprefix("Value error, ")
            if problem["loc"] == ("name",) and problem["type"] == "string_pattern_mismatch":
                said = _NAME_RULE
            sentences.append(f"{where}: {said}" if where else said)
        raise InvalidField(
            "Invalid form type: " + "; ".join(sentences) + ".",
            details={"errors": problems, "name_pattern": FORM_TYPE_NAME_PATTERN},
        ) from None


ROUTES = (
    Route("POST", "/form-types", create_form_type, "write"),
    Route("GET", "/form-types", list_form_types, "read"),
    Route("GET", "/form-types/{ref}", get_form_type, "read"),
)
