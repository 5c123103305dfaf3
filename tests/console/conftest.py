"""Console page logic with Streamlit's AppTest (no browser), against a real gateway process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CONSOLE_DIR = Path(__file__).resolve().parents[2] / "frontend" / "streamlit"
API_KEY = "test-key"  # what the session's API accepts (tests/conftest.py)


@pytest.fixture(scope="session", autouse=True)
def console_modules_importable() -> Iterator[None]:
    """A page imports api_client & co. as Streamlit runs it: with the console's folder on sys.path."""
    sys.path.insert(0, str(CONSOLE_DIR))
    yield
    sys.path.remove(str(CONSOLE_DIR))


@pytest.fixture(scope="session")
def api_url(local_stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.integration.processes import start_gateway

    process, url = start_gateway(tmp_path_factory.mktemp("apptest-gateway"), DEFAULT_MODEL="tesseract")
    yield url
    process.stop()


@pytest.fixture
def console_env(api_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("API_BASE_URL", api_url)
    monkeypatch.setenv("API_KEY", API_KEY)
    return api_url


def page_path(name: str) -> str:
    return str(CONSOLE_DIR / "pages" / name)


@pytest.fixture(scope="session")
def gemini_reading_api(local_stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """A gateway whose Gemini is the local stand-in (no Gemini is reachable here): a test queues
    the reading the model answers, e.g. one whose arithmetic fails. Answers (url, the server)."""
    from tests.fakes.gemini_server import FakeGeminiServer
    from tests.integration.processes import start_gateway

    gemini = FakeGeminiServer(api_key="console-gemini-key").start()
    process, url = start_gateway(
        tmp_path_factory.mktemp("apptest-gemini-gateway"),
        GEMINI_API_KEY="console-gemini-key",
        GEMINI_BASE_URL=gemini.base_url,
        CROSS_CHECK="off",
    )
    yield url, gemini
    process.stop()
    gemini.stop()


@pytest.fixture
def gemini_console_env(gemini_reading_api: tuple[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    url, gemini = gemini_reading_api
    monkeypatch.setenv("API_BASE_URL", url)
    monkeypatch.setenv("API_KEY", API_KEY)
    return url, gemini
