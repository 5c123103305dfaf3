"""What a Gemini call raised, after retries, as our `shared.errors` Model* errors.

Observed with google-genai 3.6.1 (httpx2 for sync calls, aiohttp for async ones) and with the
REST path, which raises what google-genai would for the same outcome, against the local fake
server. The last rows are raised by `shared.llm.gemini.answers` when an answer arrives but is
unusable; they are listed here so the whole table is in one place.

| Gemini call raises                                    | we raise (code)                              |
|-------------------------------------------------------|----------------------------------------------|
| `errors.ClientError` 429                              | ModelRateLimited (model_rate_limited), 502   |
| `errors.ClientError` 408, `errors.ServerError` 504    | ModelTimeout (model_timeout), 504            |
| `errors.ServerError` 500/502/503 (other 5xx)          | ModelUnavailable (model_unavailable), 502    |
| `errors.ClientError` other 4xx (400 bad argument,     | ModelUnavailable (model_rejected_request),   |
|   401/403 key or permission, 404 unknown model)       |   502, never retried                         |
| `httpx2.TimeoutException` (sync; retried first),      | ModelTimeout (model_timeout), 504            |
|   `TimeoutError` (async, aiohttp; not retried)        |                                              |
| `httpx2.ConnectError` / other transport errors,       | ModelUnavailable (model_unavailable), 502    |
|   `aiohttp.ClientConnectorError` / `ClientError`      |                                              |
| `json.JSONDecodeError` (a 200 whose body is not JSON) | ModelUnavailable (model_bad_response), 502   |
| `google.auth` errors (no or bad ADC, Vertex mode)     | ModelUnavailable (model_auth_failed), 502    |
| client construction `ValueError` (no API key)         | ModelUnavailable (model_not_configured), 502 |
| `prompt_feedback.block_reason`, no candidates, a      | ModelBlocked (model_blocked), 502            |
|   blocking finish reason (SAFETY...), empty text      |                                              |
| text that is not JSON or not a VoteExtraction         | ModelOutputInvalid (model_output_invalid)    |
| anything else                                         | ModelError (model_error), logged             |

A rejected request (4xx) is the model refusing our call, not a bad request of our client, so it
is a 502 with its own code; `details` carries the upstream status. Messages keep Google's
message and never contain the API key.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from google.auth import exceptions as auth_exceptions
from google.genai import errors as genai_errors

from shared.errors import ModelError, ModelRateLimited, ModelTimeout, ModelUnavailable
from shared.llm.gemini.transport import ClientOptions

logger = logging.getLogger(__name__)

_TIMEOUT_STATUS_CODES = frozenset({408, 504})


def _exception_types(module_name: str, *names: str) -> tuple[type[BaseException], ...]:
    """Exception classes of a transport library google-genai may use, or () when it is absent."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return ()
    return tuple(getattr(module, name) for name in names if hasattr(module, name))


# google-genai sends sync calls with httpx2 (or httpx) and async calls with aiohttp when it is
# installed, so a timeout or a connection failure can surface as any of these.
# aiohttp's timeouts subclass the builtin TimeoutError, which is why that one is checked first.
_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    *_exception_types("httpx2", "TimeoutException"),
    *_exception_types("httpx", "TimeoutException"),
)
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    *_exception_types("httpx2", "TransportError"),
    *_exception_types("httpx", "TransportError"),
    *_exception_types("aiohttp", "ClientError"),
)


@dataclass(frozen=True)
class ModelRef:
    """The model an error or an answer is about, as messages name it and `details` carry it."""

    model_name: str
    provider: str

    @property
    def title(self) -> str:
        return f"Gemini {self.model_name}"

    def details(self, **extra: Any) -> dict[str, Any]:
        return {"model": self.model_name, "provider": self.provider, **extra}


def model_error(error: Exception, *, model: ModelRef, options: ClientOptions) -> ModelError:
    """Our error for what a Gemini call raised (after its retries); see the module's table."""
    name = model.title
    if isinstance(error, genai_errors.APIError):
        upstream = f"{error.code} {error.status or ''}".strip()
        message = scrub(str(error.message or error), options)
        details = model.details(upstream_status=error.code, upstream_code=error.status)
        if error.code == 429:
            return ModelRateLimited(
                f"{name} kept answering {upstream} (rate limited) after retries: {message}", details=details
            )
        if error.code in _TIMEOUT_STATUS_CODES:
            return ModelTimeout(f"{name} answered {upstream} (deadline exceeded): {message}", details=details)
        if isinstance(error, genai_errors.ClientError):
            return ModelUnavailable(
                f"{name} rejected the request with {upstream}: {message}",
                code="model_rejected_request",
                details=details,
            )
        return ModelUnavailable(f"{name} answered {upstream} after retries: {message}", details=details)
    description = scrub(str(error), options) or type(error).__name__
    if isinstance(error, _TIMEOUT_ERRORS):
        return ModelTimeout(
            f"{name} did not answer within {options.timeout_s:g} s ({type(error).__name__}).",
            details=model.details(timeout_s=options.timeout_s),
        )
    if isinstance(error, auth_exceptions.GoogleAuthError):
        return ModelUnavailable(
            f"{name} could not be called: Google credentials failed ({type(error).__name__}): {description}",
            code="model_auth_failed",
            details=model.details(),
        )
    if isinstance(error, _TRANSPORT_ERRORS):
        return ModelUnavailable(
            f"{name} could not be reached ({type(error).__name__}): {description}", details=model.details()
        )
    if isinstance(error, json.JSONDecodeError | genai_errors.UnknownApiResponseError):
        return ModelUnavailable(
            f"{name}'s endpoint answered a body that is not JSON: {description}",
            code="model_bad_response",
            details=model.details(),
        )
    logger.exception("Unexpected error from google-genai calling %s", model.model_name)
    return ModelError(f"{name} failed ({type(error).__name__}): {description}", details=model.details())


def not_configured_error(error: ValueError, *, model: ModelRef, options: ClientOptions) -> ModelUnavailable:
    """Our error for a google-genai client that could not be built (no API key)."""
    return ModelUnavailable(
        f"Gemini is not configured: {scrub(str(error), options)} "
        "Set GEMINI_API_KEY, or GEMINI_USE_VERTEX=true with GCP_PROJECT.",
        code="model_not_configured",
        details=model.details(),
    )


def scrub(text: str, options: ClientOptions) -> str:
    """`text` with the API key replaced by `***` (Google's messages may quote the request)."""
    if options.api_key:
        text = text.replace(options.api_key, "***")
    return text
