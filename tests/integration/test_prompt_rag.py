"""Reference documents in the prompt (issue 14, the guide's 3.3 "with RAG context"): they reach
the model through the template's {{reference_docs}}, the llm span carries ddtrace's prompt
annotation with them as RAG context, and an experiment compares with and without them.

Gemini is the local generateContent stand-in (fixture `gemini`; no Gemini is reachable from here,
in production the same adapter talks to Gemini); Firestore, Pub/Sub and the Datadog test agent
are the real emulators.
"""

from __future__ import annotations

import base64
import io
import time
import uuid

import pytest

from shared.prompts import BUILTIN_PROMPTS
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import published_dataset
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
DOCS = "Constituency 042 lists four candidates; the returning officer's tally says 12,345 valid votes."
HEADING = "Reference documents for this form (use them to check names and numbers; the image decides):"
DATASET_DOCS = "Candidate votes add up to the valid votes."  # what tests.integration.builders gives each entry


def extract_json(extract_client, form, **fields):
    body = {"image_base64": base64.b64encode(form.image).decode(), "model": "gemini-2.5-flash", **fields}
    return extract_client.post("/", json=body, headers=HEADERS)


def rag_prompt(experiments_client) -> str:
    """A new prompt whose template places the reference documents itself; its `name@1`."""
    name = f"rag_{uuid.uuid4().hex[:8]}"
    template = "Reference documents:\n{{reference_docs}}\n---\n" + BUILTIN_PROMPTS["prompt_b"]
    created = experiments_client.post(
        "/prompts",
        json={"name": name, "template": template, "variables": ["reference_docs"]},
        headers=HEADERS,
    )
    assert created.status_code == 201, created.json
    return created.json["ref"]


def llm_span(agent, span_id: str) -> dict:
    [span] = agent.wait_for(lambda: agent.llmobs_spans(span_id=span_id))
    return span


@pytest.mark.integration
def test_reference_docs_reach_generate_content_and_the_span_prompt_annotation(extract_client, gemini, clean_test_agent):
    form = generate_form(1500)
    gemini.enqueue(extraction_reply(form.truth))

    response = extract_json(extract_client, form, reference_docs=DOCS, prompt_version="prompt_a")

    assert response.status_code == 200, response.json
    assert_matches_contract("/extract", "POST", 200, response.json)
    assert response.json["prompt_version"] == "prompt_a@1" and response.json["reference_docs"] == DOCS
    [sent] = gemini.generate_requests
    assert sent.images[0].data == form.image  # the image stays its own part, before the text
    # prompt_a declares no {{reference_docs}}: they follow the instruction under a fixed heading.
    assert sent.texts == [f"{BUILTIN_PROMPTS['prompt_a']}\n\n{HEADING}\n{DOCS}"]
    span = llm_span(clean_test_agent, response.json["span_id"])
    assert span["tag_map"]["rag_enabled"] == "true" and span["tag_map"]["prompt_version"] == "prompt_a@1"
    prompt = span["meta"]["input"]["prompt"]
    assert prompt["id"] == "prompt_a" and prompt["version"] == "1" and prompt["label"] == "production"
    assert prompt["template"] == f"{BUILTIN_PROMPTS['prompt_a']}\n\n{HEADING}\n{{{{reference_docs}}}}"
    assert prompt["variables"] == {"reference_docs": DOCS}
    # ddtrace sends the annotation's rag_context_variables under this key.
    assert prompt["_dd_context_variable_keys"] == ["reference_docs"]


@pytest.mark.integration
def test_a_template_places_the_reference_docs_where_it_declares_them(
    extract_client, experiments_client, gemini, clean_test_agent
):
    ref = rag_prompt(experiments_client)
    form = generate_form(1501)
    gemini.enqueue(extraction_reply(form.truth), extraction_reply(form.truth))
    image = (io.BytesIO(form.image), "form.png", form.content_type)

    with_docs = extract_client.post(
        "/",
        data={"image": image, "model": "gemini-2.5-flash", "prompt_version": ref, "reference_docs": DOCS},
        headers=HEADERS,
        content_type="multipart/form-data",
    )
    without = extract_json(extract_client, form, prompt_version=ref)

    assert with_docs.status_code == without.status_code == 200, (with_docs.json, without.json)
    first, second = gemini.generate_requests
    assert first.texts == [f"Reference documents:\n{DOCS}\n---\n{BUILTIN_PROMPTS['prompt_b']}"]
    assert second.texts == [f"Reference documents:\n\n---\n{BUILTIN_PROMPTS['prompt_b']}"]
    agent = clean_test_agent
    with_span, without_span = llm_span(agent, with_docs.json["span_id"]), llm_span(agent, without.json["span_id"])
    assert with_span["meta"]["input"]["prompt"]["template"].startswith("Reference documents:\n{{reference_docs}}\n")
    assert with_span["tag_map"]["rag_enabled"] == "true" and without_span["tag_map"]["rag_enabled"] == "false"
    assert without_span["meta"]["input"]["prompt"].get("variables", {}) == {}
    assert without.json["reference_docs"] is None


@pytest.mark.integration
def test_with_and_without_reference_docs_as_two_variants_compare_with_verdicts(
    datasets_client, experiments_client, gemini, clean_test_agent
):
    ref = rag_prompt(experiments_client)
    forms = [generate_form(1510 + i) for i in range(10)]
    dataset, truths = published_dataset(datasets_client, forms)

    def reads_better_with_docs(request):
        # The stand-in answers right only when the entry's reference documents are in the prompt.
        truth = truths[request.images[0].data]
        if any(DATASET_DOCS in text for text in request.texts):
            return extraction_reply(truth)
        off = {**truth, "vote_results": [{**row, "vote_count": row["vote_count"] + 7} for row in truth["vote_results"]]}
        return extraction_reply(off)

    gemini.set_responder(reads_better_with_docs)
    body = {
        "name": "with and without reference docs",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [
            {"name": "without", "model": "gemini-2.5-flash", "prompt_version": ref},
            {"name": "with", "model": "gemini-2.5-flash", "prompt_version": ref, "params": {"reference_docs": True}},
        ],
        "evaluators": ["vote_count_accuracy", "vote_count_exact", "schema_valid"],
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    experiment_id = started.json["experiment_id"]
    deadline = time.monotonic() + 120
    while (status := experiments_client.get(f"/{experiment_id}", headers=HEADERS).json)["status"] not in (
        "completed",
        "failed",
    ):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    compared = experiments_client.get(f"/{experiment_id}/compare?a=without&b=with", headers=HEADERS)

    assert status["status"] == "completed", status
    assert compared.status_code == 200, compared.json
    for label in ("vote_count_accuracy", "vote_count_exact"):
        assert compared.json["metrics"][label]["verdict"] == "better", compared.json["metrics"][label]
    runs = experiments_client.get(f"/{experiment_id}/results", headers=HEADERS).json["items"]
    assert {(run["variant"], run["rag_enabled"]) for run in runs} == {("without", False), ("with", True)}
    assert {run["prompt_version"] for run in runs} == {ref}
    with_docs = [r for r in gemini.generate_requests if any(DATASET_DOCS in text for text in r.texts)]
    assert len(with_docs) == 10 and len(gemini.generate_requests) == 20
    agent = clean_test_agent
    span = llm_span(agent, next(run["span_id"] for run in runs if run["variant"] == "with"))
    assert span["tag_map"]["rag_enabled"] == "true"
    assert span["meta"]["input"]["prompt"]["variables"] == {"reference_docs": DATASET_DOCS}


@pytest.mark.integration
def test_bad_reference_docs_input_is_422_and_runs_nothing(extract_client, datasets_client, experiments_client, gemini):
    form = generate_form(1520)
    dataset, _ = published_dataset(datasets_client, [form])

    too_long = extract_json(extract_client, form, reference_docs="x" * 32_001)
    not_text = extract_json(extract_client, form, reference_docs={"doc": 1})
    not_a_flag = experiments_client.post(
        "/",
        json={
            "name": "bad flag",
            "dataset": {"name": dataset, "version": "v1"},
            "variants": [{"name": "x", "model": "tesseract", "params": {"reference_docs": "yes"}}],
        },
        headers=HEADERS,
    )

    assert [r.status_code for r in (too_long, not_text, not_a_flag)] == [422, 422, 422]
    assert "reference_docs" in not_a_flag.json["error"]["message"]
    assert gemini.generate_requests == []
