"""`/datasets/review/...`: the review queue (annotation queue) the datasets function serves beside
the datasets (API.md "review queue"): the queue, a claim, a decision, the evaluator agreement,
production accuracy."""

from __future__ import annotations

from datetime import UTC, datetime

import flask

from shared.errors import InvalidField
from shared.services.production_accuracy import accuracy_query
from shared.services.review import AgreementQuery, ClaimRequest, DecisionRequest, check_reason, check_state
from shared.web import Route, int_arg, json_body, json_response, known_extraction_id, parse_fields, recorded_name
from shared.wiring.datasets import production_accuracy_service, review_service

MAX_PAGE_SIZE = 500


def review_queue(request: flask.Request) -> flask.Response:
    unknown = set(request.args) - {"state", "reason", "page_size", "page_token"}
    if unknown:
        raise InvalidField(
            f"Unknown query arguments: {', '.join(sorted(unknown))}.", details={"fields": sorted(unknown)}
        )
    page = review_service().queue(
        state=check_state(request.args.get("state")),
        reason=check_reason(request.args.get("reason")),
        page_size=int_arg(request, "page_size", default=50, low=1, high=MAX_PAGE_SIZE),
        page_token=request.args.get("page_token"),
    )
    return json_response(page)


def review_claim(request: flask.Request) -> flask.Response:
    wanted = parse_fields(ClaimRequest, json_body(request), what="claim")
    wanted = wanted.model_copy(update={"reviewer": recorded_name(request, wanted.reviewer)})
    claimed = review_service().claim(wanted)
    return json_response(claimed) if claimed is not None else flask.Response(status=204)


def review_decision(request: flask.Request, extraction_id: str) -> flask.Response:
    known_extraction_id(extraction_id, what="review item", echoed=100)
    decision = parse_fields(DecisionRequest, json_body(request), what="decision")
    decision = decision.model_copy(update={"reviewer": recorded_name(request, decision.reviewer)})
    return json_response(review_service().decide(extraction_id, decision))


def review_agreement(request: flask.Request) -> flask.Response:
    unknown = set(request.args) - {"since"}
    if unknown:
        raise InvalidField(
            f"Unknown query arguments: {', '.join(sorted(unknown))}.", details={"fields": sorted(unknown)}
        )
    since = parse_fields(AgreementQuery, dict(request.args), what="since").since
    return json_response(review_service().agreement(since=since))


def review_accuracy(request: flask.Request) -> flask.Response:
    query = accuracy_query(dict(request.args), now=datetime.now(UTC))
    return json_response(production_accuracy_service().accuracy(query))


# First in the datasets function's routes: `/review/...` would match `/{name}/...` too.
ROUTES = (
    Route("GET", "/review/queue", review_queue, "read"),
    Route("POST", "/review/claim", review_claim, "review"),
    Route("GET", "/review/agreement", review_agreement, "read"),
    Route("GET", "/review/accuracy", review_accuracy, "read"),
    Route("POST", "/review/{extraction_id}/decision", review_decision, "review"),
)
