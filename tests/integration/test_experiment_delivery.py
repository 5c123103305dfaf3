"""Every experiment runs on experiments-worker, inside a delivery, and survives its worker dying.

Real parts: the official Pub/Sub emulator carries the shards, Firestore holds runs and shards, the
gateway is a real process killed with SIGKILL. Only Gemini is the local stand-in (no Gemini can
be reached from here; in production the same adapter talks to it).
"""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
import uuid
from urllib.parse import urlparse

import requests

from shared.storage.clients import firestore_client
from shared.storage.shards import FirestoreShardRepository
from shared.synthetic.forms import generate_form
from tests.integration.builders import HEADERS, published_dataset, truth_responder
from tests.integration.conftest import function_client
from tests.integration.processes import start_gateway, start_shard_pipeline


def run_ids(experiment_id: str) -> list[str]:
    runs = firestore_client().collection("experiments").document(experiment_id).collection("runs")
    return [snapshot.id for snapshot in runs.select([]).stream()]


def a_24_run_experiment(dataset: str) -> dict:
    return {
        "name": "twenty-four runs",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "repetitions": 2,
        "concurrency": 2,
        "evaluators": ["vote_count_exact"],
    }


def test_the_answer_leaves_nothing_running_and_the_worker_alone_runs_the_experiment(
    datasets_client, experiments_client, gemini, configure, local_stack
):
    from google.cloud import pubsub_v1

    forms = [generate_form(700 + i) for i in range(12)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(truth_responder(truths))
    # A topic nobody is pushed from: whatever runs before the message is handed on ran in `experiments`.
    topic = f"shards-held-{uuid.uuid4().hex[:8]}"
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    publisher.create_topic(name=publisher.topic_path(local_stack.project, topic))
    subscription = subscriber.subscription_path(local_stack.project, topic + "-held")
    subscriber.create_subscription(name=subscription, topic=publisher.topic_path(local_stack.project, topic))
    configure(SHARDS_TOPIC=topic)
    threads_before = {thread.ident for thread in threading.enumerate()}

    started = experiments_client.post("/", json=a_24_run_experiment(dataset), headers=HEADERS)
    time.sleep(1.0)  # ample time for a thread launcher to have started runs; nothing may appear

    assert started.status_code == 202, started.json
    experiment_id = started.json["experiment_id"]
    status = experiments_client.get(f"/{experiment_id}", headers=HEADERS).json
    assert status["status"] == "queued" and status["shards"]["total"] == 1
    assert run_ids(experiment_id) == [] and gemini.generate_requests == []
    new_threads = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    assert not [name for name in new_threads if experiment_id in name], new_threads

    # The worker takes the delivery, as Pub/Sub hands it to the deployed experiments-worker.
    [received] = subscriber.pull(subscription=subscription, max_messages=1, timeout=30).received_messages
    envelope = {
        "message": {
            "data": base64.b64encode(received.message.data).decode(),
            "attributes": dict(received.message.attributes),
            "messageId": received.message.message_id,
        },
        "subscription": subscription,
    }
    delivered = function_client("experiments_worker").post("/", json=envelope)

    assert delivered.status_code == 200, delivered.data
    status = experiments_client.get(f"/{experiment_id}", headers=HEADERS).json
    assert status["status"] == "completed", status
    assert status["progress"] == {"done": 24, "total": 24, "failed": 0}
    assert sorted(run_ids(experiment_id)) == sorted(f"form-{i:03d}~flash~{r}" for i in range(12) for r in range(2))


def test_a_gateway_killed_mid_shard_is_finished_by_the_redelivery_each_run_once_without_resume(
    datasets_client, gemini, local_stack, tmp_path
):
    forms = [generate_form(800 + i) for i in range(12)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(truth_responder(truths))
    gemini.latency_s = 0.25  # long enough to kill the gateway half way
    # A short lease, so the redelivery may take over the dead worker's shard within seconds.
    lease = {"SHARD_LEASE_S": "6"}
    first, url, topic = start_shard_pipeline(tmp_path / "first", local_stack.project, **lease)
    port = urlparse(url).port
    try:
        started = requests.post(f"{url}/experiments", json=a_24_run_experiment(dataset), headers=HEADERS, timeout=30)
        assert started.status_code == 202, started.text
        experiment_id = started.json()["experiment_id"]
        deadline = time.monotonic() + 60
        while len(run_ids(experiment_id)) < 6:
            assert time.monotonic() < deadline, "no run was written"
            time.sleep(0.05)
        os.killpg(first.pgid, signal.SIGKILL)  # a crash, not a clean stop
        first.stop()
        written_before = set(run_ids(experiment_id))
        assert 0 < len(written_before) < 24

        # The same deployment comes back; nobody calls resume: Pub/Sub redelivers the shard.
        second, url = start_gateway(tmp_path / "second", port=port, SHARDS_TOPIC=topic, **lease)
        try:
            deadline = time.monotonic() + 120
            while (status := requests.get(f"{url}/experiments/{experiment_id}", headers=HEADERS, timeout=30).json())[
                "status"
            ] not in ("completed", "failed"):
                assert time.monotonic() < deadline, status
                time.sleep(0.2)
        finally:
            second.stop()
    finally:
        gemini.latency_s = 0.0

    assert status["status"] == "completed", status
    assert status["progress"] == {"done": 24, "total": 24, "failed": 0}
    ids = run_ids(experiment_id)
    assert len(ids) == len(set(ids)) == 24
    assert written_before <= set(ids)
    [shard] = FirestoreShardRepository(firestore_client()).all(experiment_id)
    assert shard.status == "completed" and shard.attempts >= 2  # taken again after the crash
