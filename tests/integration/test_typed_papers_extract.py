"""Issue 24's acceptance: a rendered paper of each built-in type through POST /extract with its
`form_type` (offline model: real Tesseract, real emulators), judged by that type's rules; a paper
whose arithmetic was broken on purpose is flagged naming the broken rule; an EC8A whose words and
figures differ on a row is flagged naming the row.

The seeds are papers the offline model reads exactly (tests/ocr/test_typed_forms_ocr.py measures
the read rates); what is asserted is what the evaluators say about those readings.
"""

from __future__ import annotations

import io

import pytest

from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.checks import compare_figures_and_words, statistics_of
from shared.llm.ocr.reader import read_form
from shared.synthetic import render_form
from tests.conftest import TEST_API_KEY
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
# One rule of each type whose breaking is checked end to end.
BROKEN = {
    "ng_ec8a": "used_is_spoiled_rejected_valid",
    "bo_acta": "box_is_valid_blank_null",
    "ke_34a": "not_over_voted",
    "generic": "total_is_valid_plus_rejected",
}


def extract(extract_client, paper, name: str) -> dict:
    data = {"image": (io.BytesIO(paper.image), "paper.png"), "model": "tesseract", "form_type": name}
    response = extract_client.post("/", data=data, headers=HEADERS, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert_matches_contract("/extract", "POST", 200, response.json)
    return response.json


def evaluation(body: dict, label: str) -> dict:
    return next(e for e in body["evaluations"] if e["label"] == label)


def counts(extraction) -> list[int | None]:
    return [row.vote_count for row in extraction.vote_results]


def first_exact_seed(name: str, **options) -> int:
    """A seed whose paper the offline model reads right (every statistic and count; on a words
    mismatch, the row's figure and words), found by reading it as the extract function will."""
    form_type = BUILTIN_FORM_TYPES[name]
    for seed in range(12):
        paper = render_form(name, seed=seed, **options)
        read = read_form(paper.image, form_type=form_type).extraction
        if options.get("words_mismatch"):
            if paper.words_mismatch_row in " ".join(compare_figures_and_words(form_type, read).differing):
                return seed
        elif statistics_of(read, form_type) == statistics_of(paper.truth, form_type):
            if counts(read) == counts(paper.truth):
                return seed
    pytest.fail(f"none of 12 {name} papers {options} read right: see tests/ocr/test_typed_forms_ocr.py's rates")


@pytest.mark.parametrize("name", ["ng_ec8a", "bo_acta", "ke_34a"])
def test_a_paper_of_each_type_is_read_and_judged_by_that_types_rules(extract_client, name):
    form_type = BUILTIN_FORM_TYPES[name]
    paper = render_form(name, seed=first_exact_seed(name))

    body = extract(extract_client, paper, name)

    assert body["status"] == "succeeded" and body["form_type"] == f"{name}@1"
    assert body["result"]["statistics"] == statistics_of(paper.truth, form_type)
    consistency = evaluation(body, "consistency")
    assert [c["rule"] for c in consistency["details"]["checks"]] == [r.id for r in form_type.rules]
    assert consistency["value"] is True, consistency["reasoning"]
    assert consistency["reasoning"].startswith(f"{name}@1:")


@pytest.mark.parametrize("name", ["ng_ec8a", "bo_acta", "ke_34a", "generic"])
def test_a_paper_whose_arithmetic_fails_is_flagged_naming_the_broken_rule(extract_client, name):
    rule = BROKEN[name]
    paper = render_form(name, seed=first_exact_seed(name, breaks_rule=rule), breaks_rule=rule)

    body = extract(extract_client, paper, name)

    consistency = evaluation(body, "consistency")
    assert consistency["value"] is False and consistency["assessment"] == "fail"
    assert f"{rule} fails" in consistency["reasoning"]
    verdicts = {c["rule"]: c["status"] for c in consistency["details"]["checks"]}
    assert verdicts[rule] == "fail"
    # the reading is queued for a person because its checks failed
    item = extract_client.get(f"/{body['extraction_id']}", headers=HEADERS).json
    assert item["form_type"] == f"{name}@1"


def test_an_ec8a_whose_words_and_figures_differ_is_flagged_naming_the_row(extract_client):
    paper = render_form("ng_ec8a", seed=first_exact_seed("ng_ec8a", words_mismatch=True), words_mismatch=True)

    body = extract(extract_client, paper, "ng_ec8a")

    words = evaluation(body, "figures_match_words")
    assert words["value"] is False and words["assessment"] == "fail"
    assert f"{paper.words_mismatch_row}: figures" in words["reasoning"]
