"""Experiments end to end over the real emulators: the OCR model for real, Gemini as the local
generateContent stand-in (no Gemini is reachable here; in production the same adapter talks to it)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from shared.synthetic.forms import Degradation, generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import error_reply
from tests.integration.builders import published_dataset, truth_responder, wait_done
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


def test_preprocessing_on_beats_off_on_mildly_degraded_forms(datasets_client, experiments_client):
    forms = [
        generate_form(300 + i, degradation=Degradation(rotation_deg=(1.5 + 0.5 * (i % 3)) * (-1) ** i, blur_sigma=1.0))
        for i in range(16)
    ]
    dataset, _ = published_dataset(datasets_client, forms)
    body = {
        "name": "ocr preprocessing",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [
            {"name": "on", "model": "tesseract", "params": {"deskew": True, "remove_lines": True}},
            {"name": "off", "model": "tesseract", "params": {"deskew": False, "remove_lines": False}},
        ],
        "evaluators": ["vote_count_accuracy", "vote_count_exact", "candidate_f1", "count_error", "completeness"],
        "concurrency": 4,
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    status = wait_done(experiments_client, started.json["experiment_id"])

    assert status["status"] == "completed", status
    assert status["progress"] == {"done": 32, "total": 32, "failed": 0}
    assert (
        status["summary"]["on"]["vote_count_accuracy"]["mean"] > status["summary"]["off"]["vote_count_accuracy"]["mean"]
    )
    compared = experiments_client.get(f"/{started.json['experiment_id']}/compare?a=off&b=on", headers=HEADERS).json
    accuracy = compared["metrics"]["vote_count_accuracy"]
    assert accuracy["verdict"] == "better" and accuracy["p_value"] < 0.05, accuracy
    report = experiments_client.get(f"/{started.json['experiment_id']}/report", headers=HEADERS)
    page = report.get_data(as_text=True)
    assert report.status_code == 200 and report.mimetype == "text/html"
    assert page.count("<svg") >= 3 and "data:image/jpeg;base64," in page and "<script" not in page


def test_two_identical_variants_show_no_significant_difference(datasets_client, experiments_client, gemini):
    forms = [generate_form(400 + i) for i in range(8)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(truth_responder(truths))
    body = {
        "name": "identical",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "a", "model": "gemini-2.5-flash"}, {"name": "b", "model": "gemini-2.5-flash"}],
        "repetitions": 2,
        # Every deterministic evaluator; the LLM-judged Ragas metrics would ask the stand-in to judge.
        "evaluators": [
            "vote_count_accuracy",
            "vote_count_exact",
            "candidate_f1",
            "count_error",
            "completeness",
            "schema_valid",
            "consistency",
            "ragas_name_similarity",
            "ragas_party_similarity",
            "ragas_rouge",
            "ragas_exact_match",
        ],
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    status = wait_done(experiments_client, started.json["experiment_id"])
    compared = experiments_client.get(f"/{started.json['experiment_id']}/compare?a=a&b=b", headers=HEADERS).json

    assert status["status"] == "completed" and status["progress"]["done"] == 32
    assert compared["metrics"], compared
    assert {m["verdict"] for m in compared["metrics"].values()} == {"no_significant_difference"}
    results = experiments_client.get(f"/{started.json['experiment_id']}/results?page_size=10", headers=HEADERS).json
    assert len(results["items"]) == 10 and results["next_page_token"]
    assert_matches_contract("/experiments/{experiment_id}/results", "GET", 200, results)
    assert_matches_contract("/experiments/{experiment_id}", "GET", 200, status)


def test_rate_limits_for_ten_seconds_lose_no_run(datasets_client, experiments_client, gemini):
    forms = [generate_form(500 + i) for i in range(12)]
    dataset, truths = published_dataset(datasets_client, forms)
    started_at = time.monotonic()
    calls = {"n": 0}
    perfect = truth_responder(truths)

    def flaky(request):
        calls["n"] += 1
        if time.monotonic() - started_at < 10 and calls["n"] % 2:
            return error_reply(429)
        return perfect(request)

    gemini.set_responder(flaky)
    body = {
        "name": "rate limited",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "repetitions": 3,
        "concurrency": 8,
        "evaluators": ["vote_count_exact"],
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    status = wait_done(experiments_client, started.json["experiment_id"])

    assert status["status"] == "completed", status
    assert status["progress"] == {"done": 36, "total": 36, "failed": 0}
    assert status["summary"]["flash"]["vote_count_exact"]["mean"] == 1.0
    assert calls["n"] > 36  # some calls were refused and retried


@pytest.fixture(scope="module")
def draft_and_published(datasets_client):
    form = generate_form(600)
    published, _ = published_dataset(datasets_client, [form])
    draft = f"draft_{uuid.uuid4().hex[:8]}"
    datasets_client.post("/", json={"name": draft, "version": "v1"}, headers=HEADERS)
    return draft, published


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda d, p: {"dataset": {"name": "never_made", "version": "v1"}}, 404),
        (lambda d, p: {"dataset": {"name": p, "version": "v9"}}, 404),
        (lambda d, p: {"dataset": {"name": d, "version": "v1"}}, 409),
        (lambda d, p: {"evaluators": ["no_such_evaluator"]}, 422),
        (lambda d, p: {"variants": [{"name": "x", "model": "gpt-17"}]}, 422),
        (lambda d, p: {"variants": [{"name": "x", "model": "tesseract", "params": {"zoom": 2}}]}, 422),
        (lambda d, p: {"variants": [{"name": "x", "model": "tesseract", "prompt_version": "prompt_z"}]}, 422),
        (lambda d, p: {"concurrency": 0}, 422),
        (lambda d, p: {"concurrency": 10_000}, 422),
        (lambda d, p: {"variants": []}, 422),
        (lambda d, p: {"variants": [{"name": "x", "model": "tesseract"}, {"name": "x", "model": "tesseract"}]}, 422),
        (lambda d, p: {"repetitions": "three"}, 422),
        (lambda d, p: {"budget_usd": -1}, 422),
    ],
    ids=[
        "unknown-dataset",
        "unknown-version",
        "draft-version",
        "unknown-evaluator",
        "unknown-model",
        "bad-params",
        "unknown-prompt",
        "concurrency-0",
        "concurrency-10000",
        "no-variants",
        "duplicate-variants",
        "repetitions-not-int",
        "negative-budget",
    ],
)
def test_bad_experiment_requests(experiments_client, draft_and_published, change, status):
    draft, published = draft_and_published
    body = {
        "name": "bad",
        "dataset": {"name": published, "version": "v1"},
        "variants": [{"name": "x", "model": "tesseract"}],
    } | change(draft, published)

    response = experiments_client.post("/", json=body, headers=HEADERS)

    assert response.status_code == status, response.json
    assert_matches_contract("/experiments", "POST", status, response.json)


def test_malformed_and_unknown(experiments_client):
    assert experiments_client.post("/", data=b"{", content_type="application/json", headers=HEADERS).status_code == 400
    assert experiments_client.get("/nope", headers=HEADERS).status_code == 404
    assert experiments_client.get("/..%2F..", headers=HEADERS).status_code == 404
    assert experiments_client.post("/", json={}, headers={}).status_code == 401


def test_dry_run_plans_without_running(datasets_client, experiments_client):
    dataset, _ = published_dataset(datasets_client, [generate_form(700), generate_form(701)])
    body = {
        "name": "plan",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}, {"name": "ocr", "model": "tesseract"}],
        "repetitions": 3,
        "dry_run": True,
    }

    planned = experiments_client.post("/", json=body, headers=HEADERS)

    assert planned.status_code == 200 and planned.json["status"] == "planned"
    assert planned.json["progress"]["total"] == 12 and planned.json["estimated_cost_usd"] > 0
    assert experiments_client.get(f"/{planned.json['experiment_id']}", headers=HEADERS).status_code == 404
    over = experiments_client.post("/", json=body | {"dry_run": False, "budget_usd": 0.000001}, headers=HEADERS)
    assert over.status_code == 422 and "budget" in json.dumps(over.json)


def test_a_gemini_model_missing_from_the_price_table_still_plans(datasets_client, experiments_client):
    dataset, _ = published_dataset(datasets_client, [generate_form(702)])
    body = {
        "name": "new model",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "new", "model": "gemini-9.9-experimental"}],
        "dry_run": True,
    }

    planned = experiments_client.post("/", json=body, headers=HEADERS)

    assert planned.status_code == 200, planned.json
    assert planned.json["estimated_cost_usd"] == 0.0


@pytest.mark.integration
def test_each_run_is_one_llm_span_with_its_experiment_tags_request_and_answer(
    datasets_client, experiments_client, gemini, clean_test_agent
):
    """The Gemini stand-in answers; the spans are the ones the Datadog test agent received."""
    dataset, truths = published_dataset(datasets_client, [generate_form(91 + i) for i in range(3)])
    gemini.set_responder(truth_responder(truths))
    started = experiments_client.post(
        "/",
        json={
            "name": "tagged spans",
            "dataset": {"name": dataset, "version": "v1"},
            "variants": [
                {"name": "a", "model": "gemini-2.5-flash"},
                {"name": "b", "model": "gemini-2.5-flash", "prompt_version": "prompt_b"},
            ],
            "evaluators": ["vote_count_exact"],
        },
        headers=HEADERS,
    )
    experiment_id = started.json["experiment_id"]
    assert wait_done(experiments_client, experiment_id)["status"] == "completed"
    runs = experiments_client.get(f"/{experiment_id}/results", headers=HEADERS).json["items"]
    wanted = {run["span_id"]: run for run in runs}
    agent = clean_test_agent

    def received() -> dict | None:
        spans = {span["span_id"]: span for span in agent.llmobs_span_events() if span["span_id"] in wanted}
        return spans if len(spans) == len(wanted) else None

    spans = agent.wait_for(received, timeout=15)

    assert len(wanted) == len(runs) == 6
    for span_id, run in wanted.items():
        span, tags = spans[span_id], spans[span_id]["tag_map"]
        assert span["meta"]["span"]["kind"] == "llm"
        assert tags["experiment_id"] == experiment_id and tags["experiment"] == "tagged spans"
        assert tags["variant"] == run["variant"] and tags["entry_id"] == run["entry_id"]
        prompt_name = {"a": "prompt_a", "b": "prompt_b"}[run["variant"]]
        assert tags["prompt_version"] == run["prompt_version"] and run["prompt_version"].startswith(f"{prompt_name}@")
        assert span["meta"]["input"]["prompt"]["id"] == prompt_name  # the prompt annotation, set as the span starts
        assert tags["repetition"] == str(run["repetition"])
        assert [m["role"] for m in span["meta"]["input"]["messages"]] == ["user", "user"]
        assert span["meta"]["output"]["messages"][0]["content"]
        assert span["metrics"]["input_tokens"] > 0
