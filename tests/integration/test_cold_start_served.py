"""Each function served as deployed (functions-framework under gunicorn: `main.py` is imported in
the master, which then forks the worker that serves), from a fresh process, over the real emulators.

`shared.wiring.instance.prepare_instance` imports ddtrace and the Google clients' libraries before
that fork; these tests show the forked worker still answers every function's representative request
(the ones `bench.first_request` times) and still sends LLM Observability spans.
"""

from __future__ import annotations

import pytest
import requests

from bench.first_request import API_KEY, PROBES, function_environment, serve_once, served_function
from shared.synthetic.forms import generate_form


@pytest.mark.integration
@pytest.mark.parametrize("function", list(PROBES))
def test_a_fresh_process_answers_its_first_and_warm_requests(function, local_stack, tmp_path):
    timings = serve_once(function, function_environment(local_stack), tmp_path)  # raises on a 5xx
    assert 0 < timings["ready_s"] < 60 and timings["first_s"] > 0 and timings["warm_s"] > 0


@pytest.mark.integration
def test_the_forked_worker_sends_its_llm_span_to_the_agent(local_stack, clean_test_agent, tmp_path):
    form = generate_form(3)
    with served_function("extract", function_environment(local_stack), tmp_path) as (url, _):
        response = requests.post(
            url,
            files={"image": ("form.png", form.image, form.content_type)},
            data={"model": "tesseract"},
            headers={"X-API-Key": API_KEY},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "succeeded" and body["span_id"]
        [span] = clean_test_agent.wait_for(lambda: clean_test_agent.llmobs_spans(span_id=body["span_id"]), timeout=20)
    assert span["meta"]["span"]["kind"] == "llm" and span["meta"]["model_name"] == "tesseract"
