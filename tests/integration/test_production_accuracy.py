"""Production accuracy (GET /datasets/review/accuracy) through the HTTP API: extractions with the
Gemini stand-in, a random sample drawn into the review queue, reviewers' decisions, and the
endpoint's PPI++ estimate and interval checked against the same verdicts worked by hand."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta

import pytest

from shared.synthetic.forms import generate_form
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import new_draft
from tests.integration.test_review_queue import HEADERS, claim, decide, extract, thumbs_down
from tests.openapi_contract import assert_matches_contract

Z_95 = 1.959963984540054
FLAGGING = ("schema_valid", "consistency", "output_classification", "cross_check")


def automatically_right(extraction: dict) -> bool:
    """The automatic verdict as README defines it, read off the extraction's own evaluations."""
    return extraction["status"] == "succeeded" and not any(
        e["label"] in FLAGGING and e.get("assessment") == "fail" and not e.get("error")
        for e in extraction["evaluations"]
    )


def ppi_by_hand(n_total: int, automatic_right: int, pairs: list[tuple[int, int]]) -> tuple[float, float, float]:
    """PPI++ for a mean (Angelopoulos, Duchi, Zrnic 2023), normal 95% interval clipped to [0, 1]."""
    n = len(pairs)
    mean_h = sum(h for h, _ in pairs) / n
    mean_a = sum(a for _, a in pairs) / n
    var_a = sum((a - mean_a) ** 2 for _, a in pairs) / (n - 1)
    cov = sum((h - mean_h) * (a - mean_a) for h, a in pairs) / (n - 1)
    lam = min(1.0, max(0.0, cov / ((1 + n / n_total) * var_a))) if var_a else 0.0
    rect = [h - lam * a for h, a in pairs]
    mean_r = sum(rect) / n
    var_r = sum((r - mean_r) ** 2 for r in rect) / (n - 1)
    p = automatic_right / n_total
    theta = lam * p + mean_r
    half = Z_95 * math.sqrt(lam**2 * p * (1 - p) / (n_total - 1) + var_r / n)
    clip = lambda x: min(1.0, max(0.0, x))  # noqa: E731
    return clip(theta), clip(theta - half), clip(theta + half)


def read_by_stand_in(extract_client, gemini, seed: int, *, add_up: bool) -> dict:
    """An extraction the Gemini stand-in reads; when not `add_up`, one count is off by 7 so the
    consistency evaluator fails it (the automatic verdict: wrong)."""
    form = generate_form(seed)
    reading = form.truth.model_copy(deep=True)
    if not add_up:
        reading.vote_results[0].vote_count += 7
    gemini.enqueue(extraction_reply(reading))
    data = {"image": (io.BytesIO(form.image), "form.png", form.content_type), "model": "gemini-2.5-flash"}
    response = extract_client.post("/", data=data, headers=HEADERS, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def reviewed_week(clean_firestore, configure, gemini, extract_client, feedback_client, datasets_client):
    """13 extractions drawn into the random sample (rate 1), 12 of them decided; 3 more made with
    the sample off, one of which a thumbs down flags and a reviewer rejects (flagged only: it must
    not count). Every third reading does not add up. Returns the window, the sampled extractions
    with their verdicts, and all of them."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    configure(REVIEW_RANDOM_SAMPLE_RATE="1.0")
    sampled = [read_by_stand_in(extract_client, gemini, s, add_up=s % 3 != 0) for s in range(401, 414)]
    configure(REVIEW_RANDOM_SAMPLE_RATE="0")
    others = [read_by_stand_in(extract_client, gemini, s, add_up=s % 3 != 0) for s in range(414, 417)]
    assert {automatically_right(e) for e in sampled} == {True, False}  # the automatic verdicts differ
    thumbs_down(feedback_client, others[0])
    draft = new_draft(datasets_client, "accuracy")
    verdicts: dict[str, str] = {}
    for index, extraction in enumerate(sampled[:12]):
        extraction_id = extraction["extraction_id"]
        assert claim(datasets_client, "ada", extraction_id=extraction_id).status_code == 200
        target = {"name": draft, "version": "v1"}
        # Mostly as the automatic verdict says (readings that do not add up are rejected or corrected),
        # and one that adds up is rejected anyway (the evaluators missed it).
        if index == 0 or (not automatically_right(extraction) and index % 2):
            body, verdicts[extraction_id] = {"reviewer": "ada", "decision": "reject"}, "rejected"
        elif not automatically_right(extraction):
            row = extraction["result"]["vote_results"][0]
            fix = {"vote_results": [{"candidate_name": row["candidate_name"], "vote_count": row["vote_count"] - 7}]}
            body = {"reviewer": "ada", "decision": "approve", "corrections": fix, "target": target}
            verdicts[extraction_id] = "corrected"
        else:
            body, verdicts[extraction_id] = {"reviewer": "ada", "decision": "approve", "target": target}, "approved"
        decided = decide(datasets_client, extraction_id, body)
        assert decided.status_code == 200, decided.json
    flagged_id = others[0]["extraction_id"]
    assert claim(datasets_client, "ada", extraction_id=flagged_id).status_code == 200
    assert decide(datasets_client, flagged_id, {"reviewer": "ada", "decision": "reject"}).status_code == 200
    until = datetime.now(UTC) + timedelta(seconds=1)
    return since, until, sampled, verdicts, sampled + others


def test_random_sample_items_carry_their_reason_and_form_type(reviewed_week, datasets_client, test_agent):
    _, _, sampled, _, everything = reviewed_week

    listed = datasets_client.get("/review/queue?reason=random_sample&page_size=100", headers=HEADERS).json

    assert sorted(i["extraction_id"] for i in listed["items"]) == sorted(e["extraction_id"] for e in sampled)
    assert listed["counts"]["random_sample"] == {"pending": 1, "claimed": 0, "done": 12}
    from shared.storage.clients import firestore_client

    stored = firestore_client().collection("review_items").document(sampled[0]["extraction_id"]).get().to_dict()
    assert stored["form_type"] == sampled[0]["form_type"]
    assert stored["automatic_verdict"] is automatically_right(sampled[0])

    def human_review(extraction: dict) -> list[dict] | None:
        sent = [m for m in test_agent.evaluations_for(extraction["span_id"]) if m["label"] == "human_review"]
        return sent or None

    # Datadog can chart the reviewers' share approved on the random sample alone: its verdicts are tagged.
    assert test_agent.wait_for(lambda: human_review(sampled[1]))[0]["tag_map"]["review_sample"] == "random"
    flagged_only = test_agent.wait_for(lambda: human_review(everything[-3]))
    assert "review_sample" not in flagged_only[0]["tag_map"]


def test_the_endpoint_gives_the_ppi_estimate_worked_by_hand_from_the_same_verdicts(reviewed_week, datasets_client):
    since, until, sampled, verdicts, everything = reviewed_week
    by_id = {e["extraction_id"]: e for e in everything}
    pairs = [(int(verdict == "approved"), int(automatically_right(by_id[i]))) for i, verdict in verdicts.items()]
    automatic_right = sum(automatically_right(e) for e in everything)
    estimate, low, high = ppi_by_hand(len(everything), automatic_right, pairs)

    answer = datasets_client.get(
        "/review/accuracy", query_string={"since": since.isoformat(), "until": until.isoformat()}, headers=HEADERS
    )

    assert answer.status_code == 200, answer.json
    assert_matches_contract("/datasets/review/accuracy", "GET", 200, answer.json)
    body = answer.json
    assert body["n_total"] == 16 and body["n_reviewed"] == 12  # the flagged-only rejection is not in n
    assert body["confidence"] == 0.95 and body["method"] == "ppi++"
    assert body["estimate"] == pytest.approx(estimate)
    assert body["ci_low"] == pytest.approx(low) and body["ci_high"] == pytest.approx(high)
    approved = sum(verdict == "approved" for verdict in verdicts.values())
    assert 0 < approved < 12
    assert body["human_only"]["estimate"] == pytest.approx(approved / 12)
    assert 0 < body["power_tuning"] <= 1  # the automatic verdicts track the people's: PPI++ leans on them


def test_by_week_and_by_form_type(reviewed_week, datasets_client):
    since, until, sampled, _, everything = reviewed_week
    form_type = everything[0]["form_type"]

    weekly = datasets_client.get(
        "/review/accuracy",
        query_string={"since": (since - timedelta(days=14)).isoformat(), "until": until.isoformat(), "by": "week"},
        headers=HEADERS,
    ).json
    other_type = datasets_client.get(
        "/review/accuracy", query_string={"since": since.isoformat(), "form_type": "nosuchtype@1"}, headers=HEADERS
    ).json
    same_type = datasets_client.get(
        "/review/accuracy", query_string={"since": since.isoformat(), "form_type": form_type}, headers=HEADERS
    ).json

    assert sum(week["n_total"] for week in weekly["weeks"]) == 16
    assert sum(week["n_reviewed"] for week in weekly["weeks"]) == 12
    assert other_type["n_total"] == 0 and other_type["estimate"] is None and other_type["reason"]
    assert same_type["n_total"] == sum(e["form_type"] == form_type for e in everything)


def test_too_few_reviewed_says_so(clean_firestore, configure, extract_client, datasets_client):
    configure(REVIEW_RANDOM_SAMPLE_RATE="1.0")
    extract(extract_client, 420)

    body = datasets_client.get("/review/accuracy", headers=HEADERS).json

    assert body["estimate"] is None and body["ci_low"] is None and body["n_total"] == 1
    assert "at least 10" in body["reason"]


@pytest.mark.parametrize(
    "query",
    [
        {"since": "last tuesday"},
        {"until": "2026-02-30"},
        {"since": "2026-12-01", "until": "2026-11-01"},
        {"since": "2024-01-01", "until": "2026-01-01"},
        {"until": "0001-01-03"},
        {"since": "2026-01-01", "until": "2026-12-01", "by": "week"},
        {"form_type": "Generic"},
        {"by": "month"},
        {"window": "7d"},
    ],
)
def test_bad_arguments_are_a_400_with_a_sentence(datasets_client, query):
    answer = datasets_client.get("/review/accuracy", query_string=query, headers=HEADERS)

    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["message"].endswith(".")
