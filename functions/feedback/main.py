"""`feedback`: POST /feedback records a person's verdict on an extraction; GET lists them.

Thin handler (STYLE.md rule 1). The contract is API.md's "feedback" section.
"""

from __future__ import annotations

import flask
import functions_framework

from shared.errors import InvalidField
from shared.services.feedback import FeedbackRequest
from shared.web import (
    Route,
    answer_routing_errors_as_json,
    json_body,
    json_response,
    known_extraction_id,
    parse_fields,
    recorded_name,
    serve,
)
from shared.wiring.feedback import feedback_service
from shared.wiring.instance import prepare_instance

prepare_instance(storage=False)  # the first request's libraries, at instance start
answer_routing_errors_as_json()


@functions_framework.http
def feedback(request: flask.Request) -> flask.Response:
    return serve(request, ROUTES)


def create_feedback(request: flask.Request) -> flask.Response:
    submitted = parse_fields(FeedbackRequest, json_body(request), what="feedback")
    submitted = submitted.model_copy(update={"author": recorded_name(request, submitted.author)})
    record, created = feedback_service().submit(submitted)
    body = {
        "status": "recorded",
        "feedback_id": record.feedback_id,
        "extraction_id": record.extraction_id,
        "golden_candidate": record.golden_candidate,
        "author": record.author,
        "evaluations": [evaluation.model_dump(mode="json") for evaluation in record.evaluations],
    }
    return json_response(body, 201 if created else 200)


def list_feedback(request: flask.Request) -> flask.Response:
    extraction_id = request.args.get("extraction_id", "")
    if not extraction_id:
        raise InvalidField("Give ?extraction_id= to list its feedback.", details={"field": "extraction_id"})
    items = feedback_service().list_for(known_extraction_id(extraction_id))
    return json_response({"items": [item.model_dump(mode="json") for item in items]})


ROUTES = (
    Route("POST", "/", create_feedback, "feedback"),
    Route("GET", "/", list_feedback, "read"),
)
