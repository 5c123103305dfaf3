"""The console's experiment downloads and its delete buttons, in a real browser.

Debian's Chromium drives the console (a Streamlit process) against a gateway process over the
real emulators. Downloads are parsed and checked against `/results`; deletions are checked
through the API, and a refused one must show the API's own sentence.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import time
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from shared.synthetic.forms import generate_form
from tests.browser.conftest import CONSOLE_API_KEY, Screenshots
from tests.browser.streamlit_page import choose, no_traceback, open_page, open_tab, page_text, wait_idle

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": CONSOLE_API_KEY}


def api(method: str, url: str, **kwargs) -> requests.Response:
    return requests.request(method, url, headers=HEADERS, timeout=120, **kwargs)


def dataset_with_entries(api_url: str, prefix: str, count: int, *, publish: bool) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    assert api("POST", f"{api_url}/datasets", json={"name": name, "version": "v1"}).status_code == 201
    entries = [
        {
            "id": f"form-{i:02d}",
            "input": {"image_base64": base64.b64encode(form.image).decode()},
            "expected_output": form.truth.model_dump(),
        }
        for i, form in enumerate(generate_form(5100 + i) for i in range(count))
    ]
    added = api("POST", f"{api_url}/datasets/{name}/v1/entries", json={"entries": entries})
    assert added.status_code == 201, added.text
    if publish:
        assert api("POST", f"{api_url}/datasets/{name}/v1/publish").status_code == 200
    return name


def finished_experiment(api_url: str, dataset: str) -> dict:
    body = {
        "name": "downloads: ocr on/off",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [
            {"name": "on", "model": "tesseract", "params": {"deskew": True}},
            {"name": "off", "model": "tesseract", "params": {"deskew": False}},
        ],
        "evaluators": ["vote_count_exact", "count_error"],
        "concurrency": 4,
    }
    started = api("POST", f"{api_url}/experiments", json=body)
    assert started.status_code == 202, started.text
    experiment_id = started.json()["experiment_id"]
    deadline = time.monotonic() + 300
    while True:
        status = api("GET", f"{api_url}/experiments/{experiment_id}").json()
        if status["status"] in ("completed", "failed"):
            assert status["status"] == "completed", status
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.5)


def all_results(api_url: str, experiment_id: str) -> dict[str, dict]:
    runs: dict[str, dict] = {}
    token = None
    while True:
        page = api("GET", f"{api_url}/experiments/{experiment_id}/results", params={"page_token": token}).json()
        runs.update({run["run_id"]: run for run in page["items"]})
        if not (token := page["next_page_token"]):
            return runs


def test_csv_and_jsonl_downloads_hold_every_run_with_its_evaluations(
    page: Page, api_url: str, screenshots: Screenshots
) -> None:
    dataset = dataset_with_entries(api_url, "downloads", 3, publish=True)
    experiment = finished_experiment(api_url, dataset)
    experiment_id = experiment["experiment_id"]
    expected = all_results(api_url, experiment_id)
    assert len(expected) == 6

    open_page(page, "/Experiments", "🧪 Experiments")
    choose(page, "Open an experiment", experiment_id)
    csv_button = page.get_by_role("button", name="Download CSV")
    expect(csv_button).to_be_visible(timeout=30_000)
    csv_button.scroll_into_view_if_needed()
    screenshots.take(page, "experiment-downloads")

    with page.expect_download() as csv_download:
        csv_button.click()
    assert csv_download.value.suggested_filename == f"downloads-ocr-on-off-{experiment_id}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text())))
    by_run = {f"{row['entry_id']}~{row['variant']}~{row['repetition']}": row for row in rows}
    assert len(rows) == len(by_run) == len(expected)
    for run_id, run in expected.items():
        labels = {evaluation["label"]: evaluation for evaluation in run["evaluations"]}
        assert {"vote_count_exact", "count_error"} <= set(labels)
        assert by_run[run_id]["vote_count_exact"] == str(labels["vote_count_exact"]["value"]).lower()
        assert by_run[run_id]["vote_count_exact.assessment"] == labels["vote_count_exact"]["assessment"]
        assert float(by_run[run_id]["count_error"]) == labels["count_error"]["value"]

    with page.expect_download() as jsonl_download:
        page.get_by_role("button", name="Download JSONL").click()
    assert jsonl_download.value.suggested_filename.endswith(f"{experiment_id}.jsonl")
    lines = [json.loads(line) for line in Path(jsonl_download.value.path()).read_text().splitlines()]
    assert {line["run_id"]: line for line in lines} == expected and len(lines) == len(expected)
    no_traceback(page)


def test_a_draft_is_deleted_and_a_dataset_with_a_published_version_is_refused_in_the_apis_words(
    page: Page, api_url: str, screenshots: Screenshots
) -> None:
    draft = dataset_with_entries(api_url, "gone", 1, publish=False)
    kept = dataset_with_entries(api_url, "kept", 1, publish=True)

    open_page(page, "/Dataset_Manager", "📊 Dataset Manager")
    choose(page, "Dataset version", f"{draft}@v1")
    open_tab(page, "Delete")
    page.get_by_role("button", name=f"Delete draft {draft}@v1").click()
    expect(page.get_by_text(f"Delete draft {draft}@v1? This cannot be undone.")).to_be_visible(timeout=30_000)
    screenshots.take(page, "delete-confirmation")
    page.get_by_role("button", name=f"Yes, delete draft {draft}@v1").click()
    expect(page.get_by_text(f"Deleted draft {draft}@v1.")).to_be_visible(timeout=30_000)
    assert api("GET", f"{api_url}/datasets/{draft}/v1").status_code == 404
    expect(page.get_by_role("combobox", name="Dataset version")).not_to_have_value(f"{draft}@v1")

    choose(page, "Dataset version", f"{kept}@v1")
    open_tab(page, "Delete")
    expect(page.get_by_role("button", name=f"Delete draft {kept}@v1")).to_have_count(0)  # published: no such button
    page.get_by_role("button", name=f"Delete dataset {kept}").click()
    page.get_by_role("button", name=f"Yes, delete dataset {kept}").click()
    refusal = api("DELETE", f"{api_url}/datasets/{kept}")  # refused again, with the same sentence
    assert refusal.status_code == 409
    sentence = refusal.json()["error"]["message"]
    expect(page.get_by_text(f"Could not delete dataset {kept}: {sentence}")).to_be_visible(timeout=30_000)
    screenshots.take(page, "delete-refused")
    assert api("GET", f"{api_url}/datasets/{kept}/v1").status_code == 200
    no_traceback(page)


def extraction(api_url: str, seed: int) -> dict:
    form = generate_form(seed)
    record = api("POST", f"{api_url}/extract", files={"image": ("f.png", form.image, "image/png")})
    assert record.status_code == 200, record.text
    return record.json()


def test_extractions_deleted_or_refused_when_a_dataset_holds_one_and_a_schedule_deleted(
    page: Page, api_url: str, screenshots: Screenshots
) -> None:
    loose = extraction(api_url, 5201)["extraction_id"]
    record = extraction(api_url, 5200)
    extraction_id = record["extraction_id"]
    holder = f"holds-{uuid.uuid4().hex[:8]}"
    assert api("POST", f"{api_url}/datasets", json={"name": holder, "version": "v1"}).status_code == 201
    taken = api(
        "POST",
        f"{api_url}/datasets/{holder}/v1/from-trace",
        json={"span_id": record["span_id"], "trace_id": record["trace_id"]},
    )
    assert taken.status_code == 201, taken.text

    open_page(page, "/Vote_Extractor", "🗳️ Vote Extractor")
    open_tab(page, "Recent extractions")
    choose(page, "Open an extraction", extraction_id)
    page.get_by_role("button", name=f"Delete extraction {extraction_id}").click()
    page.get_by_role("button", name=f"Yes, delete extraction {extraction_id}").click()
    refusal = api("DELETE", f"{api_url}/extract/{extraction_id}")
    assert refusal.status_code == 409
    expect(
        page.get_by_text(f"Could not delete extraction {extraction_id}: {refusal.json()['error']['message']}")
    ).to_be_visible(timeout=30_000)
    screenshots.take(page, "delete-extraction-refused")
    assert api("GET", f"{api_url}/extract/{extraction_id}").status_code == 200
    no_traceback(page)

    choose(page, "Open an extraction", loose)
    page.get_by_role("button", name=f"Delete extraction {loose}").click()
    page.get_by_role("button", name=f"Yes, delete extraction {loose}").click()
    expect(page.get_by_text(f"Deleted extraction {loose}.")).to_be_visible(timeout=30_000)
    assert api("GET", f"{api_url}/extract/{loose}").status_code == 404
    expect(page.get_by_role("combobox", name="Open an extraction")).not_to_have_value(loose)
    no_traceback(page)

    schedule_id = f"del-{uuid.uuid4().hex[:8]}"
    schedule = {
        "schedule_id": schedule_id,
        "enabled": False,
        "interval_minutes": 60,
        "dataset": {"name": "demo_forms", "version": "latest"},
        "variants": [{"name": "ocr", "model": "tesseract"}],
    }
    assert api("POST", f"{api_url}/experiments/schedules", json=schedule).status_code == 201
    open_page(page, "/Experiments", "🧪 Experiments")
    open_tab(page, "Schedules and alerts")
    choose(page, "Schedule", schedule_id)
    page.get_by_role("button", name=f"Delete schedule {schedule_id}").click()
    page.get_by_role("button", name=f"Yes, delete schedule {schedule_id}").click()
    expect(page.get_by_text(f"Deleted schedule {schedule_id}.")).to_be_visible(timeout=30_000)
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Schedule")).not_to_have_value(schedule_id)  # the picker moved on
    screenshots.take(page, "schedule-deleted")
    listed = api("GET", f"{api_url}/experiments/schedules").json()["items"]
    assert schedule_id not in {s["schedule_id"] for s in listed}
    assert api("DELETE", f"{api_url}/experiments/schedules/{schedule_id}").status_code == 404
    assert page_text(page).count(schedule_id) == 1  # in the notice only: no longer in the table or the picker
    no_traceback(page)
