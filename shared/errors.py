"""One error hierarchy for the whole product, mapped to HTTP status and the JSON body here only.

Every error body is `{"error": {"code", "message", "details"}}` (API.md).
"""

from __future__ import annotations

import sys
from typing import Any


class VoteExtractorError(Exception):
    """Base of every error we answer with; subclasses fix the status and the code."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class MalformedRequest(VoteExtractorError):
    status, code = 400, "malformed_request"


class Unauthenticated(VoteExtractorError):
    status, code = 401, "unauthenticated"


class Forbidden(VoteExtractorError):
    status, code = 403, "forbidden"


class NotFound(VoteExtractorError):
    status, code = 404, "not_found"


class MethodNotAllowed(VoteExtractorError):
    status, code = 405, "method_not_allowed"


class Conflict(VoteExtractorError):
    status, code = 409, "conflict"


class ExperimentExists(Conflict):
    """An experiment with this id exists (a schedule's slot already started)."""

    code = "experiment_exists"


class PayloadTooLarge(VoteExtractorError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(VoteExtractorError):
    status, code = 415, "unsupported_media_type"


class InvalidField(VoteExtractorError):
    status, code = 422, "invalid_field"


class RateLimited(VoteExtractorError):
    status, code = 429, "rate_limited"


class DependencyUnavailable(VoteExtractorError):
    status, code = 503, "dependency_unavailable"


class ModelError(VoteExtractorError):
    """The model could not give a usable answer; the extraction is recorded as failed."""

    status, code = 502, "model_error"


class ModelUnavailable(ModelError):
    """The model could not be reached (after retries): 502."""

    status, code = 502, "model_unavailable"


class ModelTimeout(ModelError):
    status, code = 504, "model_timeout"


class ModelRateLimited(ModelUnavailable):
    """The model kept answering 429 after every retry."""

    code = "model_rate_limited"


class ModelOutputInvalid(ModelError):
    """The model answered, but not with a VoteExtraction (malformed JSON, wrong shape)."""

    code = "model_output_invalid"


class ModelBlocked(ModelError):
    """The model refused (safety block or no candidates)."""

    code = "model_blocked"


def unavailable(error: BaseException) -> DependencyUnavailable | None:
    """A Google service that could not be reached (down, hung, overloaded, retries spent within
    `shared.deadlines`) as DependencyUnavailable; None for anything else.

    The error's chain counts too: a client library that fails while handling the service's error
    raises its own (a transaction whose begin failed raises ValueError "no transaction in
    progress" from its rollback; a query stream cut mid-way raises AttributeError,
    python-firestore#596), with the service's error as its context. Only looks at modules already
    loaded: an error from google.api_core means it is imported, so this costs no import."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if _unreachable(cause):
            return DependencyUnavailable(
                f"A backing service is unavailable ({type(cause).__name__}); try again shortly.",
                details={"dependency_error": type(cause).__name__},
            )
        cause = cause.__cause__ or cause.__context__
    return None


def _unreachable(error: BaseException) -> bool:
    api_errors = sys.modules.get("google.api_core.exceptions")
    if api_errors is not None and isinstance(
        error, api_errors.ServiceUnavailable | api_errors.RetryError | api_errors.DeadlineExceeded
    ):
        return True
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    requests_errors = sys.modules.get("requests.exceptions")
    if requests_errors is not None and isinstance(error, requests_errors.ConnectionError | requests_errors.Timeout):
        return True
    auth_errors = sys.modules.get("google.auth.exceptions")
    # google-auth's transport could not reach the token or metadata server.
    return auth_errors is not None and isinstance(error, auth_errors.TransportError)


def error_body(error: Exception) -> tuple[dict[str, Any], int]:
    """The JSON body and status for any exception; a backing service that could not be reached is
    503 (`unavailable`); other unknown ones become an opaque 500."""
    if isinstance(error, VoteExtractorError):
        return error.to_body(), error.status
    down = unavailable(error)
    if down is not None:
        return down.to_body(), down.status
    return (
        {"error": {"code": "internal_error", "message": "An internal error occurred.", "details": None}},
        500,
    )
