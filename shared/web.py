"""The HTTP edge shared by every function: API-key check, routing, JSON, errors in one place.

A function's `main.py` declares its routes and hands the request to `serve`. Every failure,
ours or werkzeug's, leaves as the JSON error body with the right status; anything unexpected is
logged and answered as an opaque 500 (never for something a client sent: those are ours).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import flask
import functions_framework
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.exceptions import NotFound as RoutingNotFound

from shared.api_keys import ApiKey, Scope, acting_as, find_key
from shared.config import get_settings
from shared.errors import (
    Forbidden,
    InvalidField,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    VoteExtractorError,
    error_body,
    unavailable,
)
from shared.models import EXTRACTION_ID_PATTERN

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"  # a client's retry of a POST /extract makes one record
REPLAYED_HEADER = "Idempotent-Replayed"  # "true" on an answer a repeat of that key found made
_CALLER = "vote_extractor.caller"  # where `serve` keeps the request's caller (request.environ)
_EXTRACTION_ID = re.compile(EXTRACTION_ID_PATTERN)
ParsedBody = TypeVar("ParsedBody", bound=BaseModel)
Handler = Callable[..., flask.Response]
Authenticate = Callable[[flask.Request], ApiKey]


@dataclass(frozen=True)
class Route:
    """`pattern` is the path inside the function, e.g. `/` or `/{extraction_id}`; `scope` is what
    the caller's key must grant (shared/api_keys.py)."""

    method: str
    pattern: str
    handler: Handler
    scope: Scope

    def match(self, path: str, reserved: Reserved | None = None) -> dict[str, str] | None:
        """The path's parameters when it is this route's; a `{param}` never takes a fixed word that
        a sibling route has in its place (`reserved`, see `reserved_words`)."""
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern.rstrip("/")) + "/?$"
        found = re.match(regex, path)
        if not found:
            return None
        if reserved:
            parts = path.strip("/").split("/")
            for index, segment in enumerate(self.segments):
                if segment.startswith("{") and parts[index] in reserved.get(_shape(self.segments[:index]), ()):
                    return None
        return found.groupdict()

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.pattern.strip("/").split("/")) if self.pattern.strip("/") else ()


# Where a `{param}` stands (the shape of the segments before it) -> the fixed words siblings have there.
Reserved = dict[tuple[str, ...], frozenset[str]]


def _shape(segments: Sequence[str]) -> tuple[str, ...]:
    return tuple("{}" if segment.startswith("{") else segment for segment in segments)


def reserved_words(routes: Sequence[Route]) -> Reserved:
    """The fixed path words of a function's routes, by the place they stand in: `/extract/options`
    and `/extract/form-types` are never an `{extraction_id}`, `/datasets/x/versions` never a
    `{version}`. Without this `DELETE /extract/options` reached the delete of an extraction named
    options (404), and `Allow` on `/extract/options` listed that route's DELETE."""
    words: dict[tuple[str, ...], set[str]] = {}
    for route in routes:
        for index, segment in enumerate(route.segments):
            if not segment.startswith("{"):
                words.setdefault(_shape(route.segments[:index]), set()).add(segment)
    return {shape: frozenset(found) for shape, found in words.items()}


@functools.lru_cache(maxsize=16)
def _reserved_of(routes: tuple[Route, ...]) -> Reserved:
    """`reserved_words` once per function's routes (they are fixed), not on every request."""
    return reserved_words(routes)


def serve(
    request: flask.Request, routes: Sequence[Route], *, authenticate: Authenticate | None = None
) -> flask.Response:
    """Authenticate (the API key unless told otherwise), route and answer; every error becomes the
    JSON error body. CORS applies to all."""
    origin = request.headers.get("Origin")
    reserved = _reserved_of(tuple(routes))
    if request.method == "OPTIONS" and origin and request.headers.get("Access-Control-Request-Method"):
        return preflight(origin, routes, request.path, reserved)
    if request.method == "OPTIONS":
        response = _options(routes, request.path, reserved)
    else:
        response = _answer(request, routes, authenticate or require_api_key, reserved)
    if origin and origin_allowed(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = f"Content-Type, {REPLAYED_HEADER}"
        response.vary.add("Origin")
    return response


def _options(routes: Sequence[Route], path: str, reserved: Reserved) -> flask.Response:
    """OPTIONS that is no CORS preflight (no Origin or no Access-Control-Request-Method): RFC 9110
    section 9.3.7, the methods the resource takes in `Allow`; no key needed, as for a preflight. It
    was 405 ("OPTIONS is not allowed here"), which contradicted the preflight the document declares."""
    methods = _methods(routes, path, reserved)
    if not methods:
        return error_response(NotFound(f"No endpoint at {path}."))
    response = flask.Response(status=204)
    response.headers["Allow"] = ", ".join(methods)
    return response


def _methods(routes: Sequence[Route], path: str, reserved: Reserved) -> list[str]:
    """The methods of the routes that `path` is, in the routes' order, each once."""
    return list(dict.fromkeys(route.method for route in routes if route.match(path, reserved) is not None))


def _answer(
    request: flask.Request, routes: Sequence[Route], authenticate: Authenticate, reserved: Reserved
) -> flask.Response:
    try:
        caller = authenticate(request)
        request.environ[_CALLER] = caller
        allowed = []
        for route in routes:
            params = route.match(request.path, reserved)
            if params is None:
                continue
            if route.method == request.method:
                if not caller.may(route.scope):
                    raise Forbidden(
                        f"The key {caller.name!r} may not {route.method} here: this needs the "
                        f"{route.scope!r} scope (or admin).",
                        details={"key": caller.name, "scope": route.scope},
                    )
                return route.handler(request, **params)
            if route.method not in allowed:
                allowed.append(route.method)
        if allowed:
            methods = ", ".join(allowed)
            refused = error_response(MethodNotAllowed(f"{request.method} is not allowed here; use {methods}."))
            refused.headers["Allow"] = methods  # RFC 9110: a 405 names the methods that work
            return refused
        raise NotFound(f"No endpoint at {request.path}.")
    except RequestEntityTooLarge:
        return error_response(PayloadTooLarge("The request body is too large."))
    except HTTPException as error:  # werkzeug's parsing errors: the client's fault
        return error_response(MalformedRequest(error.description or "The request could not be parsed."))
    except VoteExtractorError as error:
        return error_response(error)
    except Exception as error:
        down = unavailable(error)
        if down is not None:  # a dependency is down: 503, the client may retry
            logger.warning("dependency unavailable on %s %s: %r", request.method, request.path, error)
            return error_response(down)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(error)


def answer_routing_errors_as_json() -> None:
    """Call at the top of a function's main.py: the 404 that Flask answers before `serve` runs (a
    path its `/<path:path>` rule cannot hold, such as one with a newline; /robots.txt) leaves as
    our JSON error body, not Flask's HTML page."""
    functions_framework.errorhandler(RoutingNotFound)(_routing_not_found)


def _routing_not_found(error: RoutingNotFound) -> flask.Response:
    path = flask.request.path if flask.has_request_context() else ""
    return error_response(NotFound(f"No endpoint at {path!r}."))


def origin_allowed(origin: str) -> bool:
    allowed = get_settings().cors_origin_list
    return "*" in allowed or origin in allowed


def preflight(origin: str, routes: Sequence[Route], path: str, reserved: Reserved | None = None) -> flask.Response:
    """A browser asks before a cross-origin POST with X-API-Key; it carries no key itself."""
    if not origin_allowed(origin):
        return error_response(Forbidden(f"Origin {origin!r} is not allowed (CORS_ALLOWED_ORIGINS)."))
    reserved = _reserved_of(tuple(routes)) if reserved is None else reserved
    methods = sorted({*_methods(routes, path, reserved), "OPTIONS"})
    response = flask.Response(status=204)
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
    response.headers["Access-Control-Allow-Headers"] = f"Content-Type, {API_KEY_HEADER}, {IDEMPOTENCY_KEY_HEADER}"
    response.headers["Access-Control-Max-Age"] = "600"
    response.vary.add("Origin")
    return response


def require_api_key(request: flask.Request) -> ApiKey:
    """The configured key of the request's X-API-Key (sha256 digests compared in constant time
    against every configured key, no early exit on a match)."""
    given = request.headers.get(API_KEY_HEADER) or ""
    found = find_key(given, get_settings().api_key_entries)
    if not given or found is None:
        raise Unauthenticated(f"A valid {API_KEY_HEADER} header is required.")
    return found


def caller_of(request: flask.Request) -> ApiKey:
    """Who is calling: the key (or service) `serve` authenticated."""
    return request.environ[_CALLER]


def recorded_name(request: flask.Request, person: str | None = None) -> str:
    """The name a write records for the caller (and the `person` a request names, if any):
    Forbidden (403) when the caller's key may not act under that name."""
    try:
        return acting_as(caller_of(request), person)
    except PermissionError as error:
        raise Forbidden(str(error), details={"key": caller_of(request).name}) from None


def json_response(body: Any, status: int = 200) -> flask.Response:
    return flask.Response(json.dumps(body, default=str), status=status, mimetype="application/json")


def error_response(error: Exception) -> flask.Response:
    body, status = error_body(error)
    return json_response(body, status)


def validation_details(error: ValidationError) -> tuple[str, list[dict[str, Any]]]:
    """A sentence naming the bad fields, and pydantic's errors without the input echoed back."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    where = ", ".join(".".join(str(part) for part in problem["loc"]) or "body" for problem in problems[:5])
    first = problems[0]["msg"] if problems else "invalid"
    return f"{where} ({first})", [dict(problem) for problem in problems]


def parse_fields(model: type[ParsedBody], fields: Any, *, what: str = "fields") -> ParsedBody:
    """Validate client data into `model`; a mismatch is InvalidField (422) naming the bad fields."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        sentence, problems = validation_details(error)
        raise InvalidField(f"Invalid {what}: {sentence}.", details={"errors": problems}) from None


def int_arg(request: flask.Request, name: str, *, default: int, low: int, high: int) -> int:
    """A whole-number query argument within bounds, or InvalidField."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidField(f"{name} must be a whole number from {low} to {high}.", details={"field": name})
    return int(raw)


def known_extraction_id(extraction_id: str, *, what: str = "extraction", echoed: int | None = None) -> str:
    """An extraction id from a path or query; one that could never have been stored is simply not
    found (`No {what} '...'.`, the id cut to `echoed` characters)."""
    if not _EXTRACTION_ID.fullmatch(extraction_id):
        raise NotFound(f"No {what} {extraction_id[:echoed]!r}.")
    return extraction_id


def idempotency_key(request: flask.Request) -> str | None:
    """The request's Idempotency-Key header (None when absent); 1-64 letters, digits, `_` and `-`
    (a UUID fits), else InvalidField (422)."""
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    if not _EXTRACTION_ID.fullmatch(key):
        raise InvalidField(
            f"The {IDEMPOTENCY_KEY_HEADER} header must be 1-64 letters, digits, '_' or '-' (a UUID fits).",
            details={"header": IDEMPOTENCY_KEY_HEADER},
        )
    return key


def limit_body(request: flask.Request, max_bytes: int) -> None:
    """Refuse a body over `max_bytes` by its declared length, before anything reads it."""
    if (request.content_length or 0) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    request.max_content_length = max_bytes


def json_body(request: flask.Request) -> dict[str, Any]:
    """The request's JSON object; anything else is 400 with a sentence saying what is wrong."""
    if not request.is_json:
        raise MalformedRequest("Send a JSON object with Content-Type: application/json.")
    raw = request.get_data(cache=True)
    if not raw:
        raise MalformedRequest("The request body is empty.")
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise MalformedRequest(f"The body is not valid JSON: {error}.") from None
    except RecursionError:
        raise MalformedRequest("The body's JSON nests too deeply.") from None
    if not isinstance(body, dict):
        raise MalformedRequest("The body must be a JSON object.")
    return body
