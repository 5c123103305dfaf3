"""Fan-out through the Pub/Sub emulator: shards pushed to the gateway's experiments-worker.

Real parts end to end: the gateway process serves every function, the official Pub/Sub emulator
pushes each shard to `/experiments-worker`, runs and shards live in the Firestore emulator. Only
Gemini is the local stand-in (no Gemini can be reached from here).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared.experiments.shards import ShardMessage, plan_shards
from shared.models import ExperimentProgress, ExperimentRecord, Variant
from shared.storage.clients import firestore_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.shards import FirestoreShardRepository
from shared.synthetic.forms import generate_form
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import HEADERS, large_published_dataset, published_dataset, truth_responder
from tests.integration.processes import redeliver, start_shard_pipeline


@pytest.fixture
def shard_gateway(local_stack, fake_gemini, tmp_path):
    """A gateway process whose experiments fan out in shards of 500 runs to its own topic."""
    process, url, topic = start_shard_pipeline(
        tmp_path, local_stack.project, SHARD_SIZE="500", SHARD_MAX_ATTEMPTS="2", MAX_CONCURRENT_SHARDS="4"
    )
    try:
        yield url, topic, process
    finally:
        process.stop()


def wait_finished(url: str, experiment_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = requests.get(f"{url}/experiments/{experiment_id}", headers=HEADERS, timeout=30).json()
        if status["status"] in ("completed", "failed"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.5)


def run_documents(experiment_id: str) -> list[str]:
    runs = firestore_client().collection("experiments").document(experiment_id).collection("runs")
    return [snapshot.id for snapshot in runs.select([]).stream()]


def test_a_2000_record_experiment_runs_in_shards_each_run_once_despite_a_redelivered_shard(
    datasets_client, gemini, shard_gateway
):
    url, topic, _ = shard_gateway
    forms = [generate_form(900 + i) for i in range(4)]
    dataset, form_of_entry = large_published_dataset(datasets_client, forms, 2000)
    # Its entries are read from the snapshot written as it was published, in chunks whose edges
    # fall inside shards: each shard reads only its own entries across them.
    version = firestore_client().collection("datasets").document(dataset).collection("versions").document("v1")
    assert len(version.get().get("snapshot")["chunks"]) >= 2
    wrong = forms[3].truth.model_dump()
    wrong["vote_results"][0]["vote_count"] += 7  # the stand-in misreads one form in four
    answers = {form.image: form.truth.model_dump() for form in forms[:3]} | {forms[3].image: wrong}
    calls: Counter[bytes] = Counter()
    lock = threading.Lock()

    def respond(request):
        with lock:
            calls[request.images[0].data] += 1
        return extraction_reply(answers[request.images[0].data])

    gemini.set_responder(respond)
    body = {
        "name": "two thousand",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "evaluators": ["vote_count_exact", "vote_count_accuracy"],
        "concurrency": 16,
    }
    started = requests.post(f"{url}/experiments", json=body, headers=HEADERS, timeout=60)
    assert started.status_code == 202, started.text
    experiment_id = started.json()["experiment_id"]
    shards = FirestoreShardRepository(firestore_client()).all(experiment_id)
    assert len(shards) == 4 and all(shard.published for shard in shards)

    # The same shard delivered a second time, as Pub/Sub may (at-least-once delivery).
    redeliver(topic, ShardMessage(experiment_id, 1))
    status = wait_finished(url, experiment_id)

    assert status["status"] == "completed", status
    assert status["progress"] == {"done": 2000, "total": 2000, "failed": 0}
    assert status["shards"] == {"total": 4, "pending": 0, "running": 0, "completed": 4, "failed": 0, "cancelled": 0}
    ids = run_documents(experiment_id)
    assert len(ids) == 2000 and set(ids) == {f"e{i:05d}~flash~0" for i in range(2000)}
    # Every run called the model exactly once, the redelivered shard included.
    assert sum(calls.values()) == 2000
    assert dict(calls) == {form.image: form_of_entry.count(i) for i, form in enumerate(forms)}
    exact = status["summary"]["flash"]["vote_count_exact"]
    misread = form_of_entry.count(3)
    assert exact["n"] == 2000 and exact["mean"] == pytest.approx(1 - misread / 2000)

    # A late redelivery of a finished shard changes nothing.
    redeliver(topic, ShardMessage(experiment_id, 0))
    time.sleep(2)
    assert sum(calls.values()) == 2000
    assert wait_finished(url, experiment_id)["progress"]["done"] == 2000


def test_a_shard_that_keeps_failing_is_reported_not_dropped(datasets_client, gemini, shard_gateway):
    url, topic, _ = shard_gateway
    dataset, _ = published_dataset(datasets_client, [generate_form(950 + i) for i in range(3)])
    # An experiment stored by an earlier release, naming an evaluator this release no longer has:
    # every delivery of its shard fails the same way.
    experiment = ExperimentRecord(
        experiment_id=f"stale-{uuid.uuid4().hex[:8]}",
        name="stale config",
        dataset_name=dataset,
        dataset_version="v1",
        variants=[Variant(name="flash", model="gemini-2.5-flash")],
        evaluators=[{"name": "retired_evaluator", "params": {}}],
        repetitions=1,
        concurrency=2,
        run_timeout_s=30,
        progress=ExperimentProgress(total=3),
        created_at=datetime.now(UTC),
    )
    shards = plan_shards(FirestoreDatasetRepository(firestore_client()), experiment, 500)
    experiment.shard_count = len(shards)
    FirestoreShardRepository(firestore_client()).create_experiment(experiment, shards)
    redeliver(topic, ShardMessage(experiment.experiment_id, 0))

    status = wait_finished(url, experiment.experiment_id, timeout=120)

    assert status["status"] == "failed"
    assert "1 of 1 shards failed" in status["status_reason"] and "retired_evaluator" in status["status_reason"]
    [shard] = FirestoreShardRepository(firestore_client()).all(experiment.experiment_id)
    assert shard.status == "failed" and shard.attempts == 2
    alerts = requests.get(
        f"{url}/experiments/alerts", params={"experiment_id": experiment.experiment_id}, headers=HEADERS, timeout=30
    ).json()["items"]
    assert [(alert["kind"], alert["details"]["shard"]) for alert in alerts] == [("shard_failed", 0)]

    # Once the cause is fixed, resume gives the failed shard its attempts back and republishes it.
    firestore_client().collection("experiments").document(experiment.experiment_id).update(
        {"evaluators": [{"name": "vote_count_exact", "params": {}}]}
    )
    resumed = requests.post(f"{url}/experiments/{experiment.experiment_id}/resume", headers=HEADERS, timeout=30)
    assert resumed.status_code == 202, resumed.text
    status = wait_finished(url, experiment.experiment_id, timeout=120)
    assert status["status"] == "completed" and status["progress"] == {"done": 3, "total": 3, "failed": 0}
    assert status["shards"]["completed"] == 1


def stored_with_a_running_shard(dataset: str, status: str, *, lease_until: datetime) -> ExperimentRecord:
    """An experiment of 3 runs in one shard, stored as a worker holding that shard left it."""
    experiment = ExperimentRecord(
        experiment_id=f"orphan-{uuid.uuid4().hex[:8]}",
        name="worker killed",
        dataset_name=dataset,
        dataset_version="v1",
        variants=[Variant(name="flash", model="gemini-2.5-flash")],
        evaluators=[{"name": "vote_count_exact", "params": {}}],
        repetitions=1,
        concurrency=2,
        run_timeout_s=30,
        progress=ExperimentProgress(total=3),
        status=status,
        created_at=datetime.now(UTC),
        shard_count=1,
    )
    [shard] = plan_shards(FirestoreDatasetRepository(firestore_client()), experiment, 500)
    running = shard.model_copy(
        update={"status": "running", "published": True, "attempts": 1, "lease_until": lease_until}
    )
    FirestoreShardRepository(firestore_client()).create_experiment(experiment, [running])
    return experiment


def test_a_shard_whose_worker_died_is_republished_by_the_scheduled_trigger(datasets_client, gemini, shard_gateway):
    url, _, _ = shard_gateway
    dataset, truths = published_dataset(datasets_client, [generate_form(970 + i) for i in range(3)])
    gemini.set_responder(truth_responder(truths))
    # A worker took the shard and was killed (its timeout, or out of memory): the lease has run out,
    # and its message is gone (acked, or dead-lettered after the busy redeliveries).
    experiment = stored_with_a_running_shard(dataset, "running", lease_until=datetime.now(UTC) - timedelta(seconds=5))

    triggered = requests.post(f"{url}/experiments-scheduled", headers=HEADERS, timeout=60)

    assert triggered.status_code == 200, triggered.text
    assert triggered.json()["recovered_shards"] == {experiment.experiment_id: [0]}
    status = wait_finished(url, experiment.experiment_id, timeout=120)
    assert status["status"] == "completed" and status["progress"] == {"done": 3, "total": 3, "failed": 0}


def test_a_cancelled_experiment_whose_worker_died_is_summarised_by_the_scheduled_trigger(
    datasets_client, shard_gateway
):
    url, _, _ = shard_gateway
    dataset, _ = published_dataset(datasets_client, [generate_form(980 + i) for i in range(3)])

    # Cancelled while its one shard ran; the worker was killed before it noticed: its lease ran out.
    orphan = stored_with_a_running_shard(dataset, "cancelled", lease_until=datetime.now(UTC) - timedelta(seconds=5))
    # Cancelled while its shard runs on a live worker (lease ahead): that worker summarises it.
    alive = stored_with_a_running_shard(dataset, "cancelled", lease_until=datetime.now(UTC) + timedelta(minutes=5))

    triggered = requests.post(f"{url}/experiments-scheduled", headers=HEADERS, timeout=60)

    assert triggered.status_code == 200, triggered.text
    summarised = triggered.json()["summarised_cancelled"]
    assert orphan.experiment_id in summarised and alive.experiment_id not in summarised
    status = requests.get(f"{url}/experiments/{orphan.experiment_id}", headers=HEADERS, timeout=30).json()
    assert status["status"] == "cancelled" and status["finished_at"], status
    assert status["status_reason"] == "cancelled: 0 of 3 runs had finished; the summary is of those"
    assert status["shards"]["cancelled"] == 1 and status["shards"]["running"] == 0, status["shards"]
    still = requests.get(f"{url}/experiments/{alive.experiment_id}", headers=HEADERS, timeout=30).json()
    assert still["finished_at"] is None and still["shards"]["running"] == 1, still

    again = requests.post(f"{url}/experiments-scheduled", headers=HEADERS, timeout=60)
    assert orphan.experiment_id not in again.json()["summarised_cancelled"]
