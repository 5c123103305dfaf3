"""/compare through the HTTP API, over the real emulators with the Gemini stand-in: Holm-adjusted
p-values beside the raw ones, the MDE, the declared primary metric and `?primary=`."""

from __future__ import annotations

import copy

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import published_dataset, wait_done
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
EVALUATORS = ["vote_count_accuracy", "vote_count_exact", "candidate_f1", "count_error", "completeness"]
FORMS = 10


@pytest.fixture(scope="module")
def experiment_with_a_difference(datasets_client, experiments_client, fake_gemini):
    """`careful` reads every form right; `hasty` (temperature 0.9) misreads one vote count on 6 of
    the 10. Declares candidate_f1 (which does not move) as its primary metric."""
    forms = [generate_form(1700 + i) for i in range(FORMS)]
    dataset, truths = published_dataset(datasets_client, forms)
    misread = {form.image for form in forms[:6]}

    def respond(request):
        truth = copy.deepcopy(truths[request.images[0].data])
        if request.generation_config.get("temperature") == 0.9 and request.images[0].data in misread:
            truth["vote_results"][0]["vote_count"] += 7
        return extraction_reply(truth)

    fake_gemini.reset()
    fake_gemini.set_responder(respond)
    body = {
        "name": "careful or hasty",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [
            {"name": "careful", "model": "gemini-2.5-flash"},
            {"name": "hasty", "model": "gemini-2.5-flash", "params": {"temperature": 0.9}},
        ],
        "evaluators": EVALUATORS,
        "primary_metric": "candidate_f1",
    }
    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    status = wait_done(experiments_client, started.json["experiment_id"])
    fake_gemini.reset()
    assert status["status"] == "completed" and status["progress"]["failed"] == 0, status
    return status


def compare(experiments_client, experiment_id: str, query: str = ""):
    return experiments_client.get(f"/{experiment_id}/compare?a=careful&b=hasty{query}", headers=HEADERS)


def test_compare_corrects_across_metrics_and_leads_with_the_declared_primary(
    experiments_client, experiment_with_a_difference
):
    status = experiment_with_a_difference
    experiment_id = status["experiment_id"]

    answer = compare(experiments_client, experiment_id)
    compared = answer.json

    assert answer.status_code == 200, compared
    assert_matches_contract("/experiments/{experiment_id}/compare", "GET", 200, compared)
    assert status["primary_metric"] == "candidate_f1"  # stored, and returned by GET
    assert (compared["primary_metric"], compared["correction"], compared["alpha"]) == ("candidate_f1", "holm", 0.05)
    assert [label for label, row in compared["metrics"].items() if row["primary"]] == ["candidate_f1"]
    exact = compared["metrics"]["vote_count_exact"]
    # 6 of 10 forms misread: 6 discordant pairs all one way, raw McNemar p = 2 / 2**6 = 0.031 < 0.05,
    # but among five metrics Holm multiplies it by 2 to 5: not a verdict once corrected.
    assert (exact["discordant_pairs"], exact["p_value"]) == (6, pytest.approx(0.03125))
    assert exact["p_adjusted"] >= 2 * exact["p_value"] and exact["verdict"] == "no_significant_difference"
    for label, row in compared["metrics"].items():
        assert row["p_adjusted"] >= row["p_value"], label
        decided = row["p_adjusted"] < 0.05 and row["delta"] != 0
        assert (row["verdict"] != "no_significant_difference") == decided, (label, row)
        assert row["mde"] is None or row["mde"] > 0, (label, row)
    assert 0 < exact["mde"] <= 1  # a pass-rate difference these 10 pairs could detect
    assert compared["performance"]["latency_ms"]["p_adjusted"] == compared["performance"]["latency_ms"]["p_value"]


def test_primary_asked_in_the_query_overrides_the_declared_one(experiments_client, experiment_with_a_difference):
    experiment_id = experiment_with_a_difference["experiment_id"]

    compared = compare(experiments_client, experiment_id, "&primary=vote_count_exact").json

    assert compared["primary_metric"] == "vote_count_exact"
    assert compared["metrics"]["vote_count_exact"]["primary"] and not compared["metrics"]["candidate_f1"]["primary"]


def test_an_unknown_primary_in_the_query_is_a_400_naming_the_metrics(experiments_client, experiment_with_a_difference):
    experiment_id = experiment_with_a_difference["experiment_id"]

    for asked in ("no_such_metric", "latency_ms", ""):
        answer = compare(experiments_client, experiment_id, f"&primary={asked}")

        assert answer.status_code == 400, (asked, answer.json)
        assert answer.json["error"]["code"] == "unknown_metric"
        assert "vote_count_exact" in answer.json["error"]["message"]


def test_an_experiment_declaring_a_metric_its_evaluators_do_not_record_is_a_400_and_stores_nothing(
    datasets_client, experiments_client
):
    dataset, _ = published_dataset(datasets_client, [generate_form(1790)])
    body = {
        "name": "unknown primary",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "ocr", "model": "tesseract"}],
        "evaluators": ["vote_count_exact"],
        "primary_metric": "vote_count_accuracy",
    }

    answer = experiments_client.post("/", json=body, headers=HEADERS)
    listed = experiments_client.get(f"/?dataset={dataset}", headers=HEADERS).json

    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["code"] == "unknown_metric"
    assert (
        "vote_count_accuracy" in answer.json["error"]["message"]
        and "vote_count_exact" in answer.json["error"]["message"]
    )
    assert listed["items"] == []


def test_without_a_declared_primary_vote_count_accuracy_leads(datasets_client, experiments_client):
    dataset, _ = published_dataset(datasets_client, [generate_form(1795 + i) for i in range(3)])
    body = {
        "name": "default primary",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [
            {"name": "on", "model": "tesseract"},
            {"name": "off", "model": "tesseract", "params": {"deskew": False}},
        ],
        "evaluators": ["vote_count_exact", "vote_count_accuracy"],
    }
    started = experiments_client.post("/", json=body, headers=HEADERS)
    status = wait_done(experiments_client, started.json["experiment_id"])
    compared = experiments_client.get(f"/{status['experiment_id']}/compare?a=on&b=off", headers=HEADERS).json

    assert status["primary_metric"] is None
    assert compared["primary_metric"] == "vote_count_accuracy"
    assert compared["metrics"]["vote_count_accuracy"]["mde"] is None  # 3 pairs: no test can reach p < 0.05
