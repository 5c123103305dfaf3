"""Flows b-e of the console in a real browser: review queue, dataset manager, experiments, errors.

Each test drives Debian's Chromium through the console (a Streamlit process) against a gateway
process over the real emulators, and checks what the API stored.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from infra.local.test_agent import TestAgent
from shared.synthetic.forms import generate_form
from tests.browser.conftest import CONSOLE_API_KEY, Screenshots, start_console_for
from tests.browser.streamlit_page import choose, no_traceback, open_page, open_tab, page_text, upload, wait_idle

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": CONSOLE_API_KEY}


def api(method: str, url: str, **kwargs) -> requests.Response:
    return requests.request(method, url, headers=HEADERS, timeout=120, **kwargs)


def thumbs_down_extraction(api_url: str, seed: int) -> tuple[dict, dict]:
    """An extraction (through the API) with a thumbs down that corrects its first count."""
    form = generate_form(seed)
    record = api("POST", f"{api_url}/extract", files={"image": ("f.png", form.image, "image/png")}).json()
    first = record["result"]["vote_results"][0]
    correction = {"candidate_name": first["candidate_name"], "vote_count": (first["vote_count"] or 0) + 3}
    answer = api(
        "POST",
        f"{api_url}/feedback",
        json={
            "span_id": record["span_id"],
            "trace_id": record["trace_id"],
            "feedback_type": "thumbs_down",
            "corrections": {"vote_results": [correction]},
        },
    )
    assert answer.status_code == 201, answer.text
    return record, correction


def ensure_draft(api_url: str, name: str, version: str) -> None:
    created = api("POST", f"{api_url}/datasets", json={"name": name, "version": version})
    assert created.status_code in (201, 409), created.text


# --- b. the review queue ---------------------------------------------------------------------


def test_reviewers_claim_apart_and_approve_into_golden_v2(
    browser: Browser, base_url: str, api_url: str, screenshots: Screenshots, test_agent: TestAgent
) -> None:
    record, correction = thumbs_down_extraction(api_url, seed=7301)
    ensure_draft(api_url, "golden", "v2")
    extraction_id = record["extraction_id"]
    queue = api("GET", f"{api_url}/datasets/review/queue", params={"state": "pending"}).json()
    mine = [item for item in queue["items"] if item["extraction_id"] == extraction_id]
    assert mine and "thumbs_down" in mine[0]["reasons"]

    ada = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800}).new_page()
    grace = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800}).new_page()
    open_page(ada, "/Review_Queue", "🧑‍⚖️ Review Queue")
    ada.get_by_label("Your name (recorded with every decision)").fill("ada")
    ada.keyboard.press("Enter")
    wait_idle(ada)
    choose(ada, "Or a pending item", extraction_id)
    ada.get_by_role("button", name="Claim this item").click()
    expect(ada.get_by_text(f"Reviewing {extraction_id}")).to_be_visible(timeout=30_000)
    screenshots.take(ada, "review-queue", for_readme=True)

    # Another reviewer never gets it while ada holds it: not by name, not as "the next item".
    open_page(grace, "/Review_Queue", "🧑‍⚖️ Review Queue")
    grace.get_by_label("Your name (recorded with every decision)").fill("grace")
    grace.keyboard.press("Enter")
    wait_idle(grace)
    assert extraction_id not in page_text(grace) or "Claim this item" in page_text(grace)
    for _ in range(3):
        grace.get_by_role("button", name="Claim the next item").click()
        expect(grace.get_by_text(re.compile("Reviewing|Nothing is pending")).first).to_be_visible(timeout=30_000)
        text = page_text(grace)
        if "Reviewing" in text:
            assert f"Reviewing {extraction_id}" not in text
            grace.get_by_role("button", name="Skip").click()
            wait_idle(grace)
        else:
            assert "Nothing is pending" in text
            break
    screenshots.take(grace, "review-queue-second-reviewer")
    no_traceback(grace)

    # ada approves it into golden@v2: a validated entry whose expected output is the corrected one.
    choose(ada, "Approve into (a draft version)", "golden@v2")
    ada.get_by_role("button", name="Approve").click()
    expect(ada.get_by_text(f"Recorded: approve for {extraction_id}")).to_be_visible(timeout=30_000)
    screenshots.take(ada, "review-queue-approved")
    no_traceback(ada)

    entries = api("GET", f"{api_url}/datasets/golden/v2", params={"page_size": 500}).json()["entries"]
    [entry] = [e for e in entries if e.get("source", {}).get("extraction_id") == extraction_id]
    assert entry["validated"] is True
    corrected = {r["candidate_name"]: r["vote_count"] for r in entry["expected_output"]["vote_results"]}
    assert corrected[correction["candidate_name"]] == correction["vote_count"]
    test_agent.wait_for(lambda: test_agent.evaluations_for(record["span_id"], "human_review"), timeout=20)


def test_a_reviewer_sees_the_fields_a_second_reading_disagreed_on(
    browser: Browser, local_stack: Any, tmp_path: Path, screenshots: Screenshots
) -> None:
    """A gateway with the cross check on, Gemini as the local stand-in (no Gemini is reachable
    here) answering a deliberate misread that adds up; tesseract's second reading disagrees."""
    from tests.fakes.gemini_server import FakeGeminiServer, extraction_reply
    from tests.integration.processes import start_gateway

    form = generate_form(21)
    misread = form.truth.model_copy(deep=True)
    first, second = misread.vote_results[0], misread.vote_results[1]
    first.vote_count, second.vote_count = second.vote_count, first.vote_count
    gemini = FakeGeminiServer(api_key="browser-gemini-key").start()
    gateway, gateway_url = start_gateway(
        tmp_path,
        GEMINI_API_KEY="browser-gemini-key",
        GEMINI_BASE_URL=gemini.base_url,
        CROSS_CHECK="on",
        CROSS_CHECK_READER="",
    )
    console = start_console_for(gateway_url, tmp_path)
    try:
        gemini.enqueue(extraction_reply(misread))
        record = api(
            "POST",
            f"{gateway_url}/extract",
            files={"image": ("f.png", form.image, "image/png")},
            data={"model": "gemini-2.5-flash"},
        ).json()
        queue = api("GET", f"{gateway_url}/datasets/review/queue", params={"reason": "cross_check"}).json()
        [item] = [i for i in queue["items"] if i["extraction_id"] == record["extraction_id"]]

        reviewer = browser.new_context(base_url=console.url, viewport={"width": 1280, "height": 1000}).new_page()
        open_page(reviewer, "/Review_Queue", "🧑‍⚖️ Review Queue")
        reviewer.get_by_label("Your name (recorded with every decision)").fill("ada")
        reviewer.keyboard.press("Enter")
        wait_idle(reviewer)
        choose(reviewer, "Or a pending item", record["extraction_id"])
        reviewer.get_by_role("button", name="Claim this item").click()
        expect(reviewer.get_by_text(f"Reviewing {record['extraction_id']}")).to_be_visible(timeout=30_000)
        expect(reviewer.get_by_text("A second reading by tesseract disagrees on 2 field(s)")).to_be_visible(
            timeout=30_000
        )
        text = page_text(reviewer)
        for disagreement in item["cross_check_fields"]:
            assert disagreement["field"] in text
        assert f"{first.vote_count}" in text and f"{second.vote_count}" in text
        screenshots.take(reviewer, "review-queue-cross-check")
        no_traceback(reviewer)
    finally:
        console.stop()
        gateway.stop()
        gemini.stop()


# --- c. the dataset manager ------------------------------------------------------------------


def jsonl_with_one_bad_line(count: int) -> bytes:
    lines = []
    for index in range(count):
        form = generate_form(8100 + index, candidates=3)
        lines.append(
            json.dumps(
                {
                    "id": f"entry-{index}",
                    "input": {"image_base64": base64.b64encode(form.image).decode()},
                    "expected_output": form.truth.model_dump(),
                }
            )
        )
    lines.insert(1, '{"id": "broken", "input": {}}')
    return ("\n".join(lines) + "\n").encode()


def test_dataset_manager_create_import_edit_publish_diff_export(
    page: Page, tmp_path: Path, api_url: str, screenshots: Screenshots
) -> None:
    name = f"browser-{uuid.uuid4().hex[:8]}"
    open_page(page, "/Dataset_Manager", "📊 Dataset Manager")
    page.get_by_text("Create a dataset").click()
    page.get_by_role("textbox", name="Name").fill(name)
    page.keyboard.press("Tab")  # leaves the field, as a person does before reaching the button
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_text(f"Created {name}@v1 (a draft).")).to_be_visible(timeout=30_000)

    choose(page, "Dataset version", f"{name}@v1")
    open_tab(page, "Import and export")
    entries_file = tmp_path / "entries.jsonl"
    entries_file.write_bytes(jsonl_with_one_bad_line(3))
    upload(page, entries_file)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Imported 3 entries; rejected 1.")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("expected_output: Field required")).to_be_visible()  # the rejected line's reason
    screenshots.take(page, "dataset-import")

    open_tab(page, "Publish or branch")
    page.get_by_text(f"Yes, freeze {name}@v1").click()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_text(f"Published {name}@v1.")).to_be_visible(timeout=30_000)
    open_tab(page, "Publish or branch")
    page.get_by_label("New draft version, with the same entries").fill("v2")
    page.get_by_role("button", name="Create the new version").click()
    expect(page.get_by_text(f"Created {name}@v2 from v1.")).to_be_visible(timeout=30_000)

    choose(page, "Dataset version", f"{name}@v2")
    open_tab(page, "Entries")
    page.get_by_text("Edit the expected output of entry-0").click()
    editor = page.locator('[data-testid="stExpander"]', has_text="Edit the expected output of entry-0")
    editor.get_by_label("Valid votes").fill("999999")
    editor.get_by_label("Valid votes").press("Tab")
    editor.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved entry entry-0.")).to_be_visible(timeout=30_000)
    page.locator('[data-testid="stMain"]').evaluate("main => main.scrollTo(0, 0)")
    screenshots.take(page, "dataset-manager", for_readme=True)

    open_tab(page, "Diff")
    choose(page, "From", "v1")
    choose(page, "To", "v2")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_text("0 added, 0 removed, 1 changed.")).to_be_visible(timeout=30_000)

    open_tab(page, "Import and export")
    page.get_by_role("button", name="Prepare the export").click()
    with page.expect_download() as download:
        page.get_by_role("button", name=f"Download {name}-v2.jsonl").click()
    exported = Path(download.value.path()).read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in exported) == ["entry-0", "entry-1", "entry-2"]
    no_traceback(page)


# --- d. experiments --------------------------------------------------------------------------


def test_start_on_vs_off_watch_it_finish_and_read_the_verdict(page: Page, screenshots: Screenshots) -> None:
    open_page(page, "/Experiments", "🧪 Experiments")
    open_tab(page, "Start an experiment")
    choose(page, "Dataset version", "demo_forms@v1")
    page.get_by_role("button", name="Estimate the cost (dry run)").click()
    expect(page.get_by_text("48 runs, estimated cost $0.0000")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Start the experiment").click()
    expect(page.get_by_text("Started ")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("completed, 48 of 48 runs (100%)").first).to_be_visible(timeout=300_000)
    screenshots.take(page, "experiment-progress")

    open_tab(page, "Experiments")
    choose(page, "Compare (a, the reference)", "off")
    choose(page, "with (b)", "on")
    comparison = page.locator('[data-testid="stTable"]', has_text="verdict").first  # then the per-field table
    row = comparison.locator("tr", has_text="vote_count_accuracy").first
    expect(row).to_contain_text("better")
    expect(row).to_contain_text("(primary)")  # no primary declared: vote_count_accuracy leads
    expect(comparison).to_contain_text("p (Holm)")
    expect(comparison).to_contain_text("MDE")
    page.get_by_role("button", name="Open the report").click()
    expect(page.get_by_role("button", name="Download the report (HTML)")).to_be_visible(timeout=30_000)
    report = page.frame_locator("iframe").first
    expect(report.get_by_role("heading", name="Answer")).to_be_visible(timeout=30_000)
    screenshots.take(page, "experiments", for_readme=True, full_page=True)
    no_traceback(page)


# --- e. errors are sentences -----------------------------------------------------------------


def test_bad_uploads_show_the_apis_message(page: Page, tmp_path: Path, screenshots: Screenshots) -> None:
    text_file = tmp_path / "form.png"
    text_file.write_text("this is not an image\n")
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (12 * 1024 * 1024))

    open_page(page, "/Vote_Extractor", "🗳️ Vote Extractor")
    upload(page, text_file)
    page.get_by_role("button", name="Extract", exact=True).click()
    expect(page.get_by_text("The extraction failed:")).to_be_visible(timeout=30_000)
    assert "image" in page_text(page).lower()
    screenshots.take(page, "error-not-an-image")
    no_traceback(page)

    upload(page, big)
    page.get_by_role("button", name="Extract", exact=True).click()
    expect(page.get_by_text("larger than")).to_be_visible(timeout=60_000)
    screenshots.take(page, "error-too-large")
    no_traceback(page)


def test_api_down_shows_the_unreachable_banner(
    page: Page, local_stack, tmp_path: Path, screenshots: Screenshots
) -> None:
    from tests.integration.processes import start_gateway

    gateway, url = start_gateway(tmp_path, DEFAULT_MODEL="tesseract")
    console = start_console_for(url, tmp_path)
    try:
        page.goto(f"{console.url}/Dataset_Manager")
        expect(page.get_by_role("heading", name="📊 Dataset Manager")).to_be_visible(timeout=30_000)
        gateway.stop()
        page.reload()
        expect(page.get_by_text("API unreachable.")).to_be_visible(timeout=30_000)
        screenshots.take(page, "error-api-unreachable")
        no_traceback(page)
    finally:
        console.stop()
        if gateway.popen.poll() is None:
            gateway.stop()
