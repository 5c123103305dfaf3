"""Flow a: a person uploads a form, reads the counts, and says what was wrong (in a real browser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.cloud import firestore
from playwright.sync_api import Page, expect

from infra.local.test_agent import TestAgent
from shared.synthetic.forms import generate_form
from tests.browser.conftest import Screenshots
from tests.browser.streamlit_page import edit_last_column, no_traceback, open_page, table_rows, upload, wait_idle

pytestmark = pytest.mark.integration

EXTRACTION_ID = re.compile(r"extraction ([0-9a-f]{32})")


def upload_and_extract(page: Page, image_path: Path) -> str:
    upload(page, image_path)
    page.get_by_role("button", name="Extract", exact=True).click()
    expect(page.get_by_text("How was this extraction?")).to_be_visible(timeout=60_000)
    wait_idle(page)
    found = EXTRACTION_ID.search(page.locator('[data-testid="stMain"]').inner_text())
    assert found, "the page names the extraction it shows"
    return found.group(1)


def test_upload_read_counts_and_give_feedback_once(
    page: Page, tmp_path: Path, screenshots: Screenshots, local_stack, test_agent: TestAgent
) -> None:
    form = generate_form(4242)
    image_path = tmp_path / "form.png"
    image_path.write_bytes(form.image)

    open_page(page, "/Vote_Extractor", "🗳️ Vote Extractor")
    screenshots.take(page, "vote-extractor-empty")
    extraction_id = upload_and_extract(page, image_path)
    screenshots.take(page, "vote-extractor", for_readme=True)

    # The counts on the page are the form's truth.
    votes = page.locator('[data-testid="stTable"]', has=page.get_by_role("columnheader", name="Candidate"))
    shown = table_rows(votes.first)
    truth = {row.candidate_name: row.vote_count for row in form.truth.vote_results}
    assert {row["Candidate"]: int(row["Votes"].replace(",", "")) for row in shown} == truth
    no_traceback(page)

    # Thumbs down, one count corrected, 4 stars, a comment; submit clicked twice.
    page.get_by_text("👎 Poor").click()
    page.get_by_text("★★★★", exact=True).click()
    page.get_by_label("Comment (optional)").fill("The first count is wrong.")
    first = form.truth.vote_results[0]
    corrected_votes = (first.vote_count or 0) + 7
    editor = page.locator('[data-testid="stForm"] [data-testid="stDataFrame"]').first
    edit_last_column(page, editor, row=0, text=str(corrected_votes))
    screenshots.take(page, "vote-extractor-feedback")
    page.get_by_role("button", name="Submit feedback").dblclick()
    expect(page.get_by_text("Thanks: your feedback is recorded")).to_be_visible(timeout=30_000)
    screenshots.take(page, "vote-extractor-feedback-sent")
    no_traceback(page)

    # One feedback record, with the correction, in Firestore.
    stored = [
        snapshot.to_dict()
        for snapshot in firestore.Client(project=local_stack.project)
        .collection("feedback")
        .where(filter=firestore.FieldFilter("extraction_id", "==", extraction_id))
        .stream()
    ]
    assert len(stored) == 1
    [feedback] = stored
    assert feedback["feedback_type"] == "thumbs_down" and feedback["quality_score"] == 4
    assert feedback["comment"] == "The first count is wrong."
    assert feedback["corrections"] == {
        "vote_results": [{"candidate_name": first.candidate_name, "vote_count": corrected_votes}]
    }

    # user_correction and corrected_accuracy reach Datadog on the extraction's llm span.
    extraction = firestore.Client(project=local_stack.project).collection("extractions").document(extraction_id)
    span_id = extraction.get().get("span_id")

    def labels() -> set[str]:
        return {evaluation["label"] for evaluation in test_agent.evaluations_for(span_id)}

    arrived = test_agent.wait_for(
        lambda: labels() if {"user_correction", "corrected_accuracy"} <= labels() else None, timeout=20
    )
    assert {"user_feedback", "user_quality_rating", "user_correction", "corrected_accuracy"} <= arrived
