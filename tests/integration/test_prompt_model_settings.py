"""A prompt version's model settings are applied when it runs, under the request's or variant's
params (shared/prompts/model_settings.py), and refused at creation when a prompt cannot set them.

Gemini is the local generateContent stand-in (fixture `gemini`): what it receives in each
request's generationConfig is what the adapter sent. Firestore and Pub/Sub are the emulators.
"""

from __future__ import annotations

import base64
import uuid

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import answered_by_truth, wait_done

HEADERS = {"X-API-Key": TEST_API_KEY}
TEMPLATE = "Read every row of the election result form in the image. Return JSON."


def new_prompt(experiments_client, **model_settings):
    name = f"tuned_{uuid.uuid4().hex[:8]}"
    body = {"name": name, "template": TEMPLATE, "model_settings": model_settings}
    return name, experiments_client.post("/prompts", json=body, headers=HEADERS)


def extract_with(extract_client, form, **fields):
    body = {"image_base64": base64.b64encode(form.image).decode(), **fields}
    return extract_client.post("/", json=body, headers=HEADERS)


@pytest.mark.integration
def test_extract_sends_the_prompts_settings_and_the_requests_params_override_them(
    extract_client, experiments_client, gemini
):
    name, created = new_prompt(experiments_client, temperature=0.3, max_output_tokens=2048)
    assert created.status_code == 201, created.json
    form = generate_form(1700)
    gemini.enqueue(*[extraction_reply(form.truth)] * 2)

    plain = extract_with(extract_client, form, model="gemini-2.5-flash", prompt_version=f"{name}@1")
    overridden = extract_with(
        extract_client, form, model="gemini-2.5-flash", prompt_version=f"{name}@1", params={"temperature": 0.9}
    )

    assert plain.status_code == 200 and overridden.status_code == 200, (plain.json, overridden.json)
    configs = [request.generation_config for request in gemini.generate_requests]
    assert [(c.get("temperature"), c.get("maxOutputTokens")) for c in configs] == [(0.3, 2048), (0.9, 2048)]
    stored = extract_client.get(f"/{overridden.json['extraction_id']}", headers=HEADERS).json
    assert stored["params"] == {"temperature": 0.9, "max_output_tokens": 2048}


@pytest.mark.integration
def test_experiment_runs_send_the_prompts_settings_and_a_variants_params_override_them(
    datasets_client, experiments_client, gemini
):
    name, created = new_prompt(experiments_client, temperature=0.2, top_p=0.5)
    assert created.status_code == 201, created.json
    dataset = answered_by_truth(datasets_client, gemini, [generate_form(1710 + i) for i in range(2)])
    as_written = {"model": "gemini-2.5-flash", "prompt_version": f"{name}@1"}
    variants = [{"name": "as_written", **as_written}, {"name": "hotter", **as_written, "params": {"temperature": 1.1}}]
    body = {"name": "prompt settings", "dataset": {"name": dataset, "version": "v1"}, "variants": variants}
    body["evaluators"] = ["schema_valid"]  # no judge: every request the stand-in sees is a run's

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    status = wait_done(experiments_client, started.json["experiment_id"])

    assert status["status"] == "completed", status
    sent = sorted(
        (r.generation_config.get("temperature"), r.generation_config.get("topP")) for r in gemini.generate_requests
    )
    assert sent == [(0.2, 0.5), (0.2, 0.5), (1.1, 0.5), (1.1, 0.5)]


@pytest.mark.integration
def test_a_model_that_does_not_sample_reads_with_a_tuned_prompt(extract_client, experiments_client):
    name, created = new_prompt(experiments_client, temperature=0.3)
    assert created.status_code == 201, created.json

    read = extract_with(extract_client, generate_form(1720), model="tesseract", prompt_version=f"{name}@1")

    assert read.status_code == 200, read.json
    assert read.json["params"] == {"deskew": True, "remove_lines": True}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("model_settings", "named"),
    [
        ({"model": "gemini-2.5-pro"}, "never chooses the model"),
        ({"safety_settings": []}, "'safety_settings'"),
        ({"temperature": 5}, "'temperature' must be a number from 0 to 2"),
        ({"max_output_tokens": "many"}, "'max_output_tokens' must be an integer"),
        ({"top_p": True}, "'top_p' must be a number"),
    ],
    ids=["model", "unknown-key", "temperature-out-of-range", "tokens-not-integer", "top-p-boolean"],
)
def test_settings_a_prompt_cannot_carry_are_refused_and_store_nothing(experiments_client, model_settings, named):
    name, refused = new_prompt(experiments_client, **model_settings)

    assert refused.status_code == 422, refused.json
    assert named in refused.json["error"]["message"]
    assert experiments_client.get(f"/prompts/{name}", headers=HEADERS).status_code == 404
