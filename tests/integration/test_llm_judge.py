"""`llm_judge` end to end over the real emulators and Datadog's test agent. Gemini cannot be
reached here: both the model under test and the judge are the local Gemini stand-in
(`tests/fakes/gemini_server.py`), which tells a judge's request (text only) from an extraction's
(an image)."""

from __future__ import annotations

import io
import json

import pytest

from shared.config import get_settings
from shared.evaluation.llm_judge import ESTIMATED_JUDGE_INPUT_TOKENS, ESTIMATED_JUDGE_OUTPUT_TOKENS
from shared.llm.pricing import estimated_cost_usd
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply, text_reply
from tests.integration.builders import published_dataset, wait_done
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
COMPLETE = "Every candidate on the form is listed with a party and a vote count."
SUMS = "Classify how the candidate votes relate to the valid votes."
JUDGE_TOKENS = {"prompt_tokens": 640, "output_tokens": 45}


def model_and_judges(truths: dict[bytes, dict]):
    """The stand-in as the model (each image's truth) and as two judges: the `complete` judge
    answers a score of 4, the `sums` judge answers prose instead of the JSON it was asked for."""

    def respond(request):
        if request.images:
            return extraction_reply(truths[request.images[0].data])
        prompt = "\n".join(request.texts)
        if COMPLETE in prompt:
            return text_reply(json.dumps({"reasoning": "All candidates have counts.", "value": 4}), **JUDGE_TOKENS)
        return text_reply("I think the sums look fine overall.", **JUDGE_TOKENS)

    return respond


JUDGES = [
    {"llm_judge": {"label": "complete", "rubric": COMPLETE}},
    {
        "llm_judge": {
            "label": "sums",
            "rubric": SUMS,
            "output": "categorical",
            "classes": ["equal", "short", "over"],
            "pass_classes": ["equal"],
        }
    },
]


def test_a_judged_experiment_records_value_reasoning_pass_fail_spans_tokens_and_cost(
    datasets_client, experiments_client, gemini, clean_test_agent
):
    forms = [generate_form(900 + i) for i in range(3)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(model_and_judges(truths))
    body = {
        "name": "judged",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "evaluators": ["vote_count_exact", *JUDGES],
        "budget_usd": 5,
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    status = wait_done(experiments_client, started.json["experiment_id"])
    runs = experiments_client.get(f"/{started.json['experiment_id']}/results", headers=HEADERS).json["items"]

    # The malformed judge is a recorded failure of that evaluator; the runs and the experiment succeed.
    assert status["status"] == "completed" and status["progress"] == {"done": 3, "total": 3, "failed": 0}, status
    assert len(runs) == 3 and {run["status"] for run in runs} == {"succeeded"}
    judge_cost = estimated_cost_usd("gemini-2.5-flash", 640, 45)
    for run in runs:
        judged = {e["label"]: e for e in run["evaluations"]}
        complete, sums = judged["llm_judge_complete"], judged["llm_judge_sums"]
        assert (complete["value"], complete["assessment"], complete["metric_type"]) == (4, "pass", "score")
        assert complete["reasoning"] == "All candidates have counts." and complete["error"] is None
        assert complete["details"]["usage"] == {"input_tokens": 640, "output_tokens": 45, "total_tokens": 685}
        assert complete["details"]["cost_usd"] == pytest.approx(judge_cost)
        assert sums["value"] is None and sums["metric_type"] == "categorical"
        assert sums["error"] == "JudgeAnswerInvalid: the judge's answer is not JSON"
        assert sums["details"]["usage"]["input_tokens"] == 640  # paid for, so still counted
        assert judged["vote_count_exact"]["value"] is True
    summary = status["summary"]["flash"]
    assert summary["llm_judge_complete"]["mean"] == 4 and summary["llm_judge_complete"]["pass_rate"] == 1
    assert summary["llm_judge_sums"]["errors"] == 3
    assert summary["evaluator_cost_usd"]["total"] == pytest.approx(6 * judge_cost)
    assert_matches_contract("/experiments/{experiment_id}", "GET", 200, status)
    judge_prompts = [r for r in gemini.generate_requests if not r.images]
    assert len(judge_prompts) == 6 and all(r.generation_config["temperature"] == 0 for r in judge_prompts)

    # Each judge's call is an llm span in its run's trace, under the run's span, with its tokens.
    agent = clean_test_agent
    for run in runs:
        complete = next(e for e in run["evaluations"] if e["label"] == "llm_judge_complete")
        [span] = agent.wait_for(lambda c=complete: agent.llmobs_spans(span_id=c["details"]["judge_span_id"]))
        assert span["meta"]["span"]["kind"] == "llm" and span["meta"]["model_name"] == "gemini-2.5-flash"
        assert str(span["trace_id"]) == run["trace_id"] and str(span["parent_id"]) == run["span_id"]
        assert complete["details"]["judge_trace_id"] == run["trace_id"]
        assert span["metrics"]["input_tokens"] == 640 and span["metrics"]["output_tokens"] == 45
        assert span["metrics"]["total_tokens"] == 685
        assert span["tag_map"]["evaluator"] == "llm_judge_complete"
        assert COMPLETE in json.dumps(span["meta"]["input"])
        [run_span] = agent.wait_for(lambda r=run: agent.llmobs_spans(span_id=r["span_id"]))
        assert str(run_span["trace_id"]) == run["trace_id"]
        # The judge's verdict is an evaluation joined on the run's span, in the trace it was sent under.
        [verdict] = agent.wait_for(lambda r=run: agent.evaluations_for(r["span_id"], "llm_judge_complete"))
        assert verdict["trace_id"] == run["trace_id"] and verdict["value"] == 4
        assert verdict["assessment"] == "pass" and verdict["reasoning"] == "All candidates have counts."


def test_what_the_judges_spend_stops_the_experiment_at_its_budget(datasets_client, experiments_client, gemini):
    """The OCR model costs nothing, so only the judge's tokens can spend the budget: a judge call
    billed 1M input tokens ($0.30 at gemini-2.5-flash's list price) spends all of $0.05, and the
    experiment stops there (before, the worker took the stop for a failure and a redelivery spent
    the budget again from zero)."""
    forms = [generate_form(930 + i) for i in range(12)]
    dataset, _ = published_dataset(datasets_client, forms)
    expensive = text_reply(json.dumps({"reasoning": "ok", "value": 5}), prompt_tokens=1_000_000, output_tokens=10)
    gemini.set_responder(lambda request: expensive)
    body = {
        "name": "judge budget",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "ocr", "model": "tesseract"}],
        "evaluators": [{"llm_judge": {"rubric": COMPLETE}}],
        "concurrency": 1,
        "budget_usd": 0.05,
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    status = wait_done(experiments_client, started.json["experiment_id"])

    assert started.json["estimated_cost_usd"] < 0.05  # the plan let it start
    assert status["status"] == "failed" and "budget" in status["status_reason"], status
    # A run holds its slot for the model call only, so later runs start while the first is judged
    # (the OCR model is quick): a few may start before the first judge's cost is known, not all 12.
    done = status["progress"]["done"]
    assert 1 <= done < 12 and len(gemini.generate_requests) == done and status["progress"]["total"] == 12, status
    assert status["summary"]["ocr"]["evaluator_cost_usd"]["total"] == pytest.approx(
        done * estimated_cost_usd("gemini-2.5-flash", 1_000_000, 10)
    )


def test_the_dry_run_estimate_includes_the_judges(datasets_client, experiments_client):
    dataset, _ = published_dataset(datasets_client, [generate_form(910), generate_form(911)])
    body = {
        "name": "plan judged",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "evaluators": ["vote_count_exact"],
        "repetitions": 3,
        "dry_run": True,
    }

    without = experiments_client.post("/", json=body, headers=HEADERS)
    judged = experiments_client.post("/", json=body | {"evaluators": ["vote_count_exact", *JUDGES]}, headers=HEADERS)

    assert without.status_code == judged.status_code == 200, judged.json
    model = get_settings().llm_judge_model
    per_run = sum(
        estimated_cost_usd(model, ESTIMATED_JUDGE_INPUT_TOKENS + len(rubric) // 4, ESTIMATED_JUDGE_OUTPUT_TOKENS)
        for rubric in (COMPLETE, SUMS)
    )
    difference = judged.json["estimated_cost_usd"] - without.json["estimated_cost_usd"]
    assert difference == pytest.approx(per_run * 6, abs=2e-4) and difference > 0
    over = body | {"evaluators": JUDGES, "dry_run": False, "budget_usd": without.json["estimated_cost_usd"]}
    refused = experiments_client.post("/", json=over, headers=HEADERS)
    assert refused.status_code == 422 and "budget" in refused.json["error"]["message"]


@pytest.mark.parametrize(
    "evaluators",
    [
        [{"llm_judge": {}}],
        [{"llm_judge": {"rubric": "x" * 4001}}],
        [{"llm_judge": {"rubric": COMPLETE, "output": "categorical", "classes": ["a", "b"]}}],
        [{"llm_judge": {"rubric": COMPLETE, "model": "gpt-4o"}}],
        [{"llm_judge": {"rubric": COMPLETE, "temperature": 1}}],
        [{"llm_judge": {"rubric": COMPLETE}}, {"llm_judge": {"rubric": SUMS}}],
    ],
    ids=["no-rubric", "rubric-too-long", "categorical-without-pass-classes", "not-gemini", "temperature", "same-label"],
)
def test_bad_judges_are_refused_before_anything_runs(datasets_client, experiments_client, evaluators):
    dataset, _ = published_dataset(datasets_client, [generate_form(912)])
    body = {
        "name": "bad judge",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "ocr", "model": "tesseract"}],
        "evaluators": evaluators,
    }

    response = experiments_client.post("/", json=body, headers=HEADERS)

    assert response.status_code == 422, response.json
    assert "llm_judge" in response.json["error"]["message"]
    assert_matches_contract("/experiments", "POST", 422, response.json)


def test_online_judges_are_checked_against_reviewers_in_the_agreement(
    clean_firestore, configure, gemini, extract_client, feedback_client, datasets_client, clean_test_agent
):
    configure(ONLINE_JUDGES=json.dumps([{"label": "faithful", "rubric": COMPLETE, "output": "boolean"}]))
    listed_before = datasets_client.get("/review/agreement", headers=HEADERS).json
    # The judge passes the first extraction and fails the second; the reviewer rejects both.
    extractions = []
    for seed, verdict in ((920, True), (921, False)):
        gemini.enqueue(text_reply(json.dumps({"reasoning": f"judged {verdict}", "value": verdict}), **JUDGE_TOKENS))
        form = generate_form(seed)
        response = extract_client.post(
            "/", data={"image": (io.BytesIO(form.image), "f.png")}, headers=HEADERS, content_type="multipart/form-data"
        )
        assert response.status_code == 200, response.json
        extractions.append(response.json)
    for extraction in extractions:
        span = {"span_id": extraction["span_id"], "trace_id": extraction["trace_id"]}
        feedback = span | {"feedback_type": "thumbs_down"}
        assert feedback_client.post("/", json=feedback, headers=HEADERS).status_code == 201
        claimed = datasets_client.post(
            "/review/claim", json={"reviewer": "ada", "extraction_id": extraction["extraction_id"]}, headers=HEADERS
        )
        assert claimed.status_code == 200, claimed.json
        decided = datasets_client.post(
            f"/review/{extraction['extraction_id']}/decision",
            json={"reviewer": "ada", "decision": "reject"},
            headers=HEADERS,
        )
        assert decided.status_code == 200, decided.json

    agreement = datasets_client.get("/review/agreement", headers=HEADERS)

    before = next(e for e in listed_before["evaluators"] if e["label"] == "llm_judge_faithful")
    assert before["n"] == 0  # a configured judge is reported before any verdict
    assert agreement.status_code == 200
    assert_matches_contract("/datasets/review/agreement", "GET", 200, agreement.json)
    judge = next(e for e in agreement.json["evaluators"] if e["label"] == "llm_judge_faithful")
    assert judge["n"] == 2 and judge["table"] == {"pass": {"right": 0, "wrong": 1}, "fail": {"right": 0, "wrong": 1}}
    first = {e["label"]: e for e in extractions[0]["evaluations"]}["llm_judge_faithful"]
    assert (first["value"], first["assessment"], first["reasoning"]) == (True, "pass", "judged True")
    agent = clean_test_agent
    [span] = agent.wait_for(lambda: agent.llmobs_spans(span_id=first["details"]["judge_span_id"]))
    assert str(span["trace_id"]) == extractions[0]["trace_id"] and span["metrics"]["input_tokens"] == 640
