"""Form types on the console's pages (AppTest, against real gateway processes).

A person picks the paper's type on upload and it reaches the request; a reading whose own
arithmetic fails says so before its numbers; feedback starts with nothing chosen; corrections
and the entry editor speak the type's statistics by key.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests
from streamlit.testing.v1 import AppTest

from shared.synthetic.forms import generate_form
from tests.console.conftest import API_KEY
from tests.console.test_pages_logic import feedback_count, run_page
from tests.fakes.gemini_server import extraction_reply

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": API_KEY}
GEMINI = "gemini-2.5-flash"

# An EC8A as a model might misread it: the rows add to 320 but row 7 says 250 (so row 8, 328, is
# not 5 + 6 + 7 either), and PDP's words say 170 where its figures say 117. With row 7 read as
# 320, every rule holds.
EC8A_MISREAD = {
    "form": {"constituency_name": "Ward 04, PU 012", "constituency_code": "24-07-04-012", "form_type": None},
    "vote_results": [
        {"candidate_name": "APC", "party": "APC", "vote_count": 203, "vote_count_words": "TWO HUNDRED AND THREE"},
        {"candidate_name": "PDP", "party": "PDP", "vote_count": 117, "vote_count_words": "ONE HUNDRED AND SEVENTY"},
        {"candidate_name": "LP", "party": "LP", "vote_count": 0, "vote_count_words": "NIL"},
    ],
    "ballot_stats": {"valid_votes": None, "rejected_ballots": None, "total_ballots": None},
    "statistics": {
        "registered_voters": 750,
        "accredited_voters": 340,
        "ballots_issued": 800,
        "unused_ballots": 472,
        "spoiled_ballots": 2,
        "rejected_ballots": 6,
        "valid_votes": 250,
        "used_ballots": 328,
    },
}


def in_page_order(app: AppTest) -> list[tuple[str, Any]]:
    """Every element of the page's main area as (type, value), top to bottom."""
    found: list[tuple[str, Any]] = []

    def walk(node: Any) -> None:
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for index in sorted(children):
                walk(children[index])
        else:
            found.append((node.type, getattr(node, "value", None)))

    walk(app.main)
    return found


def as_shown(table: Any) -> list[dict[str, Any]]:
    """An st.table's rows as a person reads them (cells are Markdown: the page escapes its text)."""
    return [
        {column: value.replace("\\", "") if isinstance(value, str) else value for column, value in row.items()}
        for row in table.value.to_dict("records")
    ]


def first_numbers(page: list[tuple[str, Any]]) -> int:
    """Where the reading's numbers start: its candidate table (the form type's description, in
    an expander above the upload, has tables of its own)."""
    return next(i for i, (kind, value) in enumerate(page) if kind == "table" and "Candidate" in value.columns)


def extract_on_the_page(app: AppTest, image: bytes, *, gemini: Any, reading: Any, form_type: str | None = None) -> dict:
    """Pick Gemini (answering `reading`) and the form type, upload, extract: the record shown."""
    next(box for box in app.selectbox if box.label == "Model").set_value(GEMINI).run()
    if form_type is not None:
        app.selectbox(key="form-type").set_value(form_type).run()
    app.file_uploader(key="upload").set_value(("form.png", image, "image/png")).run()
    gemini.enqueue(extraction_reply(reading))
    app.button(key="go").click().run()
    assert not app.exception, app.exception
    return app.session_state["current"]


def test_the_form_type_picked_on_upload_reaches_the_request(gemini_console_env: tuple[str, Any]) -> None:
    api_url, gemini = gemini_console_env
    app = run_page("1_Vote_Extractor.py")
    offered = app.selectbox(key="form-type")
    assert {"generic", "ng_ec8a", "bo_acta", "ke_34a"} <= {option.split(" · ")[0] for option in offered.options}
    assert offered.value == "generic"  # the default, until the person picks another
    # What the registry holds is on the page: the type's printed labels and its rules.
    app.selectbox(key="form-type").set_value("ng_ec8a").run()
    tables = [as_shown(t) for t in app.table]
    described = {"Row": 2, "Printed label": "2. Number of Accredited Voters", "Key": "accredited_voters"}
    assert any(described in table for table in tables)
    assert any(any(row.get("Rule") == "not_over_voted" for row in t) for t in tables)

    record = extract_on_the_page(app, generate_form(31).image, gemini=gemini, reading=EC8A_MISREAD, form_type="ng_ec8a")

    assert record["form_type"] == "ng_ec8a@1"
    stored = requests.get(f"{api_url}/extract/{record['extraction_id']}", headers=HEADERS, timeout=30).json()
    assert stored["form_type"] == "ng_ec8a@1"
    # The model was asked for this paper: its printed labels are in what Gemini was sent.
    asked = [request for request in gemini.requests if request.is_generate_content][-1]
    assert "2. Number of Accredited Voters" in json.dumps(asked.body)


def test_a_reading_whose_checks_fail_says_so_above_its_numbers(gemini_console_env: tuple[str, Any]) -> None:
    _, gemini = gemini_console_env
    app = run_page("1_Vote_Extractor.py")

    record = extract_on_the_page(app, generate_form(32).image, gemini=gemini, reading=EC8A_MISREAD, form_type="ng_ec8a")

    assert record["status"] == "succeeded"
    page = in_page_order(app)
    [banner_at] = [i for i, (kind, value) in enumerate(page) if kind == "error" and "checks failed" in str(value)]
    banner = page[banner_at][1]
    assert banner.startswith("**Read, but its checks failed:**")
    for rule in ("valid_is_sum_of_votes", "used_is_spoiled_rejected_valid"):
        assert f"`{rule}`" in banner
    assert "not_over_voted" not in banner  # a rule that holds is not named as failing
    assert "PDP" in banner and "ONE HUNDRED AND SEVENTY" in banner  # figures_match_words's row
    assert "Look at it before using these numbers" in banner
    assert banner_at < first_numbers(page), "the failure is said before the numbers"
    assert not any(kind == "markdown" and str(value).startswith("**succeeded**") for kind, value in page)

    tables = [as_shown(t) for t in app.table]
    votes = next(t for t in tables if t and "In words" in t[0])
    # Party rows name themselves by their party: one column, and the words beside the figures.
    assert votes[1] == {"Candidate": "PDP", "Votes": "117", "In words": "ONE HUNDRED AND SEVENTY"}
    stats = next(t for t in tables if t and "As printed on the form" in t[0])
    assert stats[0] == {"As printed on the form": "1. Number of Voters on the Register", "Read": "750"}
    verdicts = {row["Rule"]: row["Verdict"] for t in tables for row in t if {"Rule", "Verdict"} <= set(row)}
    assert verdicts["valid_is_sum_of_votes"] == "❌ fails" and verdicts["not_over_voted"] == "✅ holds"


def test_a_generic_reading_whose_sums_fail_says_so_first(gemini_console_env: tuple[str, Any]) -> None:
    _, gemini = gemini_console_env
    form = generate_form(33)
    misread = form.truth.model_copy(deep=True)
    misread.ballot_stats.valid_votes = (misread.ballot_stats.valid_votes or 0) + 9
    app = run_page("1_Vote_Extractor.py")

    extract_on_the_page(app, form.image, gemini=gemini, reading=misread)

    page = in_page_order(app)
    banner_at = next(i for i, (kind, value) in enumerate(page) if kind == "error" and "checks failed" in str(value))
    assert "`valid_is_sum_of_votes`" in page[banner_at][1]
    assert banner_at < first_numbers(page) and banner_at < [kind for kind, _ in page].index("metric")
    labels = [metric.label for metric in app.metric]
    assert labels[:3] == ["Valid votes", "Rejected ballots", "Total ballots"]  # generic as before


def test_feedback_starts_with_nothing_chosen_and_says_what_is_missing(console_env: str) -> None:
    app = run_page("1_Vote_Extractor.py")
    app.button(key="sample").click().run()
    app.button(key="go").click().run()
    record = app.session_state["current"]

    assert app.radio(key="current-thumbs").value is None
    assert app.radio(key="current-stars").value is None
    submit = next(button for button in app.button if button.label == "Submit feedback")
    submit.click().run()

    assert not app.exception, app.exception
    assert any("Choose a verdict" in warning.value for warning in app.warning)
    assert feedback_count(console_env, record["extraction_id"]) == 0

    app.radio(key="current-thumbs").set_value("👍 Good")  # and no stars: none is sent
    next(button for button in app.button if button.label == "Submit feedback").click().run()
    [given] = requests.get(
        f"{console_env}/feedback", params={"extraction_id": record["extraction_id"]}, headers=HEADERS, timeout=30
    ).json()["items"]
    assert given["feedback_type"] == "thumbs_up" and given.get("quality_score") is None


def test_the_correction_form_sends_the_types_statistics_by_key(gemini_console_env: tuple[str, Any]) -> None:
    api_url, gemini = gemini_console_env
    app = run_page("1_Vote_Extractor.py")
    record = extract_on_the_page(app, generate_form(34).image, gemini=gemini, reading=EC8A_MISREAD, form_type="ng_ec8a")
    used = app.number_input(key="current-fix-used_ballots")
    assert used.label == "8. Total Number of Used Ballot Papers (#5 + #6 + #7)" and used.value == 328

    app.radio(key="current-thumbs").set_value("👎 Poor")
    app.number_input(key="current-fix-valid_votes").set_value(320)
    app.number_input(key="current-fix-used_ballots").set_value(329)
    next(button for button in app.button if button.label == "Submit feedback").click().run()

    assert not app.exception, app.exception
    [given] = requests.get(
        f"{api_url}/feedback", params={"extraction_id": record["extraction_id"]}, headers=HEADERS, timeout=30
    ).json()["items"]
    assert given["corrections"] == {"statistics": {"valid_votes": 320, "used_ballots": 329}}


def test_the_entry_editor_shows_checks_and_saves_the_types_statistics(console_env: str) -> None:
    name = "apptest_ec8a"
    requests.post(f"{console_env}/datasets", json={"name": name, "version": "v1"}, headers=HEADERS, timeout=30)
    expected = {**EC8A_MISREAD, "form": {**EC8A_MISREAD["form"], "form_type": "ng_ec8a"}}
    image = generate_form(35).image
    added = requests.post(
        f"{console_env}/datasets/{name}/v1/entries",
        json={"id": "pu-012", "input": {"image_base64": base64.b64encode(image).decode()}, "expected_output": expected},
        headers=HEADERS,
        timeout=60,
    )
    assert added.status_code == 201, added.text
    app = run_page("3_Dataset_Manager.py", **{"chosen-version": f"{name}@v1"})

    captions = [caption.value for caption in app.caption]
    assert any("❌ fails: valid_is_sum_of_votes, used_is_spoiled_rejected_valid" in c for c in captions)
    assert app.number_input(key="pu-012-accredited_voters").label == "2. Number of Accredited Voters"
    app.number_input(key="pu-012-valid_votes").set_value(320)
    next(button for button in app.button if button.label == "Save").click().run()

    assert not app.exception, app.exception
    entry = requests.get(f"{console_env}/datasets/{name}/v1", headers=HEADERS, timeout=30).json()["entries"][0]
    assert entry["expected_output"]["statistics"] == {
        **EC8A_MISREAD["statistics"],
        "valid_votes": 320,
        "used_ballots": 328,
    }
    verdicts = {check["rule"]: check["status"] for check in entry["checks"]}
    assert verdicts["valid_is_sum_of_votes"] == "pass" and verdicts["used_is_spoiled_rejected_valid"] == "pass"


def test_a_reviewer_corrects_an_ec8a_by_its_printed_labels_and_approves_it(
    gemini_console_env: tuple[str, Any],
) -> None:
    api_url, gemini = gemini_console_env
    gemini.enqueue(extraction_reply(EC8A_MISREAD))
    record = requests.post(
        f"{api_url}/extract",
        files={"image": ("pu.png", generate_form(36).image, "image/png")},
        data={"model": GEMINI, "form_type": "ng_ec8a"},
        headers=HEADERS,
        timeout=120,
    ).json()
    assert record["form_type"] == "ng_ec8a@1"
    requests.post(f"{api_url}/datasets", json={"name": "reviewed_ec8a", "version": "v1"}, headers=HEADERS, timeout=30)
    app = run_page("2_Review_Queue.py")
    app.text_input(key="reviewer").set_value("lin").run()
    app.selectbox(key="claim-named").set_value(record["extraction_id"]).run()
    app.button(key="claim-this").click().run()
    assert not app.exception, app.exception
    assert any("Read, but its checks failed" in error.value for error in app.error)

    fix_key = f"review-{record['extraction_id']}"
    assert app.number_input(key=f"{fix_key}-valid_votes").label == "7. Total Number of Valid Votes"
    app.number_input(key=f"{fix_key}-valid_votes").set_value(320)
    app.selectbox(key="review-target").set_value("reviewed_ec8a@v1")
    next(button for button in app.button if button.label == "Approve").click().run()

    assert not app.exception, app.exception
    entries = requests.get(f"{api_url}/datasets/reviewed_ec8a/v1", headers=HEADERS, timeout=30).json()["entries"]
    [entry] = [e for e in entries if e.get("source", {}).get("extraction_id") == record["extraction_id"]]
    assert entry["expected_output"]["statistics"] == {**EC8A_MISREAD["statistics"], "valid_votes": 320}


def test_a_sample_ec8a_read_offline_is_shown_in_its_papers_shape(console_env: str) -> None:
    app = run_page("1_Vote_Extractor.py")
    app.selectbox(key="form-type").set_value("ng_ec8a").run()
    app.button(key="sample").click().run()
    assert app.session_state["sample_form"]["layout"] == "ng_ec8a"  # a paper of the chosen type

    app.button(key="go").click().run()  # the offline model (tesseract), the gateway's default

    assert not app.exception, app.exception
    record = app.session_state["current"]
    assert record["form_type"] == "ng_ec8a@1"
    consistency = next(e for e in record["evaluations"] if e["label"] == "consistency")
    assert {c["rule"] for c in consistency["details"]["checks"]} >= {"used_is_spoiled_rejected_valid", "not_over_voted"}
    tables = [as_shown(t) for t in app.table]
    printed = [row["As printed on the form"] for t in tables for row in t if "As printed on the form" in row]
    assert printed[0] == "1. Number of Voters on the Register" and len(printed) == 8
    verdicts = [row for t in tables for row in t if {"Rule", "Verdict"} <= set(row)]
    assert [row["Rule"] for row in verdicts] == [c["rule"] for c in consistency["details"]["checks"]]
