"""The report's answer over the real emulators: the same numbers as `/compare` for one experiment."""

from __future__ import annotations

import copy
import html
import re

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import published_dataset
from tests.integration.test_experiments_flow import wait_done
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
NUMBERS = (
    "a_mean",
    "b_mean",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "n_pairs",
    "records_needed",
    "mde",
)


def shown_rows(page: str) -> dict[str, dict[str, str]]:
    """Each metric row of the report's comparison table: its `data-*` attributes."""
    return {
        metric: {name: html.unescape(value) for name, value in re.findall(r"data-([a-z-]+)='([^']*)'", cells)}
        for metric, cells in re.findall(r"<tr data-metric='([^']*)'>(.*?)</tr>", page, re.S)
    }


def test_the_report_answers_with_the_numbers_of_compare(datasets_client, experiments_client, gemini):
    # 16 forms, pro wrong on 8: McNemar p = 2 / 2**8 = 0.0078, Holm-adjusted among the three metrics at
    # most 3 x that = 0.023 < 0.05 (12 forms, 6 wrong, p = 0.031, were enough only uncorrected).
    forms = [generate_form(800 + i) for i in range(16)]
    dataset, truths = published_dataset(datasets_client, forms)
    wrong = {image for i, image in enumerate(truths) if i % 2}  # pro miscounts half the forms

    def respond(request):
        image = request.images[0].data
        truth = copy.deepcopy(truths[image])
        if request.model == "gemini-2.5-pro" and image in wrong:
            truth["vote_results"][0]["vote_count"] += 7
        return extraction_reply(truth)

    gemini.set_responder(respond)
    body = {
        "name": "flash against pro",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}, {"name": "pro", "model": "gemini-2.5-pro"}],
        "evaluators": ["vote_count_exact", "vote_count_accuracy", "count_error"],
        "concurrency": 4,
    }
    started = experiments_client.post("/", json=body, headers=HEADERS)
    experiment_id = started.json["experiment_id"]
    assert wait_done(experiments_client, experiment_id)["status"] == "completed"

    compared = experiments_client.get(f"/{experiment_id}/compare?a=flash&b=pro", headers=HEADERS).json
    report = experiments_client.get(f"/{experiment_id}/report", headers=HEADERS)

    page = report.get_data(as_text=True)
    assert_matches_contract("/experiments/{experiment_id}/compare", "GET", 200, compared)
    expected = {**compared["metrics"], **compared["performance"]}
    shown = shown_rows(page)
    assert set(shown) == set(expected)
    for metric, numbers in expected.items():
        for field in NUMBERS:
            value = shown[metric][field.replace("_", "-")]
            assert (float(value) if value else None) == numbers[field], (metric, field)
        assert shown[metric]["verdict"] == numbers["verdict"] and shown[metric]["test"] == numbers["test"]
    exact = compared["metrics"]["vote_count_exact"]
    assert (exact["verdict"], exact["discordant_pairs"]) == ("worse", 8)
    assert "<b>pro</b> is <b>worse</b> than <b>flash</b> on vote_count_exact: 50% vs 100%" in page
    assert page.index("<b>pro</b> is <b>worse</b>") < page.index("Metrics per variant")
