"""GET /experiments/{id}/export over the real emulators: both formats hold every run once, with the
evaluations `/results` answers, read across several pages."""

from __future__ import annotations

import copy
import csv
import io
import json

import pytest

from shared.experiments import export as export_module
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import published_dataset, wait_done

HEADERS = {"X-API-Key": TEST_API_KEY}
FORMS = 7
EXPORT_PAGE_SIZE = 4  # 14 runs: four pages, the last one short


@pytest.fixture(scope="module")
def finished_experiment(datasets_client, experiments_client, fake_gemini) -> str:
    forms = [generate_form(1700 + i) for i in range(FORMS)]
    dataset, truths = published_dataset(datasets_client, forms)
    miscounted = {image for i, image in enumerate(truths) if i % 2}

    def respond(request):
        image = request.images[0].data
        truth = copy.deepcopy(truths[image])
        if request.model == "gemini-2.5-pro" and image in miscounted:
            truth["vote_results"][0]["vote_count"] += 3
        return extraction_reply(truth)

    fake_gemini.set_responder(respond)
    body = {
        "name": "flash, pro / export",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}, {"name": "pro", "model": "gemini-2.5-pro"}],
        "evaluators": ["vote_count_exact", "count_error"],
        "concurrency": 4,
    }
    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    experiment_id = started.json["experiment_id"]
    assert wait_done(experiments_client, experiment_id)["status"] == "completed"
    return experiment_id


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(export_module, "PAGE_SIZE", EXPORT_PAGE_SIZE)


def results(experiments_client, experiment_id: str) -> dict[str, dict]:
    """Every run as `/results` answers it, by run id (the reference the export is checked against)."""
    runs: dict[str, dict] = {}
    token = None
    while True:
        query = f"?page_token={token}" if token else ""
        page = experiments_client.get(f"/{experiment_id}/results{query}", headers=HEADERS).json
        runs.update({run["run_id"]: run for run in page["items"]})
        token = page["next_page_token"]
        if not token:
            return runs


def download(experiments_client, experiment_id: str, fmt: str):
    response = experiments_client.get(f"/{experiment_id}/export?format={fmt}", headers=HEADERS)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_jsonl_holds_every_run_once_with_its_evaluations(experiments_client, finished_experiment, small_pages):
    expected = results(experiments_client, finished_experiment)
    assert len(expected) == 2 * FORMS

    response = download(experiments_client, finished_experiment, "jsonl")

    assert response.mimetype == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="flash-pro-export-{finished_experiment}.jsonl"'
    )
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(lines) == len(expected)
    assert {line["run_id"]: line for line in lines} == expected
    assert {(line["entry_id"], line["variant"], line["repetition"]) for line in lines} == {
        (f"form-{i:03d}", variant, 0) for i in range(FORMS) for variant in ("flash", "pro")
    }
    for line in lines:
        assert {e["label"] for e in line["evaluations"]} >= {"vote_count_exact", "count_error"}
        assert line["usage"]["total_tokens"] > 0 and line["trace_id"] and line["span_id"]


def test_csv_has_a_row_a_run_and_a_column_per_evaluation_label(experiments_client, finished_experiment, small_pages):
    expected = results(experiments_client, finished_experiment)

    response = download(experiments_client, finished_experiment, "csv")

    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].endswith(f'-{finished_experiment}.csv"')
    reader = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    rows = list(reader)
    assert reader.fieldnames[:8] == [
        "entry_id", "variant", "repetition", "status", "latency_ms", "error", "trace_id", "span_id"
    ]  # fmt: skip
    assert {"vote_count_exact", "vote_count_exact.assessment", "count_error"} <= set(reader.fieldnames)
    by_run = {f"{row['entry_id']}~{row['variant']}~{row['repetition']}": row for row in rows}
    assert len(rows) == len(by_run) == len(expected)
    for run_id, run in expected.items():
        row = by_run[run_id]
        assert (row["status"], row["trace_id"], row["span_id"]) == (run["status"], run["trace_id"], run["span_id"])
        assert float(row["latency_ms"]) == run["latency_ms"]
        for evaluation in run["evaluations"]:
            assert row[evaluation["label"]] == export_module._cell(evaluation["value"]), (run_id, evaluation)
            if evaluation["assessment"]:
                assert row[f"{evaluation['label']}.assessment"] == evaluation["assessment"]
    # pro miscounts the odd forms: their exact-count verdicts say so, in the value and the assessment
    failing = [row for row in rows if row["vote_count_exact.assessment"] == "fail"]
    assert {(row["variant"], row["entry_id"], row["vote_count_exact"]) for row in failing} == {
        ("pro", f"form-{i:03d}", "false") for i in range(1, FORMS, 2)
    }


def test_unknown_experiment_is_404_and_a_bad_format_is_400(experiments_client, finished_experiment):
    missing = experiments_client.get("/no-such-experiment/export?format=csv", headers=HEADERS)
    assert missing.status_code == 404 and "no-such-experiment" in missing.json["error"]["message"]
    bad = experiments_client.get(f"/{finished_experiment}/export?format=xlsx", headers=HEADERS)
    assert bad.status_code == 400 and bad.json["error"]["message"] == "format must be csv or jsonl."
