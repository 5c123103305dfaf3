"""Extract and the experiment runner read a form through one pipeline (`shared.reading`).

The same form is read online (POST /extract with the cross check on) and in an experiment (with
the `cross_check` evaluator), by real Tesseract, then by Gemini (the local generateContent
stand-in: no Gemini is reachable here) with Tesseract as the second reader; the spans are the
ones Datadog's test agent received. What says how a form was read must be the same on both paths;
only the context (the extraction, or the experiment's run) differs.
"""

from __future__ import annotations

import io

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration.builders import published_dataset, truth_responder, wait_done

HEADERS = {"X-API-Key": TEST_API_KEY}
READING_TAGS = ("model", "prompt_version", "rag_enabled", "created_by")
ONLINE_CONTEXT = ("extraction_id",)
RUN_CONTEXT = ("experiment", "experiment_id", "variant", "entry_id", "repetition")
SECOND_READER = "tesseract-alternate"


def spans_by_id(agent, *span_ids: str) -> dict[str, dict]:
    def received() -> dict[str, dict] | None:
        spans = {s["span_id"]: s for s in agent.llmobs_span_events() if s["span_id"] in span_ids}
        return spans if len(spans) == len(span_ids) else None

    return agent.wait_for(received, timeout=15)


def cross_check_of(evaluations: list[dict]) -> dict:
    [found] = [e for e in evaluations if e["label"] == "cross_check"]
    return found


@pytest.mark.integration
@pytest.mark.parametrize("model", ["tesseract", "gemini-2.5-flash"])
def test_extract_and_an_experiment_run_make_the_same_spans_with_the_same_tags(
    extract_client, datasets_client, experiments_client, gemini, configure, clean_test_agent, model
):
    configure(CROSS_CHECK="on", CROSS_CHECK_SAMPLE_RATE="1", CROSS_CHECK_READER=SECOND_READER)
    form = generate_form(5)
    gemini.set_responder(truth_responder({form.image: form.truth.model_dump()}))
    online = extract_client.post(
        "/",
        data={"image": (io.BytesIO(form.image), "form.png", form.content_type), "model": model},
        headers=HEADERS,
        content_type="multipart/form-data",
    ).json
    dataset, _ = published_dataset(datasets_client, [form])
    started = experiments_client.post(
        "/",
        json={
            "name": "one reading path",
            "dataset": {"name": dataset, "version": "v1"},
            "variants": [{"name": "a", "model": model}],
            "evaluators": [{"cross_check": {"reader": SECOND_READER}}],
        },
        headers=HEADERS,
    ).json
    assert wait_done(experiments_client, started["experiment_id"])["status"] == "completed"
    [run] = experiments_client.get(f"/{started['experiment_id']}/results", headers=HEADERS).json["items"]
    online_second = cross_check_of(online["evaluations"])["details"]["second_span_id"]
    run_second = cross_check_of(run["evaluations"])["details"]["second_span_id"]

    spans = spans_by_id(clean_test_agent, online["span_id"], run["span_id"], online_second, run_second)

    primary_online, primary_run = spans[online["span_id"]], spans[run["span_id"]]
    assert primary_online["name"] == primary_run["name"]  # the same call made the span
    for span, context in ((primary_online, ONLINE_CONTEXT), (primary_run, RUN_CONTEXT)):
        assert span["meta"]["span"]["kind"] == "llm" and model in span["meta"]["model_name"]
        assert span["meta"]["input"]["prompt"]["id"] == "prompt_a"  # the prompt annotation, on both
        assert all(key in span["tag_map"] for key in context), span["tag_map"]
    reading_online = {key: primary_online["tag_map"][key] for key in READING_TAGS}
    reading_run = {key: primary_run["tag_map"][key] for key in READING_TAGS}
    assert (
        reading_online
        == reading_run
        == {
            "model": model,
            "prompt_version": "prompt_a@1",
            "rag_enabled": "false",
            "created_by": reading_online["created_by"],
        }
    )
    assert reading_online["created_by"]  # the caller's key name, on both
    # The second reading: made beside the primary one on both paths, under its llm span (so in its
    # trace, also where the run's llm span is the trace's root), tagged alike.
    for primary, second_id in ((primary_online, online_second), (primary_run, run_second)):
        second = spans[second_id]
        assert second["name"] == "cross_check_read" and second["tag_map"]["reading"] == "cross_check"
        assert second["trace_id"] == primary["trace_id"] and second["parent_id"] == primary["span_id"]
        assert {key: second["tag_map"][key] for key in READING_TAGS} == reading_online
        assert {key: second["tag_map"].get(key) for key in ("extraction_id", "experiment_id", "entry_id")} == {
            key: primary["tag_map"].get(key) for key in ("extraction_id", "experiment_id", "entry_id")
        }
    assert cross_check_of(online["evaluations"])["details"]["reader"] == SECOND_READER
    assert cross_check_of(run["evaluations"])["details"]["reader"] == SECOND_READER
