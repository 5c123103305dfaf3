"""Datadog RUM loads in the console's pages only when the application id and client token are set."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.console.conftest import page_path


def rum_snippet():
    from rum import rum_snippet

    return rum_snippet()


def test_no_rum_without_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DD_RUM_APPLICATION_ID", raising=False)
    monkeypatch.setenv("DD_RUM_CLIENT_TOKEN", "pub123")

    assert rum_snippet() is None


def test_rum_initialised_with_the_application_the_site_and_masked_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_RUM_APPLICATION_ID", "app-0001")
    monkeypatch.setenv("DD_RUM_CLIENT_TOKEN", "pub123")
    monkeypatch.setenv("DD_SITE", "datadoghq.eu")

    snippet = rum_snippet()

    assert snippet is not None
    assert '"applicationId": "app-0001"' in snippet and '"clientToken": "pub123"' in snippet
    assert '"site": "datadoghq.eu"' in snippet and "/eu1/v6/datadog-rum.js" in snippet
    assert '"defaultPrivacyLevel": "mask-user-input"' in snippet
    assert "window.parent.document" in snippet  # loaded into the page, not the component's iframe


@pytest.mark.integration
def test_every_page_carries_the_snippet_when_configured(console_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_RUM_APPLICATION_ID", "app-0001")
    monkeypatch.setenv("DD_RUM_CLIENT_TOKEN", "pub123")
    for name in ("1_Vote_Extractor.py", "2_Review_Queue.py", "3_Dataset_Manager.py", "4_Experiments.py"):
        app = AppTest.from_file(page_path("../app.py"), default_timeout=120)
        app.switch_page(f"pages/{name}")
        app.run()
        html = [element for element in app.get("iframe") if "app-0001" in str(element.proto)]
        assert html, f"{name} does not load RUM"
