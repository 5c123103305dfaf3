"""The Quality page shows production accuracy with its 95% interval, as the API computes it, after
real extractions drawn into the random sample were reviewed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import Page, expect

from shared.synthetic.forms import generate_form
from tests.browser.conftest import CONSOLE_API_KEY, Screenshots
from tests.browser.streamlit_page import no_traceback, open_page, table_rows

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": CONSOLE_API_KEY}
REVIEWED = 11


@pytest.fixture(scope="session")
def answering_api(api_url: str) -> str:
    """The session's gateway once Firestore answers it: on a loaded machine a cold emulator's first
    answer can take longer than the API's 6 s (a 503), which would fail the demo's seeding."""
    deadline = time.monotonic() + 120
    while True:
        listed = requests.get(f"{api_url}/datasets", headers=HEADERS, timeout=60)
        if listed.status_code == 200:
            return api_url
        assert time.monotonic() < deadline, listed.text
        time.sleep(1)


@pytest.fixture(scope="module")
def sampling_gateway(local_stack, tmp_path_factory) -> Iterator[str]:
    """A second gateway over the same emulators that draws every extraction into the random sample."""
    from tests.integration.processes import start_gateway

    process, url = start_gateway(
        tmp_path_factory.mktemp("sampling-gateway"), DEFAULT_MODEL="tesseract", REVIEW_RANDOM_SAMPLE_RATE="1.0"
    )
    yield url
    process.stop()


@pytest.fixture(scope="module")
def reviewed_sample(sampling_gateway: str, demo_seeded: str) -> None:
    """REVIEWED extractions in the random sample, each decided by a reviewer (every third rejected)."""
    draft = f"quality_{datetime.now(UTC):%H%M%S%f}"
    created = requests.post(f"{sampling_gateway}/datasets", json={"name": draft, "version": "v1"}, headers=HEADERS)
    assert created.status_code == 201, created.text
    for seed in range(601, 601 + REVIEWED):
        form = generate_form(seed)
        answer = requests.post(
            f"{sampling_gateway}/extract",
            files={"image": ("form.png", form.image, form.content_type)},
            headers=HEADERS,
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        extraction_id = answer.json()["extraction_id"]
        claimed = requests.post(
            f"{sampling_gateway}/datasets/review/claim",
            json={"reviewer": "ada", "extraction_id": extraction_id},
            headers=HEADERS,
        )
        assert claimed.status_code == 200, claimed.text
        decision = (
            {"decision": "reject"}
            if seed % 3 == 0
            else {"decision": "approve", "target": {"name": draft, "version": "v1"}}
        )
        decided = requests.post(
            f"{sampling_gateway}/datasets/review/{extraction_id}/decision",
            json={"reviewer": "ada", **decision},
            headers=HEADERS,
        )
        assert decided.status_code == 200, decided.text


def test_the_quality_page_shows_the_estimate_and_its_interval(
    answering_api: str, reviewed_sample: None, demo_seeded: str, page: Page, screenshots: Screenshots
) -> None:
    open_page(page, "/Quality", "📈 Quality")

    since = (datetime.now(UTC) - timedelta(weeks=4)).isoformat()
    api = requests.get(f"{demo_seeded}/datasets/review/accuracy", params={"since": since}, headers=HEADERS).json()
    assert api["estimate"] is not None and api["n_reviewed"] >= REVIEWED
    expect(page.get_by_text(f"{api['estimate']:.1%}", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"{api['ci_low']:.1%} – {api['ci_high']:.1%}", exact=True).first).to_be_visible()
    screenshots.take(page, "quality", for_readme=True, full_page=True)
    weeks = table_rows(page.locator('[data-testid="stTable"] table').first)
    assert sum(int(week["reviewed"]) for week in weeks) == api["n_reviewed"], (weeks, api)
    assert any(week["accuracy"].endswith("%") for week in weeks)
    form_types = table_rows(page.locator('[data-testid="stTable"] table').nth(1))
    assert any(row[""] == "generic@1" and row["accuracy"].endswith("%") for row in form_types), form_types
    no_traceback(page)
