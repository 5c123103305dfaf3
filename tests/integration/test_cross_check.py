"""The cross check (issue 15): a second, independent reading of every extraction, end to end.

Over the real emulators, the Datadog test agent and real Tesseract. Gemini is the local
generateContent stand-in (no Gemini is reachable from here): it answers the Gemini primary
reading with a deliberate misread, and plays the cheaper Gemini second reader of a tesseract
extraction. The suite runs with CROSS_CHECK=off (tests/conftest.py); these tests switch it on.
"""

from __future__ import annotations

import io
import json

import pytest

from shared.experiments.report_values import format_value
from shared.form_types.checks import shaped
from shared.form_types.resolve import GENERIC_FORM_TYPE
from shared.models import VoteExtraction
from shared.prompts import CROSS_CHECK_PROMPT
from shared.storage.clients import firestore_client
from shared.synthetic.forms import Degradation, generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import published_dataset
from tests.integration.test_experiments_flow import wait_done
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


def post_form(client, form, **fields):
    data = {"image": (io.BytesIO(form.image), "form.png", form.content_type)}
    data.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})
    return client.post("/", data=data, headers=HEADERS, content_type="multipart/form-data")


def swapped_counts(truth: VoteExtraction) -> VoteExtraction:
    """The dangerous misread: two candidates' counts on each other's rows. The sums still add up."""
    misread = truth.model_copy(deep=True)
    first, second = misread.vote_results[0], misread.vote_results[1]
    first.vote_count, second.vote_count = second.vote_count, first.vote_count
    return misread


def evaluation(body, label):
    found = [e for e in body["evaluations"] if e["label"] == label]
    return found[0] if found else None


@pytest.mark.integration
def test_a_gemini_misread_that_adds_up_is_flagged_by_tesseract_on_the_same_bytes(
    extract_client, datasets_client, gemini, configure, clean_test_agent
):
    configure(CROSS_CHECK="on", CROSS_CHECK_READER="")
    form = generate_form(21)
    misread = swapped_counts(form.truth)
    gemini.enqueue(extraction_reply(misread))

    response = post_form(extract_client, form, model="gemini-2.5-flash")

    assert response.status_code == 200, response.json
    body = response.json
    assert_matches_contract("/extract", "POST", 200, body)
    assert body["result"] == shaped(misread, GENERIC_FORM_TYPE).model_dump()  # its statistics filled in
    assert evaluation(body, "consistency")["value"] is True  # the sums cannot see it
    cross = evaluation(body, "cross_check")
    assert cross["assessment"] == "fail" and cross["value"] < 1.0
    assert cross["details"]["reader"] == "tesseract"
    assert len(gemini.generate_requests) == 1  # the second reading was tesseract's, not Gemini's
    first, second = form.truth.vote_results[0], form.truth.vote_results[1]
    disagreeing = {d["field"]: d for d in cross["details"]["disagreements"]}
    assert disagreeing[f"vote_results[{first.candidate_name}].vote_count"] == {
        "field": f"vote_results[{first.candidate_name}].vote_count",
        "primary": second.vote_count,
        "second": first.vote_count,
        "why": "counts differ",
    }
    assert f"vote_results[{second.candidate_name}].vote_count" in disagreeing
    assert first.candidate_name in cross["reasoning"]

    # Both readings are llm spans of the request's one trace.
    agent = clean_test_agent
    [primary_span] = agent.wait_for(lambda: agent.llmobs_spans(span_id=body["span_id"]))
    [second_span] = agent.wait_for(lambda: agent.llmobs_spans(span_id=cross["details"]["second_span_id"]))
    assert primary_span["meta"]["span"]["kind"] == second_span["meta"]["span"]["kind"] == "llm"
    assert str(primary_span["trace_id"]) == str(second_span["trace_id"]) == body["trace_id"]
    assert "gemini-2.5-flash" in primary_span["meta"]["model_name"]
    assert second_span["meta"]["model_name"] == "tesseract" and second_span["name"] == "cross_check_read"
    assert second_span["tag_map"]["reading"] == "cross_check"
    assert second_span["tag_map"]["extraction_id"] == body["extraction_id"]
    agent.wait_for(lambda: agent.evaluations_for(body["span_id"], "cross_check"))

    # The reviewer finds it under reason cross_check, with the disagreeing fields.
    queue = datasets_client.get("/review/queue?reason=cross_check&state=pending", headers=HEADERS)
    assert queue.status_code == 200, queue.json
    assert_matches_contract("/datasets/review/queue", "GET", 200, queue.json)
    [item] = [i for i in queue.json["items"] if i["extraction_id"] == body["extraction_id"]]
    assert "cross_check" in item["reasons"]
    assert {d["field"] for d in item["cross_check_fields"]} == set(disagreeing)
    document = firestore_client().collection("review_items").document(body["extraction_id"]).get().to_dict()
    assert document["reason_flags"]["cross_check"] is True


@pytest.mark.integration
def test_a_tesseract_extraction_is_cross_checked_by_the_cheaper_gemini_when_a_key_is_set(
    extract_client, gemini, configure
):
    configure(CROSS_CHECK="on", CROSS_CHECK_READER="")
    form = generate_form(7)
    gemini.enqueue(extraction_reply(form.truth, prompt_tokens=1100, output_tokens=95))

    response = post_form(extract_client, form, model="tesseract", expected=form.truth.model_dump())

    assert response.status_code == 200, response.json
    body = response.json
    assert evaluation(body, "vote_count_exact") is None  # online set only
    assert evaluation(body, "extraction_quality")["value"] == 10.0  # tesseract read this clean form right
    cross = evaluation(body, "cross_check")
    assert (cross["value"], cross["assessment"]) == (1.0, "pass"), cross
    assert cross["details"]["reader"] == "gemini-2.5-flash-lite"
    assert cross["details"]["second_usage"]["total_tokens"] == 1195
    [request] = gemini.generate_requests
    assert request.model == "gemini-2.5-flash-lite"
    assert request.images[0].data == form.image
    assert CROSS_CHECK_PROMPT.text in json.dumps(request.body)


@pytest.mark.integration
def test_without_gemini_a_tesseract_extraction_is_read_again_with_other_preprocessing(extract_client, configure):
    configure(CROSS_CHECK="on", CROSS_CHECK_READER="", GEMINI_API_KEY="")
    form = generate_form(7)

    body = post_form(extract_client, form, model="tesseract").json

    cross = evaluation(body, "cross_check")
    assert cross["details"]["reader"] == "tesseract-alternate"
    assert (cross["value"], cross["assessment"]) == (1.0, "pass"), cross


@pytest.mark.integration
@pytest.mark.parametrize(("switch", "rate"), [("off", "1"), ("on", "0")])
def test_off_or_sampled_out_runs_no_second_reading(extract_client, gemini, configure, clean_test_agent, switch, rate):
    configure(CROSS_CHECK=switch, CROSS_CHECK_SAMPLE_RATE=rate, CROSS_CHECK_READER="gemini-2.5-flash-lite")
    form = generate_form(7)

    body = post_form(extract_client, form, model="tesseract").json

    assert body["status"] == "succeeded"
    assert evaluation(body, "cross_check") is None
    assert gemini.generate_requests == []
    agent = clean_test_agent
    agent.wait_for(lambda: agent.llmobs_spans(span_id=body["span_id"]))
    in_trace = [s for s in agent.llmobs_span_events() if str(s["trace_id"]) == body["trace_id"]]
    assert [s["name"] for s in in_trace if s["meta"]["span"]["kind"] == "llm"] == ["extract_votes"]


@pytest.mark.integration
def test_an_experiment_reports_how_often_two_readers_agree_and_whether_agreement_means_right(
    datasets_client, experiments_client
):
    forms = [
        generate_form(400 + i, degradation=Degradation(rotation_deg=(1.0 + 0.5 * (i % 3)) * (-1) ** i, blur_sigma=1.0))
        for i in range(6)
    ]
    dataset, _ = published_dataset(datasets_client, forms)
    body = {
        "name": "cross check offline",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "raw", "model": "tesseract", "params": {"deskew": False, "remove_lines": False}}],
        "evaluators": ["vote_count_exact", {"cross_check": {"reader": "tesseract"}}],
        "concurrency": 2,
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    status = wait_done(experiments_client, started.json["experiment_id"])

    assert status["status"] == "completed", status
    summary = status["summary"]["raw"]
    cross = summary["cross_check"]
    assert cross["n"] == 6 and cross["errors"] == 0 and cross["skipped"] == 0
    assert cross["agreement_rate"] == pytest.approx(cross["pass_rate"])
    for share in ("right_when_agreeing", "wrong_when_disagreeing", "wrong_caught"):
        assert share in cross and (cross[share] is None or 0.0 <= cross[share] <= 1.0)
    rows = experiments_client.get(f"/{started.json['experiment_id']}/results", headers=HEADERS).json["items"]
    exact = {r["entry_id"]: next(e for e in r["evaluations"] if e["label"] == "vote_count_exact") for r in rows}
    checks = {r["entry_id"]: next(e for e in r["evaluations"] if e["label"] == "cross_check") for r in rows}
    assert {e["details"]["reader"] for e in checks.values()} == {"tesseract"}
    # the summary's coincidence figures are computed from these runs
    agreeing = [entry for entry, e in checks.items() if e["assessment"] == "pass"]
    if agreeing:
        right = sum(exact[entry]["value"] is True for entry in agreeing)
        assert cross["right_when_agreeing"] == pytest.approx(right / len(agreeing))
    report = experiments_client.get(f"/{started.json['experiment_id']}/report", headers=HEADERS).get_data(as_text=True)
    assert "Second reading (cross_check)" in report
    assert f"raw: the second reading agreed on {format_value(cross['agreement_rate'], 'rate')} of runs" in report
