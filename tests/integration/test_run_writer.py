"""The run writer against the Firestore emulator: every run stored, and the experiment's heartbeat
written at most once per HEARTBEAT_EVERY_S by a shard's writer, not on every batch (every shard
writing the one experiment document every 2 s would pass Firestore's per-document write rate)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from shared.experiments import run_writer
from shared.experiments.run_writer import RunWriter
from shared.models import ExperimentProgress, ExperimentRecord, RunRecord, TokenUsage, Variant
from shared.storage.clients import firestore_client
from shared.storage.experiments import FirestoreExperimentRepository
from shared.storage.shards import FirestoreShardRepository
from shared.wiring.evaluations import evaluation_sink


def stored_experiment() -> ExperimentRecord:
    experiment = ExperimentRecord(
        experiment_id=f"writer-{uuid.uuid4().hex[:8]}",
        name="run writer",
        dataset_name="any",
        dataset_version="v1",
        variants=[Variant(name="flash", model="gemini-2.5-flash")],
        evaluators=[],
        repetitions=1,
        concurrency=1,
        run_timeout_s=30,
        progress=ExperimentProgress(total=6),
        status="running",
        created_at=datetime.now(UTC),
    )
    FirestoreShardRepository(firestore_client()).create_experiment(experiment, [])
    return experiment


def run(number: int) -> RunRecord:
    return RunRecord(
        run_id=f"e{number:03d}~flash~0",
        entry_id=f"e{number:03d}",
        variant="flash",
        repetition=0,
        status="succeeded",
        latency_ms=1.0,
        usage=TokenUsage(),
        evaluations=[],
        finished_at=datetime.now(UTC),
    )


def write_one_at_a_time(experiment: ExperimentRecord, numbers: range) -> list[datetime | None]:
    """Each run in a batch of its own; the experiment's heartbeat after each batch."""
    repository = FirestoreExperimentRepository(firestore_client())
    writer = RunWriter(repository, experiment, evaluation_sink(), batch_size=1, interval_s=60).start()
    heartbeats = []
    for number in numbers:
        writer.put(run(number))
        deadline = time.monotonic() + 15
        while repository.progress(experiment.experiment_id)[0] <= number and time.monotonic() < deadline:
            time.sleep(0.05)
        heartbeats.append(repository.get(experiment.experiment_id).heartbeat_at)
    writer.close()
    return heartbeats


def test_a_shards_writer_beats_the_experiments_heart_once_per_interval_and_stores_every_run(local_stack):
    experiment = stored_experiment()
    heartbeats = write_one_at_a_time(experiment, range(3))
    assert heartbeats[0] is not None  # the first batch says the experiment moves
    assert heartbeats[1] == heartbeats[0] == heartbeats[2]  # the next ones, within 30 s, leave it
    assert FirestoreExperimentRepository(firestore_client()).progress(experiment.experiment_id) == (3, 0)


def test_past_the_interval_the_next_batch_beats_again(local_stack, monkeypatch):
    monkeypatch.setattr(run_writer, "HEARTBEAT_EVERY_S", 0.0)
    experiment = stored_experiment()
    heartbeats = write_one_at_a_time(experiment, range(3))
    assert None not in heartbeats
    assert heartbeats[0] < heartbeats[1] < heartbeats[2]  # type: ignore[operator]
