"""Cancelling an experiment, and faults with nothing lost, against the real emulators.

A dependency "down" is the client's view of a stopped emulator: its host points at a port where
nothing listens (a free port, closed), so every connection is refused, as after the emulator's
process exits. "Up again" points it back at the session's running emulator.
"""

from __future__ import annotations

import base64
import time

import pytest

from infra.local.emulators import free_ports
from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.fakes.gemini_server import delayed, extraction_reply
from tests.integration.builders import HEADERS, published_dataset

pytestmark = pytest.mark.integration


def dead_host() -> str:
    """host:port where nothing listens (as after the emulator's process stopped)."""
    return f"127.0.0.1:{free_ports(1)[0]}"


def wait_for(condition, *, timeout: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def experiment_body(dataset: str, **changes) -> dict:
    return {
        "name": "lifecycle",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "evaluators": ["vote_count_exact"],
        "concurrency": 1,
        **changes,
    }


def run_count(experiment_id: str) -> int:
    runs = firestore_client().collection("experiments").document(experiment_id).collection("runs")
    return runs.count().get()[0][0].value


# cancel


def test_a_cancelled_experiment_starts_no_new_run_keeps_what_finished_and_is_never_resumed(
    experiments_client, scheduled_client, datasets_client, gemini
):
    forms = [generate_form(1300 + i) for i in range(3)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(lambda request: delayed(extraction_reply(truths[request.images[0].data]), 0.3))
    started = experiments_client.post("/", json=experiment_body(dataset, repetitions=20), headers=HEADERS)
    assert started.status_code == 202, started.json
    experiment_id = started.json["experiment_id"]
    wait_for(lambda: run_count(experiment_id) >= 2)

    cancelled = experiments_client.post(f"/{experiment_id}/cancel", headers=HEADERS)

    assert cancelled.status_code in (200, 202), cancelled.json
    assert cancelled.json["status"] == "cancelled"
    final = wait_for(
        lambda: (body := experiments_client.get(f"/{experiment_id}", headers=HEADERS).json)["finished_at"] and body
    )
    assert final["status"] == "cancelled"
    assert final["status_reason"].startswith("cancelled:")
    assert 2 <= final["progress"]["done"] < final["progress"]["total"] == 60
    assert final["summary"]["flash"]  # computed from the runs that finished
    assert final["shards"]["running"] == final["shards"]["pending"] == 0
    settled = run_count(experiment_id)
    assert settled == final["progress"]["done"]
    time.sleep(3)  # longer than the runner's cancel poll: nothing more lands
    assert run_count(experiment_id) == settled
    recovered = scheduled_client.post("/", headers=HEADERS).json["recovered_shards"]
    assert experiment_id not in recovered
    assert experiments_client.post(f"/{experiment_id}/resume", headers=HEADERS).status_code == 409
    again = experiments_client.post(f"/{experiment_id}/cancel", headers=HEADERS)
    assert again.status_code == 200 and again.json["status"] == "cancelled"


def test_cancel_refuses_a_finished_experiment_and_unknown_or_hostile_ids(experiments_client, datasets_client, gemini):
    forms = [generate_form(1320)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(lambda request: extraction_reply(truths[request.images[0].data]))
    experiment_id = experiments_client.post("/", json=experiment_body(dataset), headers=HEADERS).json["experiment_id"]
    wait_for(lambda: experiments_client.get(f"/{experiment_id}", headers=HEADERS).json["status"] == "completed")

    finished = experiments_client.post(f"/{experiment_id}/cancel", headers=HEADERS)
    unknown = experiments_client.post("/no-such-experiment/cancel", headers=HEADERS)
    hostile = experiments_client.post("/..%2F..%2Fetc/cancel", headers=HEADERS)

    assert finished.status_code == 409
    assert finished.json["error"]["details"]["status"] == "completed"
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found"
    assert hostile.status_code == 404


# faults


def test_pubsub_down_when_an_experiment_starts_keeps_it_queued_and_the_next_trigger_publishes_it(
    experiments_client, scheduled_client, datasets_client, gemini, configure
):
    import os

    forms = [generate_form(1330 + i) for i in range(2)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(lambda request: extraction_reply(truths[request.images[0].data]))
    emulator = os.environ["PUBSUB_EMULATOR_HOST"]
    configure(PUBSUB_EMULATOR_HOST=dead_host())

    started = experiments_client.post("/", json=experiment_body(dataset), headers=HEADERS)

    assert started.status_code == 202, started.json  # stored: the experiment is not lost
    experiment_id = started.json["experiment_id"]
    status = experiments_client.get(f"/{experiment_id}", headers=HEADERS).json
    assert status["status"] == "queued" and status["shards"]["pending"] == status["shards"]["total"]
    shards = firestore_client().collection("experiments").document(experiment_id).collection("shards").stream()
    assert [s.get("published") for s in shards] == [False]

    configure(PUBSUB_EMULATOR_HOST=emulator)
    recovered = scheduled_client.post("/", headers=HEADERS).json["recovered_shards"]

    assert recovered[experiment_id] == [0]  # at once, not after a quiet period
    done = wait_for(
        lambda: (
            (body := experiments_client.get(f"/{experiment_id}", headers=HEADERS).json)["status"] == "completed"
            and body
        )
    )
    assert done["progress"] == {"done": 2, "total": 2, "failed": 0}


def extraction_count() -> int:
    return firestore_client().collection("extractions").count().get()[0][0].value


def test_storage_down_during_an_upload_answers_503_and_stores_no_record(extract_client, gemini, configure):
    import os

    form = generate_form(1340)
    gemini.set_responder(lambda request: extraction_reply(form.truth.model_dump()))
    before = extraction_count()
    emulator = os.environ["STORAGE_EMULATOR_HOST"]
    configure(STORAGE_EMULATOR_HOST=f"http://{dead_host()}")
    body = {"image_base64": base64.b64encode(form.image).decode(), "model": "gemini-2.5-flash"}

    down = extract_client.post("/", json=body, headers=HEADERS)

    assert down.status_code == 503, down.json
    assert down.json["error"]["code"] == "dependency_unavailable"
    configure(STORAGE_EMULATOR_HOST=emulator)
    assert extraction_count() == before  # no record pointing at an image that was never stored
    again = extract_client.post("/", json=body, headers=HEADERS)
    assert again.status_code == 200, again.json
    assert extraction_count() == before + 1


def test_firestore_down_during_a_request_answers_503_and_the_repeat_after_it_is_back_succeeds_once(
    extract_client, feedback_client, gemini, configure
):
    import os

    form = generate_form(1350)
    gemini.set_responder(lambda request: extraction_reply(form.truth.model_dump()))
    body = {"image_base64": base64.b64encode(form.image).decode(), "model": "gemini-2.5-flash"}
    extraction = extract_client.post("/", json=body, headers=HEADERS).json
    feedback = {
        "span_id": extraction["span_id"],
        "trace_id": extraction["trace_id"],
        "feedback_type": "thumbs_up",
        "quality_score": 5,
        "feedback_id": f"fault-{extraction['extraction_id']}",
    }
    emulator = os.environ["FIRESTORE_EMULATOR_HOST"]
    configure(FIRESTORE_EMULATOR_HOST=dead_host())

    down = feedback_client.post("/", json=feedback, headers=HEADERS)

    assert down.status_code == 503, down.json
    assert down.json["error"]["code"] == "dependency_unavailable"
    configure(FIRESTORE_EMULATOR_HOST=emulator)
    stored = firestore_client().collection("feedback").document(feedback["feedback_id"]).get()
    assert not stored.exists  # nothing half-written
    first = feedback_client.post("/", json=feedback, headers=HEADERS)
    repeat = feedback_client.post("/", json=feedback, headers=HEADERS)
    assert first.status_code == 201, first.json
    assert repeat.status_code == 200  # the same feedback, recorded once
    record = extract_client.get(f"/{extraction['extraction_id']}", headers=HEADERS).json
    assert record["feedback_summary"]["thumbs_up"] == 1
