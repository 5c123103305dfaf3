"""An `llm_judge` that names a stored judge (`{"judge": "name@version|name@label"}`), in an
experiment and online, with the stored version's rubric and reviewers' examples in its prompt.

The model and the judge are the local Gemini stand-in (`tests/fakes/gemini_server.py`, a local
HTTP server speaking Gemini's REST API, which the real google-genai client talks to).
"""

from __future__ import annotations

import io
import json
import uuid

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply, text_reply
from tests.integration.builders import published_dataset, wait_done

HEADERS = {"X-API-Key": TEST_API_KEY}
RUBRIC = "Each vote count in the answer is the one printed on the paper (stored judge)."
NOTE = "Row three was read as 512 where the paper says 5120."


def stored_judge_responder(truths: dict[bytes, dict]):
    def respond(request):
        if RUBRIC not in "\n".join(request.texts):
            return extraction_reply(truths[request.images[-1].data])
        return text_reply(json.dumps({"reasoning": "as the examples", "value": True}), prompt_tokens=900)

    return respond


def extract(extract_client, image: bytes):
    response = extract_client.post(
        "/",
        data={"image": (io.BytesIO(image), "f.png"), "model": "gemini-2.5-flash"},
        headers=HEADERS,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    return response.json


def store_judge(experiments_client, example_id: str, **fields) -> str:
    name = f"stored-{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "rubric": RUBRIC,
        "output": "boolean",
        "examples": [{"extraction_id": example_id, "verdict": "fail", "note": NOTE}],
    } | fields
    created = experiments_client.post("/judges", json=body, headers=HEADERS)
    assert created.status_code == 201, created.json
    moved = experiments_client.post(
        f"/judges/{name}/labels", json={"label": "production", "version": created.json["version"]}, headers=HEADERS
    )
    assert moved.status_code == 200
    return name


def test_an_experiment_runs_a_stored_judge_with_its_examples(
    clean_firestore, datasets_client, experiments_client, extract_client, gemini
):
    example_form, form = generate_form(970), generate_form(971)
    truths = {f.image: f.truth.model_dump() for f in (example_form, form)}
    gemini.set_responder(stored_judge_responder(truths))
    example = extract(extract_client, example_form.image)
    name = store_judge(experiments_client, example["extraction_id"])
    dataset, _ = published_dataset(datasets_client, [form])
    body = {
        "name": "stored judge",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "evaluators": [{"llm_judge": {"judge": f"{name}@production", "label": "stored"}}],
    }
    gemini.reset()
    gemini.set_responder(stored_judge_responder(truths))

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    wait_done(experiments_client, started.json["experiment_id"])
    [run] = experiments_client.get(f"/{started.json['experiment_id']}/results", headers=HEADERS).json["items"]

    judged = {e["label"]: e for e in run["evaluations"]}["llm_judge_stored"]
    assert judged["value"] is True and judged["tags"]["judge"] == f"{name}@1", judged
    [sent] = [r for r in gemini.generate_requests if RUBRIC in "\n".join(r.texts)]
    prompt = "\n".join(sent.texts)
    assert "Examples of reviewers' verdicts" in prompt and NOTE in prompt
    assert example_form.truth.form.constituency_name in prompt  # the example's output, quoted


def test_unknown_or_overridden_stored_judges_are_refused(clean_firestore, datasets_client, experiments_client):
    dataset, _ = published_dataset(datasets_client, [generate_form(972)])
    body = {"name": "bad stored judge", "dataset": {"name": dataset, "version": "v1"}}
    body["variants"] = [{"name": "ocr", "model": "tesseract"}]

    unknown = experiments_client.post(
        "/", json=body | {"evaluators": [{"llm_judge": {"judge": "no-such-judge@2"}}]}, headers=HEADERS
    )
    overridden = experiments_client.post(
        "/", json=body | {"evaluators": [{"llm_judge": {"judge": "x@1", "rubric": "mine"}}]}, headers=HEADERS
    )

    assert unknown.status_code == 422 and "no-such-judge" in unknown.json["error"]["message"]
    assert overridden.status_code == 422 and "only judge and label" in overridden.json["error"]["message"]


def test_an_online_stored_judge_that_sees_images_gets_its_examples_images(
    clean_firestore, configure, experiments_client, extract_client, gemini
):
    example_form, form = generate_form(973), generate_form(974)
    truths = {f.image: f.truth.model_dump() for f in (example_form, form)}
    gemini.set_responder(stored_judge_responder(truths))
    example = extract(extract_client, example_form.image)
    name = store_judge(experiments_client, example["extraction_id"], sees_image=True)
    configure(ONLINE_JUDGES=json.dumps([{"judge": name, "label": "stored"}]))
    gemini.reset()
    gemini.set_responder(stored_judge_responder(truths))

    judged_extraction = extract(extract_client, form.image)

    [sent] = [r for r in gemini.generate_requests if RUBRIC in "\n".join(r.texts)]
    # The example's form first, then the form to judge; the example's note in the prompt.
    assert [image.data for image in sent.images] == [example_form.image, form.image]
    assert NOTE in "\n".join(sent.texts)
    judged = {e["label"]: e for e in judged_extraction["evaluations"]}["llm_judge_stored"]
    assert judged["value"] is True and judged["tags"]["judge"] == f"{name}@1"
    assert judged_extraction["usage"]["judges"]["input_tokens"] == 900
