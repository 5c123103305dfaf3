"""GeminiModel through the real google-genai client against a local Gemini-compatible server.

Gemini cannot be reached from the test environment, so `tests.fakes.gemini_server` runs a real
HTTP server on 127.0.0.1 that speaks Gemini's generateContent REST API; the adapter is pointed at
it with `gemini_base_url`. Everything between the adapter and the wire (request building,
retries, timeouts, response parsing) is google-genai's own code. Retry delays are kept tiny
through Settings so the module runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.errors import (
    InvalidField,
    ModelBlocked,
    ModelOutputInvalid,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from shared.form_types.checks import shaped
from shared.form_types.resolve import GENERIC_FORM_TYPE
from shared.llm.base import ModelRequest
from shared.llm.gemini import GeminiModel, clear_client_cache
from shared.models import TokenUsage, VoteExtraction
from shared.prompts import builtin_prompt
from tests.fakes.gemini_server import (
    FAKE_ACCESS_TOKEN,
    REDACTED,
    SAMPLE_EXTRACTION,
    FakeGeminiServer,
    InlineImage,
    RecordedRequest,
    ScriptedReply,
    candidate_blocked_reply,
    delayed,
    error_reply,
    extraction_reply,
    malformed_reply,
    safety_blocked_reply,
    text_reply,
    write_adc_file,
)

API_KEY = "test-gemini-key-0123456789"
MODEL = "gemini-2.5-flash"
ATTEMPTS = 3
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def server(running_server: FakeGeminiServer) -> Iterator[FakeGeminiServer]:
    running_server.reset()
    yield running_server
    running_server.reset()


def make_settings(server: FakeGeminiServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "gemini_api_key": API_KEY,
        "gemini_use_vertex": False,
        "gemini_base_url": server.base_url,
        "gemini_timeout_s": 5.0,
        "gemini_retry_attempts": ATTEMPTS,
        "gemini_retry_initial_delay_s": 0.01,
        "gemini_retry_max_delay_s": 0.02,
    }
    values.update(overrides)
    return Settings(**values)


def make_request(**params: Any) -> ModelRequest:
    return ModelRequest(image=PNG_BYTES, content_type="image/png", prompt=builtin_prompt("prompt_a"), params=params)


# The request google-genai sends.


def test_request_carries_the_inline_image_the_prompt_and_the_response_schema(server: FakeGeminiServer) -> None:
    model = GeminiModel(MODEL, settings=make_settings(server))

    model.extract(make_request())

    [sent] = server.generate_requests
    assert sent.path == f"/v1/models/{MODEL}:generateContent"
    assert sent.headers["x-goog-api-key"] == REDACTED
    [inline] = [part["inlineData"] for part in sent.body["contents"][0]["parts"] if "inlineData" in part]
    assert inline["mime_type"] == "image/png"
    # Proto JSON `bytes`: google-genai sends web-safe base64, which Google accepts like standard base64.
    assert inline["data"] in {base64.urlsafe_b64encode(PNG_BYTES).decode(), base64.b64encode(PNG_BYTES).decode()}
    assert sent.images == [InlineImage(mime_type="image/png", data=PNG_BYTES)]
    assert sent.texts == [builtin_prompt("prompt_a").text]
    config = sent.generation_config
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["properties"]) == {"form", "vote_results", "ballot_stats", "statistics_box_2d"}


def test_validated_params_are_sent_in_the_generation_config(server: FakeGeminiServer) -> None:
    model = GeminiModel(MODEL, settings=make_settings(server))

    model.extract(make_request(temperature=0.2, max_output_tokens=2048, top_p=0.9, seed=7))

    config = server.generate_requests[0].generation_config
    assert (config["temperature"], config["maxOutputTokens"], config["topP"], config["seed"]) == (0.2, 2048, 0.9, 7)


# The answer.


def test_structured_output_becomes_a_vote_extraction_with_token_usage(server: FakeGeminiServer) -> None:
    server.enqueue(extraction_reply(SAMPLE_EXTRACTION, prompt_tokens=1500, output_tokens=210))
    model = GeminiModel(MODEL, settings=make_settings(server))

    response = model.extract(make_request())

    assert response.extraction == shaped(VoteExtraction.model_validate(SAMPLE_EXTRACTION), GENERIC_FORM_TYPE)
    assert response.extraction.statistics == {"valid_votes": 8340, "rejected_ballots": 37, "total_ballots": 8377}
    assert response.usage == TokenUsage(input_tokens=1500, output_tokens=210, total_tokens=1710)
    assert json.loads(response.raw_output) == SAMPLE_EXTRACTION


def test_the_responder_answers_each_image_with_its_own_extraction(server: FakeGeminiServer) -> None:
    answers = {b"form-one": {"form": {"constituency_code": "001"}}, b"form-two": {"form": {"constituency_code": "002"}}}

    def responder(request: RecordedRequest) -> ScriptedReply:
        return extraction_reply(answers[request.images[0].data])

    server.set_responder(responder)
    model = GeminiModel(MODEL, settings=make_settings(server))
    prompt = builtin_prompt("prompt_b")

    codes = [
        model.extract(
            ModelRequest(image=image, content_type="image/jpeg", prompt=prompt)
        ).extraction.form.constituency_code
        for image in (b"form-two", b"form-one")
    ]

    assert codes == ["002", "001"]


@pytest.mark.parametrize(
    "model_text",
    ['{"form": {"constituency_name": "Kibera"', "Here are the results: Kibera 4521"],
    ids=["truncated-json", "prose"],
)
def test_answer_that_is_not_json_is_model_output_invalid(server: FakeGeminiServer, model_text: str) -> None:
    server.enqueue(text_reply(model_text))
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(ModelOutputInvalid, match="not valid JSON") as raised:
        model.extract(make_request())

    assert raised.value.details["raw_output"] == model_text


def test_json_of_the_wrong_shape_is_model_output_invalid(server: FakeGeminiServer) -> None:
    server.enqueue(text_reply(json.dumps({"vote_results": [{"party": "Green Alliance", "votes": "many"}]})))
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(ModelOutputInvalid, match="not a VoteExtraction"):
        model.extract(make_request())


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (safety_blocked_reply(), "blocked the prompt \\(SAFETY\\)"),
        (candidate_blocked_reply(finish_reason="SAFETY"), "finish reason SAFETY"),
        (ScriptedReply(body={"usageMetadata": {"promptTokenCount": 10}}), "no candidates"),
        (text_reply(""), "no text"),
    ],
    ids=["prompt-feedback", "candidate-safety", "no-candidates", "empty-text"],
)
def test_a_refusal_is_model_blocked(server: FakeGeminiServer, reply: ScriptedReply, expected: str) -> None:
    server.enqueue(reply)
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(ModelBlocked, match=expected):
        model.extract(make_request())


# Retries and failures.


def test_a_429_then_success_is_retried_and_succeeds(server: FakeGeminiServer) -> None:
    server.enqueue(error_reply(429), extraction_reply())
    model = GeminiModel(MODEL, settings=make_settings(server))

    response = model.extract(make_request())

    assert response.extraction.form.constituency_name == "Kibera"
    assert len(server.generate_requests) == 2


def test_persistent_429_is_model_rate_limited_after_every_attempt(server: FakeGeminiServer) -> None:
    server.set_responder(lambda _request: error_reply(429, "Resource has been exhausted (e.g. check quota)."))
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(ModelRateLimited, match="check quota") as raised:
        model.extract(make_request())

    assert raised.value.status == 502
    assert len(server.generate_requests) == ATTEMPTS


def test_persistent_503_is_model_unavailable_after_exactly_the_configured_attempts(server: FakeGeminiServer) -> None:
    server.set_responder(lambda _request: error_reply(503, "The model is overloaded. Please try again later."))
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(ModelUnavailable, match="overloaded") as raised:
        model.extract(make_request())

    assert (raised.value.status, raised.value.code) == (502, "model_unavailable")
    assert raised.value.details["upstream_status"] == 503
    assert len(server.generate_requests) == ATTEMPTS


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_rejected_request_is_not_retried(server: FakeGeminiServer, status: int) -> None:
    server.set_responder(lambda _request: error_reply(status))
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(ModelUnavailable) as raised:
        model.extract(make_request())

    assert raised.value.code == "model_rejected_request"
    assert raised.value.details["upstream_status"] == status
    assert len(server.generate_requests) == 1


def test_a_wrong_api_key_is_rejected_and_no_key_appears_in_the_error(server: FakeGeminiServer) -> None:
    wrong_key = "wrong-key-abcdefghijkl"
    server.enqueue(error_reply(400, f"API key not valid: {wrong_key}. Please pass a valid API key."))
    model = GeminiModel(MODEL, settings=make_settings(server, gemini_api_key=wrong_key))

    with pytest.raises(ModelUnavailable, match="API key not valid") as raised:
        model.extract(make_request())

    assert wrong_key not in raised.value.message
    assert wrong_key not in json.dumps(raised.value.to_body())


def test_a_server_slower_than_the_timeout_is_model_timeout(server: FakeGeminiServer) -> None:
    server.set_responder(lambda _request: delayed(extraction_reply(), 5.0))
    model = GeminiModel(MODEL, settings=make_settings(server, gemini_timeout_s=0.2, gemini_retry_attempts=2))

    with pytest.raises(ModelTimeout) as raised:
        model.extract(make_request())

    assert raised.value.status == 504
    # The sync transport (httpx2) treats a read timeout as transient, so google-genai retries it.
    assert len(server.generate_requests) == 2


def test_a_body_that_is_not_json_is_model_unavailable(server: FakeGeminiServer) -> None:
    server.enqueue(malformed_reply())
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(ModelUnavailable) as raised:
        model.extract(make_request())

    assert raised.value.code == "model_bad_response"


def test_an_endpoint_that_refuses_connections_is_model_unavailable() -> None:
    with FakeGeminiServer() as stopped_server:
        closed_url = stopped_server.base_url
    settings = Settings(
        gemini_api_key=API_KEY,
        gemini_base_url=closed_url,
        gemini_retry_attempts=2,
        gemini_retry_initial_delay_s=0.01,
        gemini_retry_max_delay_s=0.02,
    )
    model = GeminiModel(MODEL, settings=settings)

    with pytest.raises(ModelUnavailable, match="could not be reached") as raised:
        model.extract(make_request())

    assert raised.value.code == "model_unavailable"


# Params.


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"temperature": 2.5}, "'temperature' must be a number from 0 to 2"),
        ({"temperature": "0.5"}, "'temperature' must be a number"),
        ({"max_output_tokens": 0}, "'max_output_tokens' must be an integer from 1 to 65536"),
        ({"max_output_tokens": 100.5}, "'max_output_tokens' must be an integer"),
        ({"top_p": 1.5}, "'top_p' must be a number from 0 to 1"),
        ({"seed": True}, "'seed' must be a 32-bit integer"),
        ({"top_k": 40}, "Unknown param 'top_k'"),
    ],
)
def test_invalid_params_are_invalid_field_and_send_nothing(
    server: FakeGeminiServer, params: dict[str, Any], named: str
) -> None:
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(InvalidField, match=named) as raised:
        model.extract(make_request(**params))

    assert raised.value.status == 422
    assert server.generate_requests == []


def test_valid_params_are_returned_without_unset_ones(server: FakeGeminiServer) -> None:
    model = GeminiModel(MODEL, settings=make_settings(server))

    validated = model.validate_params({"temperature": 1, "seed": 42})

    assert validated == {"temperature": 1.0, "seed": 42}


# Configuration.


def test_models_with_the_same_settings_share_one_client(server: FakeGeminiServer) -> None:
    settings = make_settings(server)

    first, second = GeminiModel(MODEL, settings=settings), GeminiModel("gemini-2.5-pro", settings=settings)

    assert first._client() is second._client()
    assert first.provider == "google"


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """Vertex clients load credentials once and keep them; these tests change credentials."""
    clear_client_cache()
    yield
    clear_client_cache()


def vertex_settings(server: FakeGeminiServer) -> Settings:
    return make_settings(
        server,
        gemini_api_key="",
        gemini_use_vertex=True,
        gcp_project="vote-extractor-local",
        gemini_location="europe-west1",
    )


@pytest.mark.usefixtures("fresh_clients")
def test_vertex_mode_calls_the_vertex_path_with_a_bearer_token(
    server: FakeGeminiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adc_file = write_adc_file(tmp_path / "adc.json", token_url=server.token_url)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc_file))
    model = GeminiModel(MODEL, settings=vertex_settings(server))

    response = model.extract(make_request())

    assert model.provider == "vertexai"
    assert response.extraction.form.constituency_code == "288"
    [sent] = server.generate_requests
    assert sent.path == (
        f"/v1beta1/projects/vote-extractor-local/locations/europe-west1/publishers/google/models/{MODEL}:generateContent"
    )
    assert sent.headers["authorization"] == f"Bearer {REDACTED}"
    assert "x-goog-api-key" not in sent.headers
    assert FAKE_ACCESS_TOKEN not in json.dumps(sent.headers)


@pytest.mark.usefixtures("fresh_clients")
def test_vertex_mode_without_credentials_is_model_unavailable(
    server: FakeGeminiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    model = GeminiModel(MODEL, settings=vertex_settings(server))

    with pytest.raises(ModelUnavailable) as raised:
        model.extract(make_request())

    assert raised.value.code == "model_auth_failed"
    assert server.generate_requests == []


def test_api_key_mode_without_a_key_is_model_not_configured(
    server: FakeGeminiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    model = GeminiModel(MODEL, settings=make_settings(server, gemini_api_key=""))

    with pytest.raises(ModelUnavailable) as raised:
        model.extract(make_request())

    assert raised.value.code == "model_not_configured"


# The async method.


def test_async_extract_parses_the_answer(server: FakeGeminiServer) -> None:
    server.enqueue(extraction_reply(SAMPLE_EXTRACTION, prompt_tokens=900, output_tokens=100))
    model = GeminiModel(MODEL, settings=make_settings(server))

    response = asyncio.run(model.extract_async(make_request(temperature=0.0)))

    assert response.extraction == shaped(VoteExtraction.model_validate(SAMPLE_EXTRACTION), GENERIC_FORM_TYPE)
    assert response.usage == TokenUsage(input_tokens=900, output_tokens=100, total_tokens=1000)
    [sent] = server.generate_requests
    assert sent.images[0].data == PNG_BYTES
    assert sent.generation_config["responseMimeType"] == "application/json"


def test_async_extract_retries_a_429(server: FakeGeminiServer) -> None:
    server.enqueue(error_reply(429), extraction_reply())
    model = GeminiModel(MODEL, settings=make_settings(server))

    response = asyncio.run(model.extract_async(make_request()))

    assert response.extraction.ballot_stats.total_ballots == 8377
    assert len(server.generate_requests) == 2


def test_async_calls_run_concurrently_on_one_client(server: FakeGeminiServer) -> None:
    server.latency_s = 0.3
    model = GeminiModel(MODEL, settings=make_settings(server))

    async def extract_many() -> list[Any]:
        return await asyncio.gather(*(model.extract_async(make_request()) for _ in range(8)))

    try:
        started = time.perf_counter()
        responses = asyncio.run(extract_many())
        elapsed = time.perf_counter() - started
    finally:
        server.latency_s = 0.0

    assert len(responses) == 8
    assert elapsed < 8 * 0.3 / 2  # sequential calls would take 2.4 s


def test_async_timeout_is_model_timeout(server: FakeGeminiServer) -> None:
    server.set_responder(lambda _request: delayed(extraction_reply(), 5.0))
    model = GeminiModel(MODEL, settings=make_settings(server, gemini_timeout_s=0.2))

    with pytest.raises(ModelTimeout):
        asyncio.run(model.extract_async(make_request()))


# The lean async path (API-key mode posts the REST request without google-genai).


def test_async_request_is_the_request_google_genai_sends(server: FakeGeminiServer) -> None:
    model = GeminiModel(MODEL, settings=make_settings(server))
    params = {"temperature": 0.2, "max_output_tokens": 2048, "top_p": 0.9, "seed": 7}

    model.extract(make_request(**params))
    asyncio.run(model.extract_async(make_request(**params)))

    by_genai, lean = server.generate_requests
    assert lean.path == by_genai.path == f"/v1/models/{MODEL}:generateContent"
    assert lean.headers["x-goog-api-key"] == REDACTED
    assert lean.images == by_genai.images == [InlineImage(mime_type="image/png", data=PNG_BYTES)]
    assert lean.texts == by_genai.texts
    assert lean.generation_config == by_genai.generation_config


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        (error_reply(503), ModelUnavailable, "model_unavailable"),
        (error_reply(429), ModelRateLimited, "model_rate_limited"),
        (error_reply(504), ModelTimeout, "model_timeout"),
        (malformed_reply(), ModelUnavailable, "model_bad_response"),
        (safety_blocked_reply(), ModelBlocked, "model_blocked"),
        (candidate_blocked_reply(), ModelBlocked, "model_blocked"),
        (text_reply("Here are the results"), ModelOutputInvalid, "model_output_invalid"),
    ],
    ids=["503", "429", "504", "not-json", "prompt-blocked", "candidate-blocked", "prose"],
)
def test_async_failures_map_like_the_sync_path(
    server: FakeGeminiServer, reply: ScriptedReply, error: type[Exception], code: str
) -> None:
    server.set_responder(lambda _request: reply)
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(error) as raised:
        asyncio.run(model.extract_async(make_request()))

    assert raised.value.code == code  # type: ignore[attr-defined]
    retried = reply.status in (429, 503, 504)
    assert len(server.generate_requests) == (ATTEMPTS if retried else 1)


def test_async_rejected_request_is_not_retried_and_hides_the_key(server: FakeGeminiServer) -> None:
    server.set_responder(lambda _request: error_reply(400, f"API key not valid: {API_KEY}."))
    model = GeminiModel(MODEL, settings=make_settings(server))

    with pytest.raises(ModelUnavailable) as raised:
        asyncio.run(model.extract_async(make_request()))

    assert raised.value.code == "model_rejected_request"
    assert raised.value.details["upstream_status"] == 400
    assert API_KEY not in raised.value.message
    assert len(server.generate_requests) == 1


def test_async_endpoint_that_refuses_connections_is_model_unavailable() -> None:
    with FakeGeminiServer() as stopped_server:
        closed_url = stopped_server.base_url
    model = GeminiModel(MODEL, settings=make_settings(stopped_server, gemini_base_url=closed_url))

    with pytest.raises(ModelUnavailable, match="could not be reached") as raised:
        asyncio.run(model.extract_async(make_request()))

    assert raised.value.code == "model_unavailable"


def test_async_call_opens_an_llm_span_with_model_provider_and_token_metrics(
    server: FakeGeminiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from shared.llm.gemini import model as gemini_model

    opened: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def fake_span(**fields: Any) -> Iterator[str]:
        opened.append(fields)
        yield "span"

    monkeypatch.setattr(gemini_model, "explicit_llm_span", fake_span)
    monkeypatch.setattr(gemini_model, "annotate", lambda span, **fields: annotations.append(fields))
    server.enqueue(extraction_reply(prompt_tokens=900, output_tokens=100))
    model = GeminiModel(MODEL, settings=make_settings(server))

    asyncio.run(model.extract_async(make_request()))

    assert opened == [{"model_name": MODEL, "provider": "google", "name": "generate_content"}]
    assert annotations[-1]["metrics"] == {"input_tokens": 900, "output_tokens": 100, "total_tokens": 1000}
    assert json.loads(annotations[-1]["output_data"][0]["content"]) == SAMPLE_EXTRACTION
