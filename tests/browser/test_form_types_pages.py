"""Form types in a real browser: a person picks the paper's type, a reading that breaks the
paper's arithmetic is said first, feedback starts empty, and the entry editor speaks the paper.

The gateway's Gemini is the local stand-in (no Gemini is reachable here): it answers what the
test queues (a rendered EC8A read exactly, whose own arithmetic and words were broken on
purpose), so the page shows a real record made by the real API.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from shared.synthetic.typed_forms import render_form
from tests.browser.conftest import CONSOLE_API_KEY, Screenshots, start_console_for
from tests.browser.streamlit_page import choose, no_traceback, open_page, open_tab, page_text, upload, wait_idle
from tests.fakes.gemini_server import FakeGeminiServer, extraction_reply

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": CONSOLE_API_KEY}
EC8A_CHOICE = "ng_ec8a · Nigeria INEC Form EC8A (polling unit result)"
VIEWPORT = {"width": 1280, "height": 1000}


@pytest.fixture(scope="module")
def gemini_stack(local_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Any]]:
    """(console url, gateway url, the Gemini stand-in)."""
    from tests.integration.processes import start_gateway

    folder = tmp_path_factory.mktemp("form-types-browser")
    gemini = FakeGeminiServer(api_key="browser-gemini-key").start()
    gateway, gateway_url = start_gateway(
        folder, GEMINI_API_KEY="browser-gemini-key", GEMINI_BASE_URL=gemini.base_url, CROSS_CHECK="off"
    )
    console = start_console_for(gateway_url, folder)
    yield console.url, gateway_url, gemini
    console.stop()
    gateway.stop()
    gemini.stop()


def new_page(browser: Browser, console_url: str) -> Page:
    return browser.new_context(base_url=console_url, viewport=VIEWPORT).new_page()


def test_an_ec8a_reading_whose_checks_fail_is_said_before_its_numbers(
    browser: Browser, gemini_stack: tuple[str, str, Any], tmp_path: Path, screenshots: Screenshots
) -> None:
    console_url, gateway_url, gemini = gemini_stack
    broken = "used_is_spoiled_rejected_valid"
    paper = render_form("ng_ec8a", seed=41, breaks_rule=broken, words_mismatch=True)
    image_path = tmp_path / "ec8a.png"
    image_path.write_bytes(paper.image)
    page = new_page(browser, console_url)
    open_page(page, "/Vote_Extractor", "🗳️ Vote Extractor")
    choose(page, "Model", "gemini-2.5-flash")
    choose(page, "Form type (which paper this is)", EC8A_CHOICE)
    page.get_by_text("What the registry holds for ng_ec8a").click()
    expect(page.get_by_text("8. Total Number of Used Ballot Papers (#5 + #6 + #7)").first).to_be_visible()
    screenshots.take(page, "vote-extractor-form-types")
    page.get_by_text("What the registry holds for ng_ec8a").click()  # folded again

    gemini.enqueue(extraction_reply(paper.truth))  # a perfect reading of a paper that does not add up
    upload(page, image_path)
    page.get_by_role("button", name="Extract", exact=True).click()
    banner = page.locator('[data-testid="stAlert"]', has_text="Read, but its checks failed")
    expect(banner).to_be_visible(timeout=60_000)
    wait_idle(page)

    text = banner.inner_text()
    assert broken in text and "Look at it before using these numbers" in text
    assert "figures and words differ" in text and str(paper.words_mismatch_row) in text
    votes = page.locator('[data-testid="stTable"]', has_text="In words").first
    banner_box, votes_box = banner.bounding_box(), votes.bounding_box()
    assert banner_box and votes_box and banner_box["y"] + banner_box["height"] <= votes_box["y"]
    statistics = page.locator('[data-testid="stTable"]', has_text="As printed on the form")
    expect(statistics).to_contain_text("1. Number of Voters on the Register")  # the label as printed, number kept
    assert "**succeeded**" not in page_text(page) and "read, checks failed" in page_text(page)
    banner.evaluate("alert => alert.scrollIntoView({block: 'start'})")  # the reading, from its first line
    screenshots.take(page, "vote-extractor-checks-failed", for_readme=True)

    # Nothing is chosen for the person; sending without a verdict says what is missing.
    feedback = page.locator('[data-testid="stForm"]')
    assert feedback.locator('input[type="radio"]:checked').count() == 0
    feedback.get_by_role("button", name="Submit feedback").click()
    expect(page.get_by_text("Choose a verdict, 👍 Good or 👎 Poor, before submitting")).to_be_visible(timeout=30_000)
    no_traceback(page)

    found = requests.get(f"{gateway_url}/extract", params={"page_size": 1}, headers=HEADERS, timeout=30).json()
    assert found["items"][0]["form_type"] == "ng_ec8a@1"  # the type picked on upload reached the request


def test_the_entry_editor_shows_each_rule_and_saves_the_papers_statistics(
    browser: Browser, gemini_stack: tuple[str, str, Any], screenshots: Screenshots
) -> None:
    console_url, gateway_url, _ = gemini_stack
    name = f"ec8a-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "version": "v1"}
    created = requests.post(f"{gateway_url}/datasets", json=body, headers=HEADERS, timeout=30)
    assert created.status_code == 201, created.text
    # A paper whose own row 7 is not the sum of its rows: golden data that says so.
    paper = render_form("ng_ec8a", seed=42, breaks_rule="valid_is_sum_of_votes")
    expected = paper.truth.model_dump(mode="json")
    rows_total = sum(row["vote_count"] or 0 for row in expected["vote_results"])
    assert expected["statistics"]["valid_votes"] != rows_total
    added = requests.post(
        f"{gateway_url}/datasets/{name}/v1/entries",
        json={
            "id": "pu-036",
            "input": {"image_base64": base64.b64encode(paper.image).decode()},
            "expected_output": expected,
        },
        headers=HEADERS,
        timeout=60,
    )
    assert added.status_code == 201, added.text

    page = new_page(browser, console_url)
    open_page(page, "/Dataset_Manager", "📊 Dataset Manager")
    choose(page, "Dataset version", f"{name}@v1")
    open_tab(page, "Entries")
    expect(page.get_by_text("❌ fails: valid_is_sum_of_votes")).to_be_visible(timeout=30_000)
    page.get_by_text("Edit the expected output of pu-036").click()
    editor = page.locator('[data-testid="stExpander"]', has_text="Edit the expected output of pu-036")
    verdicts = editor.locator('[data-testid="stTable"]', has_text="Verdict")
    expect(verdicts.locator("tr", has_text="valid_is_sum_of_votes")).to_contain_text("❌ fails")
    valid = editor.get_by_label("7. Total Number of Valid Votes")
    valid.fill(str(rows_total))
    valid.press("Tab")
    page.evaluate("() => document.activeElement?.blur()")  # no focus ring or hint in the picture
    editor.evaluate("expander => expander.scrollIntoView({block: 'start'})")
    screenshots.take(page, "dataset-entry-editor", for_readme=True)
    editor.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved entry pu-036.")).to_be_visible(timeout=30_000)
    no_traceback(page)

    entry = requests.get(f"{gateway_url}/datasets/{name}/v1", headers=HEADERS, timeout=30).json()["entries"][0]
    assert entry["expected_output"]["statistics"] == {**expected["statistics"], "valid_votes": rows_total}
    assert {c["rule"]: c["status"] for c in entry["checks"]}["valid_is_sum_of_votes"] == "pass"
    expect(page.get_by_text("❌ fails: valid_is_sum_of_votes")).to_have_count(0)  # the card says it holds now
