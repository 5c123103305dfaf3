"""The lean async path in API-key mode: generateContent posted on aiohttp, not through google-genai.

google-genai's per-call machinery (building the request through pydantic types, converting the
response schema from VoteExtraction again on every call, parsing the answer into
`GenerateContentResponse`) cost 3-6 ms of CPU per call, which at 64 concurrent calls made the
client, not the model, the bottleneck (about 30% of the ideal throughput of a 200 ms model).
This path posts the same generateContent REST request itself on one aiohttp session per event
loop: the URL and headers are taken once from google-genai's own client, and each form type's
response schema once from its converter, so the wire request is the one google-genai sends (unit
tests compare them, per type). It retries like google-genai (408/429/5xx and connection
failures, exponential backoff with jitter, `GEMINI_RETRY_*`; a timeout is not retried), applies
`GEMINI_TIMEOUT_S` to each attempt, and raises what google-genai would, so `error_mapping` maps
failures the same way.
ddtrace's google-genai integration does not see it, so the caller opens an explicit llm span.
Vertex AI mode keeps google-genai for async calls too: it needs OAuth tokens from Application
Default Credentials, which google-genai refreshes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import aiohttp
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from shared.form_types.model import FormType
from shared.llm.base import ModelRequest
from shared.llm.gemini.answer_schema import cached_per_form_type
from shared.llm.gemini.paper_prompt import prompt_text
from shared.llm.gemini.request import generate_content_config
from shared.llm.gemini.transport import (
    RETRYABLE_STATUS_CODES,
    ClientOptions,
    build_client,
    retry_delay,
    server_retry_delay,
)

# The REST names of GeminiParams, for the generationConfig.
_PARAM_REST_NAMES = {
    "temperature": "temperature",
    "max_output_tokens": "maxOutputTokens",
    "top_p": "topP",
    "seed": "seed",
}
# What google-genai retries besides the configured status codes (its _AIOHTTP_TRANSIENT_EXC).
_TRANSIENT_CONNECTION_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)
_ERROR_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class RestEndpoint:
    """Where `generateContent` is posted for one model, and the headers google-genai sends."""

    url: str
    headers: Mapping[str, str] = field(repr=False)


@lru_cache(maxsize=32)
def rest_endpoint(options: ClientOptions, model_name: str) -> RestEndpoint:
    """The URL and headers google-genai's client would use for `model_name`'s generateContent."""
    http_options = build_client(options)._api_client._http_options  # its resolved base URL, version, headers
    base_url = (http_options.base_url or "").rstrip("/")
    headers = {name: value for name, value in (http_options.headers or {}).items() if value is not None}
    headers["x-server-timeout"] = str(max(1, options.timeout_ms // 1000))
    return RestEndpoint(
        url=f"{base_url}/{http_options.api_version}/models/{model_name}:generateContent", headers=headers
    )


def rest_body(request: ModelRequest, params: Mapping[str, Any]) -> bytes:
    """The generateContent JSON body: the image before the instruction, structured output.

    Built around the base64 image rather than through json.dumps: base64 needs no JSON escaping,
    and scanning a ~100 kB string for escapes on every call cost more than the rest of the body.
    """
    head, tail = _body_around_image(
        request.content_type, prompt_text(request), tuple(params.items()), _response_schema_json(request.form_type)
    )
    return b"".join((head, b',"data":"', _base64(request.image), tail))


@lru_cache(maxsize=64)
def _body_around_image(
    content_type: str, text: str, params: tuple[tuple[str, Any], ...], response_schema_json: str
) -> tuple[bytes, bytes]:
    # The same for every call of a variant: encoding the response schema on each call was the
    # largest JSON work of a run. The schema comes in encoded (one cached string per form type).
    generation_config: dict[str, Any] = {_PARAM_REST_NAMES[name]: value for name, value in params}
    generation_config["responseMimeType"] = "application/json"
    config_json = json.dumps(generation_config)[:-1] + ',"responseSchema":' + response_schema_json + "}"
    head = '{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":' + json.dumps(content_type)
    tail = '"}},{"text":' + json.dumps(text) + '}]}],"generationConfig":' + config_json + "}"
    return head.encode(), tail.encode()


async def post_generate_content(options: ClientOptions, endpoint: RestEndpoint, body: bytes) -> dict[str, Any]:
    """POST generateContent with google-genai's retry policy; the decoded JSON answer.

    Raises what google-genai would raise for the same outcome (`errors.APIError` subclasses,
    `TimeoutError`, aiohttp's errors, `json.JSONDecodeError`), for `error_mapping.model_error`.
    """
    session = await _session()
    timeout = aiohttp.ClientTimeout(total=options.timeout_s)
    attempt = 0
    while True:
        attempt += 1
        try:
            async with session.post(endpoint.url, data=body, headers=endpoint.headers, timeout=timeout) as answer:
                raw = await answer.read()
                status = answer.status
                retry_after = answer.headers.get("Retry-After")
        except _TRANSIENT_CONNECTION_ERRORS:
            if attempt >= options.retry_attempts:
                raise
            await asyncio.sleep(retry_delay(options, attempt))
            continue
        if status < 300:
            return json.loads(raw)  # type: ignore[no-any-return]
        if status in RETRYABLE_STATUS_CODES and attempt < options.retry_attempts:
            # A 429 says when the quota has room again (Retry-After, RetryInfo's retryDelay): an
            # earlier retry would only be refused again and count as one more 429.
            asked = server_retry_delay(retry_after, raw) if status == 429 else None
            await asyncio.sleep(retry_delay(options, attempt, at_least_s=asked))
            continue
        raise _api_error(status, raw)


@cached_per_form_type
def response_schema(form_type: FormType) -> dict[str, Any]:
    """`form_type`'s responseSchema exactly as google-genai 3.6.1 converts it (once, not per call)."""
    from google.genai import _common
    from google.genai import models as genai_models

    client = genai.Client(api_key="schema-only")  # offline: builds the request, sends nothing
    config = generate_content_config({}, form_type)
    parameters = types._GenerateContentParameters(model="gemini", contents="", config=config)
    converted = genai_models._GenerateContentParameters_to_mldev(client._api_client, parameters, None, parameters)
    converted = _common.encode_unserializable_types(_common.convert_to_dict(converted))
    return converted["generationConfig"]["responseSchema"]  # type: ignore[index, no-any-return]


@cached_per_form_type
def _response_schema_json(form_type: FormType) -> str:
    return json.dumps(response_schema(form_type))


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


def _api_error(status: int, raw: bytes) -> genai_errors.APIError:
    """The error google-genai raises for this HTTP answer, so `model_error` maps it the same way."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"message": raw.decode("utf-8", "replace")[:_ERROR_MESSAGE_CHARS], "status": None}
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
