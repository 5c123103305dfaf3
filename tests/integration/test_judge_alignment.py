"""Judges as versioned data that learn from reviewers: `/experiments/judges` versions, labels and
alignment, through the HTTP API over the real emulators.

Gemini cannot be reached here: the model under test and the judge are the local Gemini stand-in
(`tests/fakes/gemini_server.py`, a local HTTP server speaking Gemini's REST API, which the real
google-genai client talks to). For the alignment it plays a judge that is better (or worse) when
its request carries the reviewers' examples, so the paired comparison has a known answer; the real
gain of an alignment needs real Gemini (README, "Judges that learn from reviewers").
"""

from __future__ import annotations

import copy
import io
import json
import re
import uuid

import pytest

from shared.evaluation.judges.alignment import holds_out
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import SAMPLE_EXTRACTION, extraction_reply, text_reply
from tests.integration.builders import new_draft
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
RUBRIC = "The extraction reads every figure on the paper correctly."
EXAMPLES_MARK = "Examples of reviewers' verdicts"
WRONG_NOTE = "The valid votes must be read from the paper, not added up."
DECISIONS = 24


def review_traffic(extract_client, datasets_client, gemini) -> dict[str, bool]:
    """Extractions that reviewers decided: each one's output names whether it is right (approved)
    or wrong (rejected, with a note). Their counts do not add up, so each is queued for review."""
    image = generate_form(960).image
    target = {"name": new_draft(datasets_client, "judged"), "version": "v1"}
    people: dict[str, bool] = {}
    for i in range(DECISIONS):
        right = i % 2 == 0
        output = copy.deepcopy(SAMPLE_EXTRACTION)
        output["form"]["constituency_name"] = f"Ward {i} {'right' if right else 'wrong'}"
        output["ballot_stats"]["valid_votes"] = 9_000 + i  # not the candidates' sum: consistency fails
        gemini.enqueue(extraction_reply(output))
        made = extract_client.post(
            "/",
            data={"image": (io.BytesIO(image), "f.png"), "model": "gemini-2.5-flash"},
            # A key per decision: the ids, and so the seeded hold-out split, are the same on every run
            # (random ids left the learn set without two approvals about 1 run in 300).
            headers={**HEADERS, "Idempotency-Key": f"judged-{i}"},
            content_type="multipart/form-data",
        )
        assert made.status_code == 200, made.json
        extraction_id = made.json["extraction_id"]
        claimed = datasets_client.post(
            "/review/claim", json={"reviewer": "ada", "extraction_id": extraction_id}, headers=HEADERS
        )
        assert claimed.status_code == 200, claimed.json
        decision = (
            {"reviewer": "ada", "decision": "approve", "target": target}
            if right
            else {
                "reviewer": "ada",
                "decision": "reject",
                "note": WRONG_NOTE,
            }
        )
        decided = datasets_client.post(f"/review/{extraction_id}/decision", json=decision, headers=HEADERS)
        assert decided.status_code == 200, decided.json
        people[extraction_id] = right
    return people


def judge_that_learns(*, better_with_examples: bool):
    """The stand-in as a judge: it reads the judged output's own name (right or wrong) and answers
    as people did when (better judge) its request carries the examples, the opposite otherwise;
    or (worse judge) the other way round."""

    def respond(request):
        prompt = "\n".join(request.texts)
        judged = prompt.rpartition("Model output:")[2]
        people_say = re.search(r"Ward \d+ (right|wrong)", judged).group(1) == "right"
        agrees = (EXAMPLES_MARK in prompt) == better_with_examples
        value = people_say if agrees else not people_say
        return text_reply(json.dumps({"reasoning": "checked", "value": value}), prompt_tokens=700, output_tokens=20)

    return respond


def new_judge(experiments_client, **fields) -> str:
    name = f"judge-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "rubric": RUBRIC, "output": "boolean"} | fields
    created = experiments_client.post("/judges", json=body, headers=HEADERS)
    assert created.status_code == 201, created.json
    assert created.json["version"] == 1
    assert_matches_contract("/experiments/judges", "POST", 201, created.json)
    return name


@pytest.fixture
def reviewed(clean_firestore, extract_client, datasets_client, gemini) -> dict[str, bool]:
    return review_traffic(extract_client, datasets_client, gemini)


@pytest.mark.parametrize("better", [True, False], ids=["better", "worse"])
def test_an_alignment_learns_from_reviewers_and_is_compared_on_held_out_decisions(
    reviewed, experiments_client, gemini, better
):
    name = new_judge(experiments_client)
    gemini.set_responder(judge_that_learns(better_with_examples=better))
    body = {"seed": 11, "holdout_fraction": 0.5, "max_examples": 4}

    aligned = experiments_client.post(f"/judges/{name}/align", json=body, headers=HEADERS)

    assert aligned.status_code == 201, aligned.json
    assert_matches_contract("/experiments/judges/{name}/align", "POST", 201, aligned.json)
    result = aligned.json
    assert result["version"] == 2 and result["from_version"] == 1
    held = set(result["holdout"]["extraction_ids"])
    # The split is the seeded hash of each extraction id, and no held-out decision is an example.
    assert held == {e for e in reviewed if holds_out(e, seed=11, fraction=0.5)}
    assert held.isdisjoint(result["examples"]) and set(result["examples"]) <= set(reviewed)
    assert len(result["examples"]) == 4
    # Balanced: two the reviewers approved, two they rejected.
    assert sorted(reviewed[e] for e in result["examples"]) == [False, False, True, True]
    holdout = result["holdout"]
    assert holdout["n"] == len(held) >= 6, holdout
    old, new = holdout["old"], holdout["new"]
    if better:
        assert (old["agreement"], new["agreement"]) == (0.0, 1.0)
        assert new["kappa"] == 1.0 and holdout["paired"]["verdict"] == "better"
    else:
        assert (old["agreement"], new["agreement"]) == (1.0, 0.0)
        assert old["kappa"] == 1.0 and holdout["paired"]["verdict"] == "worse"
    assert holdout["paired"]["test"] == "mcnemar_exact" and holdout["paired"]["p_value"] < 0.05

    # The new version holds the examples and the reviewers' note as a rule; the alignment is stored.
    version = experiments_client.get(f"/judges/{name}/2", headers=HEADERS)
    assert version.status_code == 200, version.json
    assert_matches_contract("/experiments/judges/{name}/{version}", "GET", 200, version.json)
    assert [e["extraction_id"] for e in version.json["examples"]] == result["examples"]
    assert version.json["params"]["rubric"].startswith(RUBRIC) and WRONG_NOTE in version.json["params"]["rubric"]
    stored = experiments_client.get(f"/judges/{name}/2/alignment", headers=HEADERS)
    assert stored.status_code == 200 and stored.json == result
    # The examples reached the judge's prompt only for the new version.
    judged_with_examples = [r for r in gemini.generate_requests if EXAMPLES_MARK in "\n".join(r.texts)]
    assert len(judged_with_examples) == len(held)


def test_judges_are_versioned_with_examples_and_labels(reviewed, experiments_client):
    right, wrong = (next(e for e, ok in reviewed.items() if ok is want) for want in (True, False))
    name = new_judge(experiments_client)
    second = experiments_client.post(
        "/judges",
        json={
            "name": name,
            "rubric": RUBRIC,
            "output": "boolean",
            "sees_image": True,
            "examples": [
                {"extraction_id": right, "verdict": "pass"},
                {"extraction_id": wrong, "verdict": "fail", "note": "n"},
            ],
        },
        headers=HEADERS,
    )
    moved = experiments_client.post(
        f"/judges/{name}/labels", json={"label": "production", "version": 2}, headers=HEADERS
    )
    described = experiments_client.get(f"/judges/{name}", headers=HEADERS)
    by_label = experiments_client.get(f"/judges/{name}/production", headers=HEADERS)
    listed = experiments_client.get("/judges", headers=HEADERS)

    assert second.status_code == 201 and second.json["version"] == 2, second.json
    assert moved.status_code == 200 and moved.json["labels"] == {"production": 2}
    assert described.status_code == 200
    assert_matches_contract("/experiments/judges/{name}", "GET", 200, described.json)
    assert [v["version"] for v in described.json["versions"]] == [1, 2]
    assert described.json["versions"][1]["examples"] == 2 and described.json["versions"][1]["sees_image"] is True
    assert by_label.json["version"] == 2 and by_label.json["labels"] == ["production"]
    example = by_label.json["examples"][0]
    assert example["extraction_id"] == right and example["output"]["form"]["constituency_name"].endswith("right")
    assert name in [judge["name"] for judge in listed.json["items"]]
    assert_matches_contract("/experiments/judges", "GET", 200, listed.json)
    # Not made by an alignment: no alignment to show.
    assert experiments_client.get(f"/judges/{name}/2/alignment", headers=HEADERS).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "Bad Name", "rubric": RUBRIC}, 422),
        ({"name": "ok", "rubric": ""}, 422),
        ({"name": "ok", "rubric": RUBRIC, "output": "categorical", "classes": ["a", "b"]}, 422),
        ({"name": "ok", "rubric": RUBRIC, "examples": [{"extraction_id": "nope123", "verdict": "pass"}]}, 404),
        ({"name": "ok", "rubric": RUBRIC, "examples": [{"extraction_id": "x1", "verdict": "maybe"}]}, 422),
        ({"name": "ok", "rubric": RUBRIC, "temperature": 1}, 422),
    ],
    ids=["name", "empty-rubric", "no-pass-classes", "unknown-extraction", "bad-verdict", "unknown-field"],
)
def test_bad_judges_are_refused_with_a_sentence(clean_firestore, experiments_client, body, status):
    response = experiments_client.post("/judges", json=body, headers=HEADERS)

    assert response.status_code == status, response.json
    assert len(response.json["error"]["message"]) > 20 and "Traceback" not in response.json["error"]["message"]


def test_aligning_without_decisions_or_an_unknown_judge_is_refused(clean_firestore, experiments_client, gemini):
    name = new_judge(experiments_client)

    empty = experiments_client.post(f"/judges/{name}/align", json={}, headers=HEADERS)
    unknown = experiments_client.post("/judges/no-such-judge/align", json={}, headers=HEADERS)
    bad = experiments_client.post(f"/judges/{name}/align", json={"holdout_fraction": 1.5}, headers=HEADERS)

    assert empty.status_code == 422 and "review more extractions" in empty.json["error"]["message"]
    assert unknown.status_code in (404, 422), unknown.json
    assert bad.status_code == 422
