"""Gemini through google-genai: the ModelClient adapter for every `gemini-*` model.

One `genai.Client` per distinct configuration is built on first use and reused (building one
costs tens of milliseconds). API-key mode talks to the Gemini API, Vertex AI mode
(`GEMINI_USE_VERTEX=true`) to Vertex AI with Application Default Credentials;
`GEMINI_BASE_URL` points either at another endpoint (tests use a local server). Requests go
through exactly `Models.generate_content` / `AsyncModels.generate_content`, the methods ddtrace's
google-genai integration wraps to open the llm span.

google-genai retries 408/429/500/502/503/504 and connection failures itself (typed
`HttpRetryOptions` from settings); the timeout (`GEMINI_TIMEOUT_S`) applies to each attempt.
What is left after those retries is mapped to our errors (google-genai 3.6.1, httpx2 for sync
calls, aiohttp for async ones, both observed against the local fake server):

| google-genai raises                                   | we raise (code)                              |
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

The async path (`extract_async`, the experiment runner's) in API-key mode does not go through
google-genai: its per-call machinery (building the request through pydantic types, converting
the response schema from VoteExtraction again on every call, parsing the answer into
`GenerateContentResponse`) cost 3-6 ms of CPU per call, which at 64 concurrent calls made the
client, not the model, the bottleneck (about 30% of the ideal throughput of a 200 ms model).
It posts the same generateContent REST request itself on one aiohttp session per event loop:
the URL, headers and response schema are taken once from google-genai's own client and
converter, so the wire request is the one google-genai sends (a unit test compares them). It
retries like google-genai (408/429/5xx and connection failures, exponential backoff with
jitter, `GEMINI_RETRY_*`; a timeout is not retried), applies `GEMINI_TIMEOUT_S` to each
attempt, and maps failures through the same table. ddtrace's google-genai integration does not
see it, so it opens an explicit llm span (model name, provider, input, output, token metrics).
Vertex AI mode keeps google-genai for async calls too: it needs OAuth tokens from Application
Default Credentials, which google-genai refreshes.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import logging
import random
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import aiohttp
from google import genai
from google.auth import exceptions as auth_exceptions
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.config import Settings
from shared.errors import (
    InvalidField,
    ModelBlocked,
    ModelError,
    ModelOutputInvalid,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from shared.llm.base import ModelRequest, ModelResponse
from shared.models import TokenUsage, VoteExtraction
from shared.observability.llmobs import annotate, explicit_llm_span

logger = logging.getLogger(__name__)

RETRYABLE_STATUS_CODES = (408, 429, 500, 502, 503, 504)
_TIMEOUT_STATUS_CODES = frozenset({408, 504})
_BLOCKING_FINISH_REASONS = frozenset(
    {
        types.FinishReason.SAFETY,
        types.FinishReason.RECITATION,
        types.FinishReason.BLOCKLIST,
        types.FinishReason.PROHIBITED_CONTENT,
        types.FinishReason.SPII,
        types.FinishReason.IMAGE_SAFETY,
        types.FinishReason.IMAGE_PROHIBITED_CONTENT,
        types.FinishReason.IMAGE_RECITATION,
        types.FinishReason.MODEL_ARMOR,
    }
)
_BLOCKING_FINISH_NAMES = frozenset(reason.value for reason in _BLOCKING_FINISH_REASONS)
_RAW_OUTPUT_DETAIL_CHARS = 2000
# The REST names of GeminiParams, for the lean path's generationConfig.
_PARAM_REST_NAMES = {
    "temperature": "temperature",
    "max_output_tokens": "maxOutputTokens",
    "top_p": "topP",
    "seed": "seed",
}
# What google-genai retries besides the configured status codes (its _AIOHTTP_TRANSIENT_EXC).
_TRANSIENT_CONNECTION_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)


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


class GeminiParams(BaseModel):
    """The generation params a variant may set; unset ones keep Gemini's defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    temperature: float | None = Field(None, ge=0, le=2)
    max_output_tokens: int | None = Field(None, ge=1, le=65536)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = Field(None, ge=-(2**31), le=2**31 - 1)


_PARAM_REQUIREMENTS = {
    "temperature": "a number from 0 to 2",
    "max_output_tokens": "an integer from 1 to 65536",
    "top_p": "a number from 0 to 1",
    "seed": "a 32-bit integer",
}


@dataclass(frozen=True)
class _ClientOptions:
    """The settings a `genai.Client` is built from: the key of the client cache."""

    api_key: str = field(repr=False)
    use_vertex: bool
    project: str
    location: str
    base_url: str
    timeout_ms: int
    retry_attempts: int
    retry_initial_delay_s: float
    retry_max_delay_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> _ClientOptions:
        return cls(
            api_key=settings.gemini_api_key,
            use_vertex=settings.gemini_use_vertex,
            project=settings.gcp_project,
            location=settings.gemini_location,
            base_url=settings.gemini_base_url,
            timeout_ms=max(1, round(settings.gemini_timeout_s * 1000)),
            retry_attempts=max(1, settings.gemini_retry_attempts),
            retry_initial_delay_s=settings.gemini_retry_initial_delay_s,
            retry_max_delay_s=settings.gemini_retry_max_delay_s,
        )


@lru_cache(maxsize=8)
def _build_client(options: _ClientOptions) -> genai.Client:
    retry_options = types.HttpRetryOptions(
        attempts=options.retry_attempts,
        initial_delay=options.retry_initial_delay_s,
        max_delay=options.retry_max_delay_s,
        # google-genai's default jitter adds up to 1 s to every wait; scale it with the delay
        # so that short configured delays stay short.
        jitter=min(1.0, options.retry_initial_delay_s),
        http_status_codes=list(RETRYABLE_STATUS_CODES),
    )
    http_options = types.HttpOptions(
        base_url=options.base_url or None, timeout=options.timeout_ms, retry_options=retry_options
    )
    if options.use_vertex:
        return genai.Client(
            vertexai=True, project=options.project, location=options.location, http_options=http_options
        )
    return genai.Client(api_key=options.api_key or None, http_options=http_options)


def clear_client_cache() -> None:
    """Forget the cached clients (tests that change credentials between cases)."""
    _build_client.cache_clear()


class GeminiModel:
    """A Gemini model, e.g. `gemini-2.5-flash`, answering with a VoteExtraction (structured output)."""

    def __init__(self, model_name: str, *, settings: Settings) -> None:
        self.model_name = model_name
        self.provider = "vertexai" if settings.gemini_use_vertex else "google"
        self._options = _ClientOptions.from_settings(settings)

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return the params that are set; raise InvalidField naming each unknown or bad one."""
        if not isinstance(params, Mapping):
            raise InvalidField("params must be a JSON object.", details={"field": "params"})
        try:
            validated = GeminiParams.model_validate(dict(params))
        except ValidationError as error:
            sentences = []
            for problem in error.errors(include_url=False, include_input=False):
                name = str(problem["loc"][0]) if problem["loc"] else "params"
                if problem["type"] == "extra_forbidden":
                    sentences.append(
                        f"Unknown param {name!r} for {self.model_name}; the accepted params are "
                        f"{', '.join(sorted(_PARAM_REQUIREMENTS))}."
                    )
                else:
                    sentences.append(
                        f"Param {name!r} must be {_PARAM_REQUIREMENTS.get(name, 'valid')} (got {params.get(name)!r})."
                    )
            raise InvalidField(
                " ".join(sentences),
                details={"field": "params", "accepted": _PARAM_REQUIREMENTS},
            ) from None
        return validated.model_dump(exclude_none=True)

    def extract(self, request: ModelRequest) -> ModelResponse:
        """Read one form image with Gemini; raises a ModelError subclass on failure."""
        params = self.validate_params(request.params)
        client = self._client()
        try:
            response = client.models.generate_content(
                model=self.model_name, contents=_contents(request), config=_config(params)
            )
        except Exception as error:
            raise self._model_error(error) from error
        return self._model_response(response)

    async def extract_async(self, request: ModelRequest) -> ModelResponse:
        """`extract` on the event loop, for concurrent experiment runs.

        API-key mode posts the REST request itself (see the module docstring); Vertex AI mode
        uses google-genai's `client.aio`.
        """
        params = self.validate_params(request.params)
        client = self._client()
        if self._options.use_vertex:
            try:
                response = await client.aio.models.generate_content(
                    model=self.model_name, contents=_contents(request), config=_config(params)
                )
            except Exception as error:
                raise self._model_error(error) from error
            return self._model_response(response)
        endpoint = _lean_endpoint(self._options, self.model_name)
        with explicit_llm_span(model_name=self.model_name, provider=self.provider, name="generate_content") as span:
            annotate(
                span,
                input_data=[
                    {"role": "user", "content": f"[image: {request.content_type}, {len(request.image)} bytes]"},
                    {"role": "user", "content": request.prompt.text},
                ],
                metadata={"prompt_version": request.prompt.version, **params},
            )
            try:
                body = await self._post(endpoint, _lean_body(request, params))
            except Exception as error:
                raise self._model_error(error) from error
            answer = self._lean_response(body)
            annotate(
                span,
                output_data=[{"role": "assistant", "content": answer.raw_output}],
                metrics={
                    "input_tokens": answer.usage.input_tokens,
                    "output_tokens": answer.usage.output_tokens,
                    "total_tokens": answer.usage.total_tokens,
                },
            )
        return answer

    # Internals.

    async def _post(self, endpoint: _LeanEndpoint, payload: bytes) -> dict[str, Any]:
        """POST generateContent with google-genai's retry policy; the decoded JSON answer.

        Raises what google-genai would raise for the same outcome (`errors.APIError` subclasses,
        `TimeoutError`, aiohttp's errors, `json.JSONDecodeError`), for `_model_error`.
        """
        options = self._options
        session = await _session()
        timeout = aiohttp.ClientTimeout(total=options.timeout_ms / 1000)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with session.post(
                    endpoint.url, data=payload, headers=endpoint.headers, timeout=timeout
                ) as answer:
                    raw = await answer.read()
                    status = answer.status
            except _TRANSIENT_CONNECTION_ERRORS:
                if attempt >= options.retry_attempts:
                    raise
                await asyncio.sleep(_retry_delay(options, attempt))
                continue
            if status < 300:
                return json.loads(raw)  # type: ignore[no-any-return]
            if status in RETRYABLE_STATUS_CODES and attempt < options.retry_attempts:
                await asyncio.sleep(_retry_delay(options, attempt))
                continue
            raise _api_error(status, raw)

    def _lean_response(self, body: dict[str, Any]) -> ModelResponse:
        """`_model_response` for the REST JSON answer (camelCase fields, enums as names)."""
        feedback = body.get("promptFeedback") or {}
        if feedback.get("blockReason"):
            reason = str(feedback["blockReason"])
            suffix = f": {feedback['blockReasonMessage']}" if feedback.get("blockReasonMessage") else "."
            raise ModelBlocked(
                f"Gemini {self.model_name} blocked the prompt ({reason}){suffix}",
                details=self._details(block_reason=reason),
            )
        candidates = body.get("candidates") or []
        if not candidates:
            raise ModelBlocked(
                f"Gemini {self.model_name} returned no candidates.", details=self._details(block_reason=None)
            )
        candidate = candidates[0]
        finish = candidate.get("finishReason")
        if finish in _BLOCKING_FINISH_NAMES:
            raise ModelBlocked(
                f"Gemini {self.model_name} stopped its answer (finish reason {finish}).",
                details=self._details(finish_reason=finish),
            )
        parts = (candidate.get("content") or {}).get("parts") or []
        text = "".join(part["text"] for part in parts if isinstance(part.get("text"), str) and not part.get("thought"))
        if not text:
            raise ModelBlocked(
                f"Gemini {self.model_name} answered no text (finish reason {finish}).",
                details=self._details(finish_reason=finish),
            )
        usage = body.get("usageMetadata") or {}
        input_tokens = usage.get("promptTokenCount") or 0
        output_tokens = usage.get("candidatesTokenCount") or 0
        return ModelResponse(
            extraction=self._parse_text(text, finish),
            usage=TokenUsage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                total_tokens=usage.get("totalTokenCount") or input_tokens + output_tokens,
            ),
            raw_output=text,
        )

    def _client(self) -> genai.Client:
        try:
            return _build_client(self._options)
        except ValueError as error:
            raise ModelUnavailable(
                f"Gemini is not configured: {self._scrub(str(error))} "
                "Set GEMINI_API_KEY, or GEMINI_USE_VERTEX=true with GCP_PROJECT.",
                code="model_not_configured",
                details=self._details(),
            ) from error

    def _details(self, **extra: Any) -> dict[str, Any]:
        return {"model": self.model_name, "provider": self.provider, **extra}

    def _scrub(self, text: str) -> str:
        if self._options.api_key:
            text = text.replace(self._options.api_key, "***")
        return text

    def _model_error(self, error: Exception) -> ModelError:
        """Our error for what google-genai raised (after its retries)."""
        name = f"Gemini {self.model_name}"
        if isinstance(error, genai_errors.APIError):
            upstream = f"{error.code} {error.status or ''}".strip()
            message = self._scrub(str(error.message or error))
            details = self._details(upstream_status=error.code, upstream_code=error.status)
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
        description = self._scrub(str(error)) or type(error).__name__
        if isinstance(error, _TIMEOUT_ERRORS):
            return ModelTimeout(
                f"{name} did not answer within {self._options.timeout_ms / 1000:g} s ({type(error).__name__}).",
                details=self._details(timeout_s=self._options.timeout_ms / 1000),
            )
        if isinstance(error, auth_exceptions.GoogleAuthError):
            return ModelUnavailable(
                f"{name} could not be called: Google credentials failed ({type(error).__name__}): {description}",
                code="model_auth_failed",
                details=self._details(),
            )
        if isinstance(error, _TRANSPORT_ERRORS):
            return ModelUnavailable(
                f"{name} could not be reached ({type(error).__name__}): {description}", details=self._details()
            )
        if isinstance(error, json.JSONDecodeError | genai_errors.UnknownApiResponseError):
            return ModelUnavailable(
                f"{name}'s endpoint answered a body that is not JSON: {description}",
                code="model_bad_response",
                details=self._details(),
            )
        logger.exception("Unexpected error from google-genai calling %s", self.model_name)
        return ModelError(f"{name} failed ({type(error).__name__}): {description}", details=self._details())

    def _model_response(self, response: types.GenerateContentResponse) -> ModelResponse:
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = _enum_name(feedback.block_reason)
            suffix = f": {feedback.block_reason_message}" if feedback.block_reason_message else "."
            raise ModelBlocked(
                f"Gemini {self.model_name} blocked the prompt ({reason}){suffix}",
                details=self._details(block_reason=reason),
            )
        if not response.candidates:
            raise ModelBlocked(
                f"Gemini {self.model_name} returned no candidates.", details=self._details(block_reason=None)
            )
        finish_reason = response.candidates[0].finish_reason
        finish = _enum_name(finish_reason) if finish_reason is not None else None
        if finish_reason in _BLOCKING_FINISH_REASONS:
            raise ModelBlocked(
                f"Gemini {self.model_name} stopped its answer (finish reason {finish}).",
                details=self._details(finish_reason=finish),
            )
        text = response.text
        if not text:
            raise ModelBlocked(
                f"Gemini {self.model_name} answered no text (finish reason {finish}).",
                details=self._details(finish_reason=finish),
            )
        extraction = response.parsed if isinstance(response.parsed, VoteExtraction) else None
        if extraction is None:
            extraction = self._parse_text(text, finish)
        return ModelResponse(extraction=extraction, usage=_token_usage(response), raw_output=text)

    def _parse_text(self, text: str, finish: str | None) -> VoteExtraction:
        try:
            return VoteExtraction.model_validate_json(text)
        except ValidationError as error:
            problems = error.errors(include_url=False, include_input=False)
            if any(problem["type"] == "json_invalid" for problem in problems):
                what = "is not valid JSON"
            else:
                what = "is JSON but not a VoteExtraction"
            hint = " The answer was cut at max_output_tokens." if finish == "MAX_TOKENS" else ""
            raise ModelOutputInvalid(
                f"Gemini {self.model_name}'s answer {what} ({problems[0]['msg']}).{hint}",
                details=self._details(
                    finish_reason=finish,
                    errors=[{"loc": list(problem["loc"]), "msg": problem["msg"]} for problem in problems[:20]],
                    raw_output=text[:_RAW_OUTPUT_DETAIL_CHARS],
                ),
            ) from None


def _contents(request: ModelRequest) -> types.Content:
    # The image before the instruction, as Google recommends for single-image prompts.
    return types.Content(
        role="user",
        parts=[
            types.Part.from_bytes(data=request.image, mime_type=request.content_type),
            types.Part.from_text(text=request.prompt.text),
        ],
    )


def _config(params: Mapping[str, Any]) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(response_mime_type="application/json", response_schema=VoteExtraction, **params)


def _token_usage(response: types.GenerateContentResponse) -> TokenUsage:
    usage = response.usage_metadata
    if usage is None:
        return TokenUsage()
    input_tokens = usage.prompt_token_count or 0
    output_tokens = usage.candidates_token_count or 0
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=usage.total_token_count or input_tokens + output_tokens,
    )


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))


# The lean async path (API-key mode).


@dataclass(frozen=True)
class _LeanEndpoint:
    url: str
    headers: Mapping[str, str] = field(repr=False)


@lru_cache(maxsize=32)
def _lean_endpoint(options: _ClientOptions, model_name: str) -> _LeanEndpoint:
    """The URL and headers google-genai's client would use for `model_name`'s generateContent."""
    http_options = _build_client(options)._api_client._http_options  # its resolved base URL, version, headers
    base_url = (http_options.base_url or "").rstrip("/")
    headers = {name: value for name, value in (http_options.headers or {}).items() if value is not None}
    headers["x-server-timeout"] = str(max(1, options.timeout_ms // 1000))
    return _LeanEndpoint(
        url=f"{base_url}/{http_options.api_version}/models/{model_name}:generateContent", headers=headers
    )


@lru_cache(maxsize=1)
def _response_schema() -> dict[str, Any]:
    """VoteExtraction's responseSchema exactly as google-genai 3.6.1 converts it (once, not per call)."""
    from google.genai import _common
    from google.genai import models as genai_models

    client = genai.Client(api_key="schema-only")  # offline: builds the request, sends nothing
    parameters = types._GenerateContentParameters(model="gemini", contents="", config=_config({}))
    converted = genai_models._GenerateContentParameters_to_mldev(client._api_client, parameters, None, parameters)
    converted = _common.encode_unserializable_types(_common.convert_to_dict(converted))
    return converted["generationConfig"]["responseSchema"]  # type: ignore[index, no-any-return]


def _lean_body(request: ModelRequest, params: Mapping[str, Any]) -> bytes:
    """The generateContent JSON body: the image before the instruction, structured output.

    Built around the base64 image rather than through json.dumps: base64 needs no JSON escaping,
    and scanning a ~100 kB string for escapes on every call cost more than the rest of the body.
    """
    generation_config: dict[str, Any] = {_PARAM_REST_NAMES[name]: value for name, value in params.items()}
    generation_config["responseMimeType"] = "application/json"
    generation_config["responseSchema"] = _response_schema()
    head = '{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":' + json.dumps(request.content_type)
    tail = (
        '"}},{"text":'
        + json.dumps(request.prompt.text)
        + '}]}],"generationConfig":'
        + json.dumps(generation_config)
        + "}"
    )
    return b"".join((head.encode(), b',"data":"', _base64(request.image), tail.encode()))


_last_encoded: tuple[bytes, bytes] = (b"", b"")


def _base64(image: bytes) -> bytes:
    # An experiment sends the same image object for every variant and repetition of an entry.
    global _last_encoded
    last_image, last_encoded = _last_encoded
    if image is last_image:
        return last_encoded
    encoded = base64.b64encode(image)
    _last_encoded = (image, encoded)
    return encoded


def _retry_delay(options: _ClientOptions, attempt: int) -> float:
    """tenacity's wait_exponential_jitter with google-genai's settings (see `_build_client`)."""
    delay = min(options.retry_max_delay_s, options.retry_initial_delay_s * 2 ** (attempt - 1))
    return delay + random.uniform(0, min(1.0, options.retry_initial_delay_s))


def _api_error(status: int, raw: bytes) -> genai_errors.APIError:
    """The error google-genai raises for this HTTP answer, so `_model_error` maps it the same way."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"message": raw.decode("utf-8", "replace")[:_RAW_OUTPUT_DETAIL_CHARS], "status": None}
    if not isinstance(body, dict):
        body = {"message": str(body), "status": None}
    if 400 <= status < 500:
        return genai_errors.ClientError(status, body)
    return genai_errors.ServerError(status, body)


# One aiohttp session per event loop, shared by every model and call on that loop (a session
# holds the keep-alive connections; one per call would reconnect every time).
_sessions: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, AsyncIterator[None]]] = {}
_sessions_lock = threading.Lock()


async def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    with _sessions_lock:
        for closed in [known for known in _sessions if known.is_closed()]:
            del _sessions[closed]
        held = _sessions.get(loop)
    if held is not None and not held[0].closed:
        return held[0]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    closer = _close_at_loop_shutdown(session)
    with _sessions_lock:
        _sessions[loop] = (session, closer)
    await anext(closer)
    return session


async def _close_at_loop_shutdown(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    # An event loop has no close hook, but asyncio.run() finalises every async generator still
    # open (loop.shutdown_asyncgens) while the loop still runs: this one closes the session then.
    try:
        yield
    finally:
        await session.close()
