"""A Datadog outage loses nothing: requests succeed, and the resend routine delivers each pending
evaluation exactly once when Datadog is back (issue 3's acceptance, with the real test agent)."""

from __future__ import annotations

import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from infra.local.test_agent import TestAgent
from shared.synthetic.forms import generate_form
from shared.wiring.evaluations import evaluation_sink, resend_pending
from tests.conftest import TEST_API_KEY
from tests.integration import stored

HEADERS = {"X-API-Key": TEST_API_KEY}


def delivered_ids(agent: TestAgent) -> Counter[str]:
    return Counter(m["tag_map"].get("evaluation_id") for m in agent.evaluation_metrics())


def test_outage_then_resend_delivers_every_pending_evaluation_exactly_once(
    extract_client, feedback_client, test_agent, test_agent_switch
):
    form = generate_form(71)
    test_agent_switch.stop()

    extraction = extract_client.post(
        "/", data={"image": (io.BytesIO(form.image), "f.png")}, headers=HEADERS, content_type="multipart/form-data"
    )
    feedback = feedback_client.post(
        "/",
        json={
            "span_id": extraction.json["span_id"],
            "trace_id": extraction.json["trace_id"],
            "feedback_type": "thumbs_down",
            "quality_score": 1,
            "comment": "sent while Datadog was down",
        },
        headers=HEADERS,
    )

    assert extraction.status_code == 200 and feedback.status_code == 201
    pending = stored.outbox_documents(extraction.json["extraction_id"]) + stored.outbox_documents(
        feedback.json["feedback_id"]
    )
    assert pending and {d["status"] for d in pending} == {"pending"}
    ids = {d["evaluation_id"] for d in pending}
    # The extraction's delivery thread tried after the answer and gave its lease back to the resend.
    assert evaluation_sink().wait_for_deliveries(timeout_s=30)

    test_agent_switch.start()
    test_agent.clear()
    # Two resends at once (two scheduler triggers): leases keep them from sending one evaluation twice.
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: resend_pending(), range(2)))
    again = resend_pending()

    assert sum(r.delivered for r in reports) >= len(ids)
    assert again.claimed == 0
    counts = test_agent.wait_for(lambda: (lambda c: c if ids <= set(c) else None)(delivered_ids(test_agent)))
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)
    assert {d["status"] for d in stored.outbox_documents(feedback.json["feedback_id"])} == {"delivered"}
    spans = {m["span_id"] for m in test_agent.evaluation_metrics() if m["tag_map"].get("evaluation_id") in ids}
    assert spans == {extraction.json["span_id"]}


def test_an_experiment_run_during_an_outage_has_its_evaluations_resent(
    datasets_client, experiments_client, gemini, test_agent, test_agent_switch
):
    from tests.integration.builders import published_dataset, truth_responder
    from tests.integration.test_experiments_flow import wait_done

    dataset, truths = published_dataset(datasets_client, [generate_form(73 + i) for i in range(3)])
    gemini.set_responder(truth_responder(truths))
    test_agent_switch.stop()
    started = experiments_client.post(
        "/",
        json={
            "name": "during an outage",
            "dataset": {"name": dataset, "version": "v1"},
            "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
            "evaluators": ["vote_count_exact", "candidate_f1"],
        },
        headers=HEADERS,
    )
    experiment_id = started.json["experiment_id"]
    assert wait_done(experiments_client, experiment_id)["status"] == "completed"
    pending = [d for d in stored.all_outbox_documents() if d["source_id"].startswith(f"{experiment_id}~")]
    assert len(pending) == 6 and {d["status"] for d in pending} == {"pending"}
    runs = experiments_client.get(f"/{experiment_id}/results", headers=HEADERS).json["items"]

    test_agent_switch.start()
    test_agent.clear()
    report = resend_pending()

    ids = {d["evaluation_id"] for d in pending}
    assert report.delivered == 6
    counts = test_agent.wait_for(lambda: (lambda c: c if ids <= set(c) else None)(delivered_ids(test_agent)))
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)
    spans = {m["span_id"] for m in test_agent.evaluation_metrics() if m["tag_map"].get("evaluation_id") in ids}
    assert spans == {run["span_id"] for run in runs}
