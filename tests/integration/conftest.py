"""Fixtures for the functions under test: the local Gemini stand-in and each function's app.

Gemini cannot be reached from here, so the Gemini adapter talks to `tests.fakes.gemini_server`,
a local server that speaks the generateContent REST API. In production the same code talks to
Gemini.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import functions_framework
import pytest

from infra.local.emulators import LocalStack
from tests.fakes.gemini_server import FakeGeminiServer

ROOT = Path(__file__).resolve().parents[2]
GEMINI_TEST_KEY = "test-gemini-key"


def _clear_instance_caches() -> None:
    """Forget the cached settings, clients and services so they are rebuilt from the environment."""
    from shared.config import get_settings
    from shared.storage.clients import firestore_client, storage_client
    from shared.wiring.datasets import dataset_service, production_accuracy_service, review_service
    from shared.wiring.evaluations import evaluation_sink
    from shared.wiring.experiments import (
        alert_service,
        experiment_commands,
        experiment_completion,
        experiment_queries,
        image_store,
        schedule_service,
        shard_publisher,
    )
    from shared.wiring.experiments_scheduled import experiment_recovery, production_accuracy_gauges, traffic_alerts
    from shared.wiring.experiments_worker import shard_worker
    from shared.wiring.extract import extraction_service
    from shared.wiring.feedback import feedback_service
    from shared.wiring.form_types import forget_cached_form_types
    from shared.wiring.judges import judge_alignment, judge_registry
    from shared.wiring.prompts import forget_cached_prompts, prompt_registry

    forget_cached_prompts()
    forget_cached_form_types()
    for cached in (
        get_settings,
        prompt_registry,
        judge_registry,
        judge_alignment,
        evaluation_sink,
        extraction_service,
        feedback_service,
        review_service,
        production_accuracy_service,
        dataset_service,
        shard_publisher,
        image_store,
        experiment_completion,
        experiment_commands,
        experiment_queries,
        experiment_recovery,
        traffic_alerts,
        production_accuracy_gauges,
        schedule_service,
        alert_service,
        shard_worker,
        firestore_client,
        storage_client,
    ):
        cached.cache_clear()


ALLOWED_ORIGIN = "https://results.example.org"


@pytest.fixture(scope="session")
def fake_gemini(local_stack: LocalStack) -> Iterator[FakeGeminiServer]:
    """The Gemini stand-in, configured into the session's settings (short timeouts and backoff)."""
    server = FakeGeminiServer(api_key=GEMINI_TEST_KEY).start()
    os.environ.update(
        {
            "GEMINI_API_KEY": GEMINI_TEST_KEY,
            "GEMINI_BASE_URL": server.base_url,
            "GEMINI_TIMEOUT_S": "1.5",
            "GEMINI_RETRY_ATTEMPTS": "3",
            "GEMINI_RETRY_INITIAL_DELAY_S": "0.05",
            "GEMINI_RETRY_MAX_DELAY_S": "0.2",
            "DEFAULT_MODEL": "tesseract",
            "CORS_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        }
    )
    _clear_instance_caches()
    yield server
    server.stop()


@pytest.fixture
def gemini(fake_gemini: FakeGeminiServer) -> FakeGeminiServer:
    fake_gemini.reset()
    return fake_gemini


def function_client(name: str):
    app = functions_framework.create_app(target=name, source=str(ROOT / "functions" / name / "main.py"))
    return app.test_client()


@pytest.fixture(scope="session")
def llmobs_session(local_stack: LocalStack) -> Iterator[None]:
    """Flush and stop LLM Observability before the test agent stops (no sends to a dead port)."""
    yield
    from ddtrace.llmobs import LLMObs

    if LLMObs.enabled:
        LLMObs.flush()
        LLMObs.disable()


@pytest.fixture(scope="session")
def extract_client(local_stack: LocalStack, fake_gemini: FakeGeminiServer, llmobs_session: None):
    """`extract` served as Cloud Functions serves it, over the real emulators."""
    return function_client("extract")


@pytest.fixture(scope="session")
def feedback_client(local_stack: LocalStack, fake_gemini: FakeGeminiServer, llmobs_session: None):
    """`feedback` served as Cloud Functions serves it, over the real emulators."""
    return function_client("feedback")


@pytest.fixture(scope="session")
def datasets_client(local_stack: LocalStack, fake_gemini: FakeGeminiServer, llmobs_session: None):
    """`datasets` served as Cloud Functions serves it, over the real emulators."""
    return function_client("datasets")


@pytest.fixture(scope="session")
def shard_pipeline(local_stack: LocalStack, fake_gemini: FakeGeminiServer) -> Iterator[str]:
    """`experiments-worker` served from this process on a free port, pushed to by the Pub/Sub
    emulator from a topic of the session's own: every experiment the in-process functions start
    runs the deployed way (publish, push, CloudEvent, worker), with this session's settings.
    Yields the topic."""
    from werkzeug.serving import make_server

    from infra.local.pubsub import ensure_shard_subscription

    topic = f"shards-session-{uuid.uuid4().hex[:8]}"
    os.environ["SHARDS_TOPIC"] = topic
    _clear_instance_caches()
    app = functions_framework.create_app(
        target="experiments_worker", source=str(ROOT / "functions" / "experiments_worker" / "main.py")
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, name="shard-pipeline", daemon=True)
    serving.start()
    ensure_shard_subscription(
        project=local_stack.project, topic=topic, push_endpoint=f"http://127.0.0.1:{server.server_port}/"
    )
    yield topic
    server.shutdown()


@pytest.fixture(scope="session")
def experiments_client(
    local_stack: LocalStack, fake_gemini: FakeGeminiServer, llmobs_session: None, shard_pipeline: str
):
    """`experiments` served as Cloud Functions serves it, over the real emulators; its experiments
    run on the session's `shard_pipeline`."""
    return function_client("experiments")


@pytest.fixture(scope="session")
def scheduled_client(local_stack: LocalStack, fake_gemini: FakeGeminiServer, llmobs_session: None, shard_pipeline: str):
    """`experiments_scheduled` (deployed as experiments-scheduled), the Cloud Scheduler target."""
    return function_client("experiments_scheduled")


@pytest.fixture
def configure() -> Iterator:
    """`configure(NAME="value", ...)`: set environment variables for one test and rebuild the
    cached settings and services from them; both are restored afterwards."""
    saved: dict[str, str | None] = {}

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        _clear_instance_caches()

    yield apply
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _clear_instance_caches()
