"""A local HTTP server that speaks Gemini's generateContent REST API.

Tests point the real google-genai client at it (`Settings(gemini_base_url=server.base_url)`), so
the whole path (request building, retries, timeouts, response parsing) runs without the internet.
It is an aiohttp.web application on 127.0.0.1, run in its own thread and event loop, so it
answers many concurrent requests (the benchmark runs 64 at a time with a fixed latency).

Paths answered (the ones google-genai 3.6.1 sends to a custom `base_url`):

- API key mode: `POST /v1/models/{model}:generateContent` (also `/v1beta` and `/v1alpha`).
- Vertex AI mode: `POST /v1beta1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`
  (also `/v1`).
- `POST /token`: an OAuth2 token endpoint, so a Vertex AI test can use Application Default
  Credentials whose token endpoint is this server (see `write_adc_file`).

What it answers, first match wins: the next scripted reply in the queue (`enqueue`), else the
`responder` callable's reply built from the request, else `default_reply`. Every request is
recorded (`requests`) with its secret headers redacted.

Run as a process, answering `SAMPLE_EXTRACTION` to every request (it prints its URL; SIGTERM or
Ctrl-C stops it; a separate process keeps the server off the client's GIL in a benchmark):

    python -m tests.fakes.gemini_server --port 8089 --latency-ms 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import re
import signal
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

REDACTED = "<redacted>"
FAKE_ACCESS_TOKEN = "fake-access-token"
_SECRET_HEADERS = frozenset({"x-goog-api-key", "authorization"})

_GENERATE_CONTENT_PATHS = (
    re.compile(r"^/(?P<version>v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):generateContent$"),
    re.compile(
        r"^/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
        r"/publishers/google/models/(?P<model>[^/:]+):generateContent$"
    ),
)

# The `status` Google's APIs put beside an HTTP code in an error body.
_GOOGLE_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

SAMPLE_EXTRACTION: dict[str, Any] = {
    "form": {"constituency_name": "Kibera", "constituency_code": "288", "form_type": "Form 35A"},
    "vote_results": [
        {"candidate_name": "Amina Wanjiru", "party": "Green Alliance", "vote_count": 4521},
        {"candidate_name": "John Otieno", "party": "People's Union", "vote_count": 3307},
        {"candidate_name": "Grace Mutua", "party": None, "vote_count": 512},
    ],
    "ballot_stats": {"valid_votes": 8340, "rejected_ballots": 37, "total_ballots": 8377},
}


@dataclass(frozen=True)
class ScriptedReply:
    """One answer of the server: a status and a JSON body, or raw bytes, after an optional delay."""

    status: int = 200
    body: Any = None
    raw_body: bytes | None = None
    content_type: str = "application/json"
    delay_s: float = 0.0

    def encoded(self) -> bytes:
        if self.raw_body is not None:
            return self.raw_body
        return json.dumps(self.body if self.body is not None else {}).encode()


@dataclass(frozen=True)
class InlineImage:
    mime_type: str
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it; secret header values are replaced by `REDACTED`."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    path_params: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        return self.path_params.get("model")

    @property
    def is_generate_content(self) -> bool:
        return "model" in self.path_params

    def _parts(self) -> list[dict[str, Any]]:
        if not isinstance(self.body, dict):
            return []
        return [part for content in self.body.get("contents", []) for part in content.get("parts", [])]

    @property
    def images(self) -> list[InlineImage]:
        """The inline images of the request, decoded."""
        images = []
        for part in self._parts():
            inline = part.get("inlineData") or part.get("inline_data")
            if inline:
                mime_type = inline.get("mimeType") or inline.get("mime_type") or ""
                images.append(InlineImage(mime_type=mime_type, data=_decode_base64(inline["data"])))
        return images

    @property
    def texts(self) -> list[str]:
        return [part["text"] for part in self._parts() if "text" in part]

    @property
    def generation_config(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            return {}
        return self.body.get("generationConfig") or self.body.get("generation_config") or {}

    @property
    def statistic_keys(self) -> list[str] | None:
        """The statistics the response schema asks for, in its order (a form type other than
        `generic`); None when it asks for `ballot_stats` instead. A responder can answer in the
        shape asked with it."""
        schema = self.generation_config.get("responseSchema") or self.generation_config.get("response_schema") or {}
        statistics = (schema.get("properties") or {}).get("statistics")
        return list(statistics["properties"]) if statistics else None


Responder = Callable[[RecordedRequest], ScriptedReply]


def _decode_base64(text: str) -> bytes:
    """Bytes of a proto-JSON `bytes` field: google-genai sends web-safe base64, Google accepts both."""
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)


def _redact(name: str, value: str) -> str:
    """Hide a secret header's value, keeping an auth scheme ("Bearer <redacted>") for assertions."""
    if name.lower() not in _SECRET_HEADERS:
        return value
    scheme, _, credential = value.partition(" ")
    return f"{scheme} {REDACTED}" if credential else REDACTED


def _as_json_object(extraction: Any) -> Any:
    if hasattr(extraction, "model_dump"):
        return extraction.model_dump(mode="json")
    return extraction


def _usage(prompt_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": prompt_tokens + output_tokens,
    }


def text_reply(
    text: str,
    *,
    prompt_tokens: int = 1290,
    output_tokens: int = 120,
    finish_reason: str = "STOP",
    model_version: str = "gemini-2.5-flash",
) -> ScriptedReply:
    """A normal 200 answer whose one candidate holds `text` (valid JSON or not)."""
    return ScriptedReply(
        body={
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": finish_reason,
                    "index": 0,
                }
            ],
            "usageMetadata": _usage(prompt_tokens, output_tokens),
            "modelVersion": model_version,
            "responseId": "fake-response-id",
        }
    )


def extraction_reply(
    extraction: Any = None,
    *,
    prompt_tokens: int = 1290,
    output_tokens: int = 120,
    model_version: str = "gemini-2.5-flash",
) -> ScriptedReply:
    """A normal answer carrying `extraction` (a VoteExtraction or its dict) as the JSON text."""
    payload = _as_json_object(extraction if extraction is not None else SAMPLE_EXTRACTION)
    return text_reply(
        json.dumps(payload), prompt_tokens=prompt_tokens, output_tokens=output_tokens, model_version=model_version
    )


def safety_blocked_reply(*, block_reason: str = "SAFETY", prompt_tokens: int = 1290) -> ScriptedReply:
    """The prompt itself was blocked: `promptFeedback.blockReason` and no candidates."""
    return ScriptedReply(
        body={
            "promptFeedback": {
                "blockReason": block_reason,
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
                ],
            },
            "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
            "modelVersion": "gemini-2.5-flash",
        }
    )


def candidate_blocked_reply(*, finish_reason: str = "SAFETY") -> ScriptedReply:
    """The answer was stopped: one candidate with `finishReason` SAFETY and no content."""
    return ScriptedReply(
        body={
            "candidates": [
                {
                    "finishReason": finish_reason,
                    "index": 0,
                    "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}],
                }
            ],
            "usageMetadata": _usage(1290, 0),
            "modelVersion": "gemini-2.5-flash",
        }
    )


def error_reply(status: int, message: str | None = None, *, status_name: str | None = None) -> ScriptedReply:
    """An error in Google's format: `{"error": {"code", "message", "status"}}`."""
    name = status_name or _GOOGLE_STATUS_NAMES.get(status, "UNKNOWN")
    text = message or f"Fake Gemini server answered {status} {name}."
    return ScriptedReply(status=status, body={"error": {"code": status, "message": text, "status": name}})


def malformed_reply(*, status: int = 200, text: str = "<html>upstream proxy error</html>") -> ScriptedReply:
    """A body that is not JSON at all (a broken proxy), sent as text/html."""
    return ScriptedReply(status=status, raw_body=text.encode(), content_type="text/html")


def delayed(reply: ScriptedReply, seconds: float) -> ScriptedReply:
    """`reply`, answered only after `seconds`."""
    return dataclasses.replace(reply, delay_s=seconds)


def write_adc_file(path: Path, *, token_url: str) -> Path:
    """Write an Application Default Credentials file whose token endpoint is `token_url` (our /token).

    It is an `external_account_authorized_user` file because google-auth honours its `token_url`
    (an `authorized_user` file always refreshes at oauth2.googleapis.com). Point
    GOOGLE_APPLICATION_CREDENTIALS at it to run Vertex AI mode offline.
    """
    path.write_text(
        json.dumps(
            {
                "type": "external_account_authorized_user",
                "audience": "//iam.googleapis.com/locations/global/workforcePools/fake-pool/providers/fake",
                "client_id": "fake-client-id",
                "client_secret": "fake-client-secret",
                "refresh_token": "fake-refresh-token",
                "token_url": token_url,
            }
        )
    )
    return path


class FakeGeminiServer:
    """A Gemini-compatible REST server on 127.0.0.1, in a background thread.

    Use it as a context manager or call `start()` / `stop()`. Thread-safe: tests script it from
    their thread while the server answers on its own event loop.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        default_reply: ScriptedReply | None = None,
        responder: Responder | None = None,
        api_key: str | None = None,
        max_recorded: int = 1000,
    ) -> None:
        """Create a server (not started).

        Args:
            host: Interface to listen on.
            port: Port; 0 picks a free ephemeral one.
            latency_s: Fixed delay added to every generateContent answer.
            default_reply: Answer when the queue is empty and no responder is set
                (default: `extraction_reply()`).
            responder: Builds the answer from the request when the queue is empty.
            api_key: When set, a generateContent request without this `x-goog-api-key` (and
                without a bearer token) gets Google's 400 API_KEY_INVALID answer.
            max_recorded: Most recent requests kept for assertions; 0 keeps none and, unless a
                responder needs it, skips parsing request bodies (the benchmark process).
        """
        self.host = host
        self.latency_s = latency_s
        self.default_reply = default_reply or extraction_reply()
        self.api_key = api_key
        self._requested_port = port
        self._port: int | None = None
        self._responder = responder
        self._queue: deque[ScriptedReply] = deque()
        self._max_recorded = max_recorded
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # Scripting and inspection, from any thread.

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("The fake Gemini server is not started.")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def enqueue(self, *replies: ScriptedReply) -> None:
        """Answer the next requests with `replies`, in order."""
        with self._lock:
            self._queue.extend(replies)

    def set_responder(self, responder: Responder | None) -> None:
        with self._lock:
            self._responder = responder

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received (oldest first), token requests included."""
        with self._lock:
            return list(self._requests)

    @property
    def generate_requests(self) -> list[RecordedRequest]:
        """The generateContent requests received, oldest first."""
        return [request for request in self.requests if request.is_generate_content]

    def reset(self) -> None:
        """Forget recorded requests, scripted replies and the responder (not the default reply)."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._responder = None

    # Lifecycle.

    def start(self) -> FakeGeminiServer:
        if self._thread is not None:
            raise RuntimeError("The fake Gemini server is already started.")
        sock = self._bind()
        ready = threading.Event()
        failures: list[BaseException] = []
        runner = self._make_runner()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._start_site(runner, sock))
            except BaseException as error:  # noqa: BLE001 - reported to start()'s caller
                failures.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(runner.cleanup())
                loop.close()

        self._thread = threading.Thread(target=serve, name="fake-gemini-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=10):
            raise RuntimeError("The fake Gemini server did not start within 10 s.")
        if failures:
            self._thread = None
            raise failures[0]
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeGeminiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve on the current thread until SIGINT or SIGTERM (the `python -m` entry point)."""
        asyncio.run(self._serve_until_signal())

    # Internals.

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._port = sock.getsockname()[1]
        return sock

    def _make_runner(self) -> web.AppRunner:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A client that gave up (timeout) cancels its handler, so a long scripted delay never
        # holds the server open at shutdown.
        return web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)

    async def _start_site(self, runner: web.AppRunner, sock: socket.socket) -> None:
        await runner.setup()
        await web.SockSite(runner, sock, backlog=1024).start()

    async def _serve_until_signal(self) -> None:
        sock = self._bind()
        runner = self._make_runner()
        await self._start_site(runner, sock)
        print(f"fake Gemini server listening on {self.base_url}", flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        try:
            await stopped.wait()
        finally:
            await runner.cleanup()

    def _record(self, request: web.Request, raw: bytes) -> RecordedRequest:
        headers = {name.lower(): _redact(name, value) for name, value in request.headers.items()}
        body: Any = None
        needs_body = self._max_recorded > 0 or self._responder is not None
        if raw and needs_body and request.path != "/token":  # a token request carries fake secrets
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        path_params: dict[str, str] = {}
        for pattern in _GENERATE_CONTENT_PATHS:
            match = pattern.match(request.path)
            if match:
                path_params = match.groupdict()
                break
        recorded = RecordedRequest(
            method=request.method, path=request.path, headers=headers, body=body, path_params=path_params
        )
        with self._lock:
            self._requests.append(recorded)
        return recorded

    def _authorised(self, request: web.Request) -> bool:
        if self.api_key is None or request.headers.get("Authorization", "").startswith("Bearer "):
            return True
        return request.headers.get("x-goog-api-key") == self.api_key

    def _next_reply(self, recorded: RecordedRequest) -> ScriptedReply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            responder = self._responder
        if responder is None:
            return self.default_reply
        try:
            return responder(recorded)
        except Exception as error:  # noqa: BLE001 - a broken responder shows up as a 500 in the test
            return error_reply(500, f"The fake server's responder failed: {error!r}")

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        recorded = self._record(request, raw)
        if request.path == "/token" and request.method == "POST":
            reply = ScriptedReply(body={"access_token": FAKE_ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
        elif not recorded.is_generate_content or request.method != "POST":
            reply = error_reply(404, f"The fake Gemini server does not serve {request.method} {request.path}.")
        elif not self._authorised(request):
            reply = error_reply(400, "API key not valid. Please pass a valid API key.")
        else:
            reply = self._next_reply(recorded)
            delay = self.latency_s + reply.delay_s
            if delay > 0:
                await asyncio.sleep(delay)
        return web.Response(status=reply.status, body=reply.encoded(), headers={"Content-Type": reply.content_type})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Gemini generateContent server for tests and benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed at start).")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="Fixed delay of every answer.")
    parser.add_argument("--api-key", default=None, help="Only accept this x-goog-api-key.")
    parser.add_argument(
        "--max-recorded", type=int, default=0, help="Requests kept in memory (default none: a process is for load)."
    )
    args = parser.parse_args(argv)
    server = FakeGeminiServer(
        host=args.host,
        port=args.port,
        latency_s=args.latency_ms / 1000,
        api_key=args.api_key,
        max_recorded=args.max_recorded,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
