"""A dependency that is down answers within the caller's patience (shared/deadlines.py), against
the real emulators.

"Stopped": the client points at a port where nothing listens (connections refused, as after the
emulator's process exits). "Hung": the session's emulator is paused with SIGSTOP (connections
open, nothing answers, as a stuck server or a partition looks) and continued afterwards. Each
test times the failing request, checks that nothing was half-written, and that the repeat once
the dependency is back succeeds once.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time

import pytest

from infra.local.emulators import FIRESTORE, GCS, PUBSUB
from shared.deadlines import CALLER_PATIENCE_S
from shared.storage.clients import bound_firestore_calls, firestore_client
from shared.synthetic.forms import generate_form
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import HEADERS, published_dataset
from tests.integration.test_lifecycle_faults import dead_host, experiment_body, wait_for

pytestmark = pytest.mark.integration

FAULTS = ["stopped", "hung"]


def timed(request):
    started = time.monotonic()
    response = request()
    return response, time.monotonic() - started


def assert_dependency_unavailable(response, elapsed: float) -> None:
    assert response.status_code == 503, response.json
    assert response.json["error"]["code"] == "dependency_unavailable"
    assert response.json["error"]["message"]
    assert elapsed < CALLER_PATIENCE_S, f"answered after {elapsed:.1f} s"


def count(collection: str) -> int:
    return firestore_client().collection(collection).count().get()[0][0].value


def extract_body(seed: int, gemini) -> dict:
    form = generate_form(seed)
    gemini.set_responder(lambda request: extraction_reply(form.truth.model_dump()))
    return {"image_base64": base64.b64encode(form.image).decode(), "model": "gemini-2.5-flash"}


# Firestore


@pytest.mark.parametrize("fault", FAULTS)
def test_firestore_down_during_feedback_answers_503_in_time_and_the_repeat_records_it_once(
    fault, extract_client, feedback_client, gemini, configure, emulator_pause
):
    extraction = extract_client.post("/", json=extract_body(1400 + FAULTS.index(fault), gemini), headers=HEADERS).json
    feedback = {
        "span_id": extraction["span_id"],
        "trace_id": extraction["trace_id"],
        "feedback_type": "thumbs_up",
        "quality_score": 5,
        "feedback_id": f"{fault}-{extraction['extraction_id']}",
    }
    emulator = os.environ["FIRESTORE_EMULATOR_HOST"]
    if fault == "stopped":
        configure(FIRESTORE_EMULATOR_HOST=dead_host())
    else:
        emulator_pause.pause(FIRESTORE)

    try:
        down, elapsed = timed(lambda: feedback_client.post("/", json=feedback, headers=HEADERS))
    finally:
        configure(FIRESTORE_EMULATOR_HOST=emulator)
        emulator_pause.resume_all()

    assert_dependency_unavailable(down, elapsed)
    assert not firestore_client().collection("feedback").document(feedback["feedback_id"]).get().exists
    first = feedback_client.post("/", json=feedback, headers=HEADERS)
    repeat = feedback_client.post("/", json=feedback, headers=HEADERS)
    assert first.status_code == 201, first.json
    assert repeat.status_code == 200  # the same feedback, recorded once
    record = extract_client.get(f"/{extraction['extraction_id']}", headers=HEADERS).json
    assert record["feedback_summary"]["thumbs_up"] == 1


def test_firestore_hung_while_the_model_reads_answers_503_in_time_and_the_keyed_repeat_makes_one_extraction(
    extract_client, gemini, emulator_pause
):
    """A commit sent to a hung Firestore may still be applied once it wakes: the client cannot know
    (gRPC's DEADLINE_EXCEEDED says the call may have completed). So a 503 promises a whole record
    or none, and the client's repeat under its Idempotency-Key makes exactly one."""
    form = generate_form(1410)
    hung_at: list[float] = []

    def pause_then_answer(request):
        if not hung_at:
            emulator_pause.pause(FIRESTORE)  # mid-request: the image is stored, the record is next
            hung_at.append(time.monotonic())
        return extraction_reply(form.truth.model_dump())

    body = {"image_base64": base64.b64encode(form.image).decode(), "model": "gemini-2.5-flash"}
    keyed = {**HEADERS, "Idempotency-Key": f"hung-{time.time_ns()}"}
    extractions, review = count("extractions"), count("review_items")
    gemini.set_responder(pause_then_answer)

    try:
        down = extract_client.post("/", json=body, headers=keyed)
        answered_at = time.monotonic()
    finally:
        emulator_pause.resume_all()

    # Timed from the hang: what came before it (the model's answer) is not the dependency's wait.
    assert_dependency_unavailable(down, answered_at - hung_at[0])
    time.sleep(1)  # a commit the paused emulator received late lands by now
    landed = count("extractions") - extractions
    assert landed in (0, 1)
    assert count("review_items") - review <= landed  # nothing half-written: the item only with its record
    gemini.set_responder(lambda request: extraction_reply(form.truth.model_dump()))
    again = extract_client.post("/", json=body, headers=keyed)
    assert again.status_code == 200, again.json
    assert (again.headers.get("Idempotent-Replayed") == "true") == bool(landed)
    assert count("extractions") == extractions + 1
    record = firestore_client().collection("extractions").document(again.json["extraction_id"]).get()
    assert record.exists
    outbox = firestore_client().collection("llmobs_outbox").document(f"extraction~{again.json['extraction_id']}")
    assert outbox.get().exists  # its evaluations bound for Datadog, written with it


def test_a_contended_transaction_is_still_retried_within_the_bounded_policy(local_stack):
    from google.cloud import firestore

    def bounded_client() -> firestore.Client:
        client = firestore.Client(project=local_stack.project)
        bound_firestore_calls(client)
        return client

    path = f"deadlines/contended-{time.time_ns()}"
    bounded_client().document(path).set({"n": 0})
    holding = threading.Event()
    retried = threading.Event()
    reads: list[int] = []

    class Release(Exception):
        pass

    def hold_the_document() -> None:
        # Another transaction holds what it read until the bumping one has been aborted and retried.
        # (Two transactions that both write deadlock symmetrically in the emulator: both time out on
        # the lock at once on every attempt, a livelock of the emulator rather than of the policy.)
        client = bounded_client()

        @firestore.transactional
        def read_and_wait(transaction: firestore.Transaction) -> None:
            client.document(path).get(transaction=transaction)
            holding.set()
            retried.wait(timeout=30)
            raise Release  # rolls back: the lock goes

        with contextlib.suppress(Release):
            read_and_wait(client.transaction())

    client = bounded_client()
    reference = client.document(path)

    @firestore.transactional
    def add_one(transaction: firestore.Transaction) -> None:
        value = reference.get(transaction=transaction).get("n")
        reads.append(value)
        if len(reads) > 1:
            retried.set()
        transaction.update(reference, {"n": value + 1})

    holder = threading.Thread(target=hold_the_document)
    holder.start()
    assert holding.wait(timeout=10)
    try:
        add_one(client.transaction())
    finally:
        retried.set()
        holder.join(timeout=30)

    assert len(reads) >= 2, reads  # aborted on the held lock, and retried
    assert bounded_client().document(path).get().get("n") == 1


# Cloud Storage


@pytest.mark.parametrize("fault", FAULTS)
def test_storage_down_during_an_upload_answers_503_in_time_and_the_repeat_stores_one_record(
    fault, extract_client, gemini, configure, emulator_pause
):
    body = extract_body(1420 + FAULTS.index(fault), gemini)
    before = count("extractions")
    emulator = os.environ["STORAGE_EMULATOR_HOST"]
    if fault == "stopped":
        configure(STORAGE_EMULATOR_HOST=f"http://{dead_host()}")
    else:
        emulator_pause.pause(GCS)

    try:
        down, elapsed = timed(lambda: extract_client.post("/", json=body, headers=HEADERS))
    finally:
        configure(STORAGE_EMULATOR_HOST=emulator)
        emulator_pause.resume_all()

    assert_dependency_unavailable(down, elapsed)
    assert count("extractions") == before  # no record pointing at an image that was never stored
    again = extract_client.post("/", json=body, headers=HEADERS)
    assert again.status_code == 200, again.json
    assert count("extractions") == before + 1
    image = extract_client.get(f"/{again.json['extraction_id']}/image", headers=HEADERS)
    assert image.status_code == 200 and image.data == base64.b64decode(body["image_base64"])


# Pub/Sub


@pytest.mark.parametrize("fault", FAULTS)
def test_pubsub_down_when_an_experiment_starts_answers_queued_in_time_and_recovery_runs_it_once(
    fault, experiments_client, scheduled_client, datasets_client, gemini, configure, emulator_pause
):
    forms = [generate_form(1430 + 2 * FAULTS.index(fault) + i) for i in range(2)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(lambda request: extraction_reply(truths[request.images[0].data]))
    emulator = os.environ["PUBSUB_EMULATOR_HOST"]
    if fault == "stopped":
        configure(PUBSUB_EMULATOR_HOST=dead_host())
    else:
        emulator_pause.pause(PUBSUB)

    try:
        started, elapsed = timed(lambda: experiments_client.post("/", json=experiment_body(dataset), headers=HEADERS))
        status = experiments_client.get(f"/{started.json.get('experiment_id')}", headers=HEADERS).json
    finally:
        configure(PUBSUB_EMULATOR_HOST=emulator)
        emulator_pause.resume_all()

    assert started.status_code == 202, started.json  # stored, not lost: queued for the next trigger
    assert elapsed < CALLER_PATIENCE_S, f"answered after {elapsed:.1f} s"
    experiment_id = started.json["experiment_id"]
    assert status["status"] == "queued" and status["shards"]["pending"] == status["shards"]["total"]
    recovered = scheduled_client.post("/", headers=HEADERS).json["recovered_shards"]
    assert recovered[experiment_id] == [0]
    done = wait_for(
        lambda: (
            (body := experiments_client.get(f"/{experiment_id}", headers=HEADERS).json)["status"] == "completed"
            and body
        )
    )
    assert done["progress"] == {"done": 2, "total": 2, "failed": 0}
    runs = firestore_client().collection("experiments").document(experiment_id).collection("runs")
    assert runs.count().get()[0][0].value == 2  # each run once, however often its shard arrived
    assert experiment_id not in scheduled_client.post("/", headers=HEADERS).json["recovered_shards"]
