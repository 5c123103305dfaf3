"""The Vote Extractor's prompt ref picker and reference documents, in a real browser: what the
person picks and types reaches POST /extract, checked on the stored extraction."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from shared.synthetic.forms import generate_form
from tests.browser.conftest import CONSOLE_API_KEY, Screenshots
from tests.browser.streamlit_page import choose, no_traceback, open_page, upload, wait_idle
from tests.browser.test_vote_extractor_page import upload_and_extract

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": CONSOLE_API_KEY}
TEMPLATE = "Read the election form.\nCheck the names against:\n{{reference_docs}}\nReturn JSON."


def a_prompt_with_two_versions(api_url: str) -> str:
    """Versions 1 and 2; `production` points at 1 (the older one), `candidate` at 2."""
    name = f"refs_{uuid.uuid4().hex[:6]}"
    for text in ("Read the election form. Return JSON.", TEMPLATE):
        body = {"name": name, "template": text, "variables": ["reference_docs"] if "{{" in text else []}
        created = requests.post(f"{api_url}/experiments/prompts", json=body, headers=HEADERS, timeout=30)
        assert created.status_code == 201, created.text
    for label, version in (("production", 1), ("candidate", 2)):
        moved = requests.post(
            f"{api_url}/experiments/prompts/{name}/labels",
            json={"label": label, "version": version},
            headers=HEADERS,
            timeout=30,
        )
        assert moved.status_code == 200, moved.text
    return name


def test_a_prompt_ref_and_reference_documents_reach_the_stored_extraction(
    page: Page, api_url: str, tmp_path: Path, screenshots: Screenshots
) -> None:
    name = a_prompt_with_two_versions(api_url)
    image = tmp_path / "form.png"
    image.write_bytes(generate_form(5300).image)
    notes = tmp_path / "candidates.txt"
    notes.write_text("Registered voters: 1,204.\n")

    open_page(page, "/Vote_Extractor", "🗳️ Vote Extractor")
    box = page.get_by_role("combobox", name="Prompt version")
    box.click()
    box.fill(name)
    offered = sorted(text.strip() for text in page.get_by_role("option").all_inner_texts())  # the filter reorders
    assert offered == sorted(
        [
            f"{name} (latest: version 2)",
            f"{name}@2 (candidate)",
            f"{name}@1 (production)",
            f"{name}@candidate",
            f"{name}@production",
        ]
    )
    screenshots.take(page, "prompt-ref-picker")
    page.keyboard.press("Escape")
    choose(page, "Prompt version", f"{name}@production")

    page.get_by_text("Reference documents (optional").click()
    page.get_by_role("textbox", name="Reference documents").fill("Candidates: Ada Obi (APC), Musa Bello (PDP).")
    page.keyboard.press("Tab")
    wait_idle(page)
    references = page.locator('[data-testid="stFileUploader"]', has_text="Or text files")
    upload(page, notes, uploader=references)
    expect(page.get_by_text("characters will be sent with the extraction")).to_be_visible()
    screenshots.take(page, "reference-documents")

    extraction_id = upload_and_extract(page, image)
    stored = requests.get(f"{api_url}/extract/{extraction_id}", headers=HEADERS, timeout=30).json()
    assert stored["prompt_version"] == f"{name}@1"  # production, resolved
    assert stored["reference_docs"] == "Candidates: Ada Obi (APC), Musa Bello (PDP).\n\nRegistered voters: 1,204."
    no_traceback(page)
