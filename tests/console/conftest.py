"""Console page logic with Streamlit's AppTest (no browser), against a real gateway process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

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
