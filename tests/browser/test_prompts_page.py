"""The Experiments page's Prompts tab in a real browser: two versions side by side with their diff,
a label moved from the page, and the variants' prompt picker offering versions and labels.

Debian's Chromium drives the console (a Streamlit process) against a gateway process over the
real emulators; what the page did is checked through the API.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import CONSOLE_API_KEY, Screenshots
from tests.browser.streamlit_page import choose, no_traceback, open_page, open_tab, wait_idle

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": CONSOLE_API_KEY}
V1 = "Read the election form.\nReturn JSON."
V2 = "Read the election form.\nCheck the totals against:\n{{reference_docs}}\nReturn JSON."


def test_two_prompt_versions_side_by_side_and_a_label_moved(page: Page, api_url: str, screenshots: Screenshots) -> None:
    name = f"console_{uuid.uuid4().hex[:6]}"
    for template, variables in ((V1, []), (V2, ["reference_docs"])):
        created = requests.post(
            f"{api_url}/experiments/prompts",
            json={"name": name, "template": template, "variables": variables},
            headers=HEADERS,
            timeout=30,
        )
        assert created.status_code == 201, created.text
    labelled = requests.post(
        f"{api_url}/experiments/prompts/{name}/labels",
        json={"label": "production", "version": 1},
        headers=HEADERS,
        timeout=30,
    )
    assert labelled.status_code == 200, labelled.text

    open_page(page, "/Experiments", "🧪 Experiments")
    open_tab(page, "Prompts")
    choose(page, "Prompt", name)
    expect(page.get_by_text(f"{name}@1", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"{name}@2", exact=True)).to_be_visible()
    expect(page.get_by_text(f"Diff {name}@1 → {name}@2")).to_be_visible()
    codes = page.locator('[data-testid="stCode"]')
    expect(codes).to_have_count(3)
    expect(codes.nth(0)).to_contain_text("Read the election form.")
    expect(codes.nth(1)).to_contain_text("{{reference_docs}}")
    expect(codes.nth(2)).to_contain_text("+Check the totals against:")
    screenshots.take(page, "prompts-side-by-side")

    choose(page, "Label", "production")
    choose(page, "points at version", "2")
    page.get_by_role("button", name="Move the label").click()
    wait_idle(page)
    described = requests.get(f"{api_url}/experiments/prompts/{name}", headers=HEADERS, timeout=30).json()
    assert described["labels"] == {"production": 2}
    assert described["label_moves"]["production"]["from"] == 1

    open_tab(page, "Start an experiment")
    expect(page.get_by_text("name@label or name@version")).to_be_visible(timeout=30_000)
    no_traceback(page)


def test_a_rubric_judge_is_configured_on_the_start_form_and_priced(page: Page, screenshots: Screenshots) -> None:
    open_page(page, "/Experiments", "🧪 Experiments")
    open_tab(page, "Start an experiment")
    page.get_by_text("Rubric judge (an LLM grades each run against your criteria)").click()
    page.get_by_text("Add a rubric judge").click()
    wait_idle(page)
    expect(page.get_by_text("Criteria", exact=True)).to_be_visible(timeout=30_000)
    page.get_by_text("categorical", exact=True).click()
    wait_idle(page)
    expect(page.get_by_text("Passing classes")).to_be_visible()
    page.get_by_role("button", name="Estimate the cost (dry run)").click()
    wait_idle(page)
    # The demo's variants are tesseract (free): the estimate is the judge's calls.
    estimate = page.get_by_text("estimated cost $")
    expect(estimate).to_be_visible(timeout=30_000)
    assert "estimated cost $0.0000" not in estimate.inner_text()
    screenshots.take(page, "rubric-judge", full_page=True)
    no_traceback(page)
