"""A 429 that says when the quota has room again (RetryInfo's retryDelay) is retried no sooner,
through the real REST path (`extract_async`) against the local Gemini stand-in."""

from __future__ import annotations

import asyncio
import time

from shared.config import Settings
from shared.llm.base import ModelRequest
from shared.llm.gemini import GeminiModel
from shared.prompts import builtin_prompt
from tests.fakes.gemini_server import FakeGeminiServer, ScriptedReply, extraction_reply

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _exhausted(retry_delay: str) -> ScriptedReply:
    return ScriptedReply(
        status=429,
        body={
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}],
            }
        },
    )


def _timed_read(server: FakeGeminiServer) -> float:
    settings = Settings(
        gemini_api_key="key",
        gemini_base_url=server.base_url,
        gemini_retry_attempts=3,
        gemini_retry_initial_delay_s=0.01,
        gemini_retry_max_delay_s=5.0,
    )
    model = GeminiModel("gemini-2.5-flash", settings=settings)
    request = ModelRequest(image=PNG_BYTES, content_type="image/png", prompt=builtin_prompt("prompt_a"))

    async def read() -> float:
        started = time.monotonic()
        response = await model.extract_async(request)
        assert response.extraction.form.constituency_name == "Kibera"
        return time.monotonic() - started

    return asyncio.run(read())


def test_the_retry_waits_the_delay_the_429_asked_for() -> None:
    with FakeGeminiServer() as server:
        server.enqueue(_exhausted("1s"), extraction_reply())

        elapsed = _timed_read(server)

        assert len(server.generate_requests) == 2
    assert elapsed >= 1.0  # without the hint the first backoff is about 0.02 s


def test_without_a_hint_the_retry_keeps_its_own_short_backoff() -> None:
    with FakeGeminiServer() as server:
        server.enqueue(_exhausted("0s"), extraction_reply())

        elapsed = _timed_read(server)

        assert len(server.generate_requests) == 2
    assert elapsed < 1.0
