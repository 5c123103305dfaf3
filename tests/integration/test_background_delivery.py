"""An extraction's evaluations go to Datadog after its answer (EVALUATION_DELIVERY=background), through
the real gateway process: staged and leased to the gateway's delivery thread in the record's write,
delivered and marked after the response, and with Datadog down given back pending for the resend,
which delivers each exactly once. `in_request` (the answer waits for Datadog) is kept as it was.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from infra.local.emulators import free_ports
from infra.local.test_agent import TestAgent
from shared.evaluation.sink import EvaluationBatch, SpanEvaluations
from shared.models import Evaluation
from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from shared.wiring.evaluations import evaluation_sink, resend_pending
from tests.conftest import TEST_API_KEY
from tests.integration import stored
from tests.integration.processes import start_gateway


@pytest.fixture(scope="module")
def gateway(local_stack, tmp_path_factory) -> Iterator[str]:
    process, url = start_gateway(tmp_path_factory.mktemp("gateway-background"), EVALUATION_DELIVERY="background")
    yield url
    process.stop()


@pytest.fixture(scope="module")
def gateway_in_request(local_stack, tmp_path_factory) -> Iterator[str]:
    process, url = start_gateway(tmp_path_factory.mktemp("gateway-in-request"), EVALUATION_DELIVERY="in_request")
    yield url
    process.stop()


@pytest.fixture(scope="module")
def gateway_without_datadog(local_stack, tmp_path_factory) -> Iterator[str]:
    [dead_port] = free_ports(1)  # nothing listens here: Datadog is "down"
    process, url = start_gateway(
        tmp_path_factory.mktemp("gateway-background-dd-down"),
        expect_healthy=False,
        EVALUATION_DELIVERY="background",
        DD_TRACE_AGENT_URL=f"http://127.0.0.1:{dead_port}",
    )
    yield url
    process.stop()


def extract(url: str, seed: int) -> dict:
    form = generate_form(seed)
    response = requests.post(
        f"{url}/extract",
        headers={"X-API-Key": TEST_API_KEY},
        files={"image": ("form.png", form.image, "image/png")},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    return response.json()


def entry(extraction_id: str) -> dict:
    snapshot = firestore_client().collection("llmobs_outbox").document(f"extraction~{extraction_id}").get()
    assert snapshot.exists, "the evaluations were not staged with the record"
    return snapshot.to_dict()


def received(agent: TestAgent) -> Counter[str]:
    return Counter(m["tag_map"].get("evaluation_id") for m in agent.evaluation_metrics())


def staged_ids(extraction_id: str) -> set[str]:
    return {d["evaluation_id"] for d in stored.outbox_documents(extraction_id)}


@pytest.mark.integration
def test_evaluations_are_delivered_and_marked_by_the_delivery_thread_after_the_answer(gateway, clean_test_agent):
    body = extract(gateway, 4101)

    ids = staged_ids(body["extraction_id"])
    assert ids and {e["label"] for e in body["evaluations"]} >= {i.split("-", 1)[1] for i in ids}
    delivered = clean_test_agent.wait_for(
        lambda: (lambda e: e if e["status"] == "delivered" else None)(entry(body["extraction_id"]))
    )
    # Leased to the gateway's delivery thread when staged, and the lease given back when marked.
    assert delivered["lease_owner"].endswith(":delivery") and delivered["lease_until"] is None
    assert delivered["attempts"] == 1
    counts = clean_test_agent.wait_for(lambda: (lambda c: c if ids <= set(c) else None)(received(clean_test_agent)))
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)
    spans = {m["span_id"] for m in clean_test_agent.evaluation_metrics() if m["tag_map"]["evaluation_id"] in ids}
    assert spans == {body["span_id"]}


@pytest.mark.integration
def test_with_datadog_down_the_thread_gives_them_back_pending_and_the_resend_delivers_each_once(
    gateway_without_datadog, test_agent
):
    body = extract(gateway_without_datadog, 4102)
    ids = staged_ids(body["extraction_id"])

    staged = entry(body["extraction_id"])
    assert staged["status"] == "pending" and staged["lease_owner"].endswith(":delivery")
    given_back = test_agent.wait_for(
        lambda: (lambda e: e if e["attempts"] >= 1 else None)(entry(body["extraction_id"])), timeout=30
    )
    assert given_back["status"] == "pending" and given_back["lease_until"] is None
    test_agent.clear()

    report = resend_pending()  # the test process reaches the session's (live) test agent

    assert report.delivered >= len(ids)
    counts = test_agent.wait_for(lambda: (lambda c: c if ids <= set(c) else None)(received(test_agent)))
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)
    assert entry(body["extraction_id"])["status"] == "delivered"


@pytest.mark.integration
def test_the_resend_leaves_a_batch_leased_to_a_delivery_thread(local_stack, test_agent):
    """Staged leased (as an extraction stages it), an entry is not the resend's until the lease is over."""
    sink = evaluation_sink()
    now = datetime.now(UTC)
    span = SpanEvaluations(
        [Evaluation(label="consistency", metric_type="categorical", value=True, evaluator_version="1")],
        id_prefix=f"leased-{uuid.uuid4().hex}",
        span_id="1234",
        trace_id="5678",
        tags={},
        created_at=now,
    )
    batch = sink.leased(
        EvaluationBatch.of(entry_id=f"test~{span.id_prefix}", source_kind="extraction", created_at=now, spans=[span])
    )
    reference = firestore_client().collection("llmobs_outbox").document(batch.entries[0].entry_id)
    write = firestore_client().batch()
    sink.stage(write, batch)
    write.commit()
    try:
        resend_pending()
        document = reference.get().to_dict()
    finally:
        reference.delete()  # never the resend's: its span is made up

    assert document["status"] == "pending" and document["attempts"] == 0
    assert document["lease_owner"] == batch.entries[0].lease_owner
    assert f"{span.id_prefix}-consistency" not in received(test_agent)


@pytest.mark.integration
def test_in_request_delivery_marks_them_before_the_answer(gateway_in_request, clean_test_agent):
    body = extract(gateway_in_request, 4104)

    marked = entry(body["extraction_id"])  # read at once: the answer waited for the intake and the mark

    assert marked["status"] == "delivered" and marked.get("lease_owner") is None
    ids = staged_ids(body["extraction_id"])
    counts = clean_test_agent.wait_for(lambda: (lambda c: c if ids <= set(c) else None)(received(clean_test_agent)))
    assert {i: counts[i] for i in ids} == dict.fromkeys(ids, 1)
