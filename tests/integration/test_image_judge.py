"""A judge that sees the form (`llm_judge` with `sees_image`), online and in experiments, and what
online judges spend counted in the extraction's `usage`.

Gemini cannot be reached here: both the model under test and the judge are the local Gemini
stand-in (`tests/fakes/gemini_server.py`, a local HTTP server speaking Gemini's REST API, which
the real google-genai client talks to). It bills the judge's image as Gemini documents it (258
tokens per 768x768 tile), so the tests check that those tokens reach cost, usage and estimate.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from shared.config import get_settings
from shared.evaluation.judge_image import ESTIMATED_IMAGE_TOKENS, image_tokens
from shared.evaluation.llm_judge import ESTIMATED_JUDGE_INPUT_TOKENS, ESTIMATED_JUDGE_OUTPUT_TOKENS
from shared.llm.pricing import estimated_cost_usd
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply, text_reply
from tests.integration.builders import published_dataset, wait_done
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
ON_PAPER = "Every figure in the answer matches the figure printed on the paper."
JUDGE_TEXT_TOKENS = 500
JUDGE_OUTPUT_TOKENS = 30
READING = {"prompt_tokens": 1290, "output_tokens": 120}


def billed_image_tokens(image: bytes) -> int:
    """What Gemini bills for this image (the stand-in's own count, from the bytes it received)."""
    with Image.open(io.BytesIO(image)) as opened:
        width, height = opened.size
    tiles = 1 if width <= 384 and height <= 384 else -(-width // 768) * -(-height // 768)
    return 258 * tiles


def model_and_seeing_judge(truths: dict[bytes, dict], verdict: bool = True):
    """The stand-in as the model (each image's truth) and as the judge: a request that carries the
    rubric is the judge's, billed its text and its image."""

    def respond(request):
        if ON_PAPER not in "\n".join(request.texts):
            return extraction_reply(truths[request.images[0].data], **READING)
        image = sum(billed_image_tokens(part.data) for part in request.images)
        answer = json.dumps({"reasoning": f"{len(request.images)} image(s) read", "value": verdict})
        return text_reply(answer, prompt_tokens=JUDGE_TEXT_TOKENS + image, output_tokens=JUDGE_OUTPUT_TOKENS)

    return respond


def judge_requests(gemini):
    return [r for r in gemini.generate_requests if ON_PAPER in "\n".join(r.texts)]


def test_a_seeing_judge_in_an_experiment_gets_the_entry_image_and_pays_for_it(
    datasets_client, experiments_client, gemini
):
    forms = [generate_form(940 + i) for i in range(2)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(model_and_seeing_judge(truths))
    judge = {"llm_judge": {"label": "on_paper", "rubric": ON_PAPER, "output": "boolean", "sees_image": True}}
    body = {
        "name": "seeing judge",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "evaluators": [judge],
        "budget_usd": 5,
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    status = wait_done(experiments_client, started.json["experiment_id"])
    runs = experiments_client.get(f"/{started.json['experiment_id']}/results", headers=HEADERS).json["items"]

    assert status["status"] == "completed" and len(runs) == 2, status
    # Each judge call carried the entry's own image (the same bytes) beside the rubric.
    sent = judge_requests(gemini)
    assert len(sent) == 2
    assert sorted(r.images[0].data for r in sent) == sorted(form.image for form in forms)
    assert all(len(r.images) == 1 and r.images[0].mime_type == "image/png" for r in sent)
    for run in runs:
        [judged] = [e for e in run["evaluations"] if e["label"] == "llm_judge_on_paper"]
        assert judged["error"] is None and judged["value"] is True and judged["assessment"] == "pass", judged
        image = image_tokens(*Image.open(io.BytesIO(forms[0].image)).size)
        assert judged["details"]["image_tokens"] == image == billed_image_tokens(forms[0].image) > 258
        assert judged["details"]["usage"]["input_tokens"] == JUDGE_TEXT_TOKENS + image
        assert judged["details"]["cost_usd"] == pytest.approx(
            estimated_cost_usd("gemini-2.5-flash", JUDGE_TEXT_TOKENS + image, JUDGE_OUTPUT_TOKENS)
        )
    assert status["summary"]["flash"]["evaluator_cost_usd"]["total"] == pytest.approx(
        2 * estimated_cost_usd("gemini-2.5-flash", JUDGE_TEXT_TOKENS + image, JUDGE_OUTPUT_TOKENS)
    )


def test_the_dry_run_estimate_counts_the_judge_image(datasets_client, experiments_client):
    dataset, _ = published_dataset(datasets_client, [generate_form(945)])
    judge = {"label": "on_paper", "rubric": ON_PAPER, "output": "boolean"}
    body = {
        "name": "plan seeing judge",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "ocr", "model": "tesseract"}],
        "repetitions": 2,
        "dry_run": True,
    }

    blind = experiments_client.post("/", json=body | {"evaluators": [{"llm_judge": judge}]}, headers=HEADERS)
    seeing = experiments_client.post(
        "/", json=body | {"evaluators": [{"llm_judge": judge | {"sees_image": True}}]}, headers=HEADERS
    )

    assert blind.status_code == seeing.status_code == 200, seeing.json
    model = get_settings().llm_judge_model
    text_in = ESTIMATED_JUDGE_INPUT_TOKENS + len(ON_PAPER) // 4
    per_run = estimated_cost_usd(model, text_in + ESTIMATED_IMAGE_TOKENS, ESTIMATED_JUDGE_OUTPUT_TOKENS)
    blind_per_run = estimated_cost_usd(model, text_in, ESTIMATED_JUDGE_OUTPUT_TOKENS)
    assert seeing.json["estimated_cost_usd"] == pytest.approx(2 * per_run, abs=2e-4)
    assert seeing.json["estimated_cost_usd"] - blind.json["estimated_cost_usd"] == pytest.approx(
        2 * (per_run - blind_per_run), abs=2e-4
    )
    assert ESTIMATED_IMAGE_TOKENS == 258 * 6  # 1536x2048: 2x3 tiles of 768


def test_an_online_seeing_judge_judges_without_expected_output_and_its_tokens_count_in_usage(
    clean_firestore, configure, gemini, extract_client
):
    judge = {"label": "on_paper", "rubric": ON_PAPER, "output": "boolean", "sees_image": True}
    configure(ONLINE_JUDGES=json.dumps([judge]))
    form = generate_form(950)
    gemini.set_responder(model_and_seeing_judge({form.image: form.truth.model_dump()}, verdict=False))

    response = extract_client.post(
        "/",
        data={"image": (io.BytesIO(form.image), "f.png"), "model": "gemini-2.5-flash"},
        headers=HEADERS,
        content_type="multipart/form-data",
    )
    stored = extract_client.get(f"/{response.json['extraction_id']}", headers=HEADERS)

    assert response.status_code == 200, response.json
    # The judge saw the uploaded image (the same bytes) and the rubric, with no expected output.
    [sent] = judge_requests(gemini)
    assert [image.data for image in sent.images] == [form.image]
    prompt = "\n".join(sent.texts)
    assert "not given: judge the output against the form's image" in prompt
    [judged] = [e for e in response.json["evaluations"] if e["label"] == "llm_judge_on_paper"]
    assert (judged["value"], judged["assessment"]) == (False, "fail")
    image = billed_image_tokens(form.image)
    judge_in = JUDGE_TEXT_TOKENS + image
    judge_cost = estimated_cost_usd("gemini-2.5-flash", judge_in, JUDGE_OUTPUT_TOKENS)
    reading_total = READING["prompt_tokens"] + READING["output_tokens"]
    expected_usage = {
        "input_tokens": READING["prompt_tokens"] + judge_in,
        "output_tokens": READING["output_tokens"] + JUDGE_OUTPUT_TOKENS,
        "total_tokens": reading_total + judge_in + JUDGE_OUTPUT_TOKENS,
        "reading": {
            "input_tokens": READING["prompt_tokens"],
            "output_tokens": READING["output_tokens"],
            "total_tokens": reading_total,
        },
        "judges": {
            "input_tokens": judge_in,
            "output_tokens": JUDGE_OUTPUT_TOKENS,
            "total_tokens": judge_in + JUDGE_OUTPUT_TOKENS,
            "cost_usd": pytest.approx(judge_cost),
            "by_label": {
                "llm_judge_on_paper": {
                    "input_tokens": judge_in,
                    "output_tokens": JUDGE_OUTPUT_TOKENS,
                    "total_tokens": judge_in + JUDGE_OUTPUT_TOKENS,
                }
            },
        },
    }
    assert response.json["usage"] == expected_usage
    assert stored.status_code == 200 and stored.json["usage"] == expected_usage
    assert_matches_contract("/extract", "POST", 200, response.json)
    assert_matches_contract("/extract/{extraction_id}", "GET", 200, stored.json)


def test_without_online_judges_the_usage_is_the_reading_alone(clean_firestore, configure, gemini, extract_client):
    configure(ONLINE_JUDGES="")
    form = generate_form(951)
    gemini.set_responder(model_and_seeing_judge({form.image: form.truth.model_dump()}))

    response = extract_client.post(
        "/",
        data={"image": (io.BytesIO(form.image), "f.png"), "model": "gemini-2.5-flash"},
        headers=HEADERS,
        content_type="multipart/form-data",
    )

    assert response.status_code == 200, response.json
    assert response.json["usage"] == {"input_tokens": 1290, "output_tokens": 120, "total_tokens": 1410}
    assert judge_requests(gemini) == []
