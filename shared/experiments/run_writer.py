"""Runs stored and their evaluations sent in batches, on a thread of their own, off the event loop."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime

from shared.evaluation.sink import EvaluationBatch, EvaluationSink, SpanEvaluations
from shared.models import ExperimentRecord, RunRecord
from shared.ports.experiments import RunSink

logger = logging.getLogger(__name__)

# Runs per Firestore write: with their outbox entries and the heartbeat, inside a batch's 500 writes.
RUNS_PER_WRITE = 400
# Every shard's writer writing the one experiment document on each batch (every 2 s) would pass
# Firestore's guidance of about one sustained write a second per document at two shards, and a
# contended write fails its whole batch of runs. Staleness is judged over minutes
# (SHARD_LEASE_S, STALE_AFTER_S: 120 s), so a heartbeat every 30 s a shard is plenty.
HEARTBEAT_EVERY_S = 30.0


class RunWriter:
    """Persists runs and delivers their evaluations in batches, on its own thread."""

    def __init__(
        self,
        repository: RunSink,
        experiment: ExperimentRecord,
        evaluations: EvaluationSink,
        *,
        batch_size: int = 200,
        interval_s: float = 2.0,
    ) -> None:
        self._repository = repository
        self._evaluations = evaluations
        self._experiment = experiment
        self._batch_size = batch_size
        self._interval_s = interval_s
        # The event loop only appends (a deque's append is atomic and wakes no thread): a
        # queue.Queue woke this thread for every run, each time taking the GIL from the loop.
        # The thread looks every `interval_s`, or as soon as a batch is full. Each look that finds
        # runs costs a commit, a send and a delivery mark (about 15 ms of CPU): every 0.5 s, that was
        # a third of a run's CPU at concurrency 1. At most `batch_size` runs, or 2 s of them, wait
        # unstored (a worker that dies redoes them; their ids are deterministic).
        self._pending: deque[RunRecord] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._last_heartbeat: float | None = None
        self._thread = threading.Thread(target=self._loop, name=f"runs-{experiment.experiment_id}", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> RunWriter:
        self._thread.start()
        return self

    def put(self, run: RunRecord) -> None:
        self._pending.append(run)
        if len(self._pending) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            closing = self._closing  # read before taking the runs: no put() comes after close()
            runs = [self._pending.popleft() for _ in range(len(self._pending))]
            if runs:
                try:
                    self._flush(runs)
                except BaseException as error:  # surfaced by close(): the experiment is marked failed
                    logger.exception("could not persist %d runs", len(runs))
                    self.error = error
                    return
            if closing:
                return

    def _flush(self, runs: list[RunRecord]) -> None:
        # Runs and their evaluations staged in one write, sent after, the outcome marked (the
        # evaluation sink). A crash after the write leaves the evaluations pending for the resend
        # routine; a crash before it leaves no run written, and a resume redoes those runs.
        experiment_id = self._experiment.experiment_id
        for start in range(0, len(runs), RUNS_PER_WRITE):
            chunk = runs[start : start + RUNS_PER_WRITE]
            digest = hashlib.sha256(",".join(sorted(run.run_id for run in chunk)).encode()).hexdigest()[:16]
            evaluations = EvaluationBatch.of(
                entry_id=f"runs~{experiment_id}~{digest}",
                source_kind="experiment",
                created_at=datetime.now(UTC),
                spans=[self._span_evaluations(run) for run in chunk],
            )
            now = time.monotonic()
            heartbeat = self._last_heartbeat is None or now - self._last_heartbeat >= HEARTBEAT_EVERY_S
            self._repository.save_runs(
                experiment_id,
                chunk,
                also=lambda write, staged=evaluations: self._evaluations.stage(write, staged),
                heartbeat=heartbeat,
            )
            if heartbeat:
                self._last_heartbeat = now
            self._evaluations.submit(evaluations)

    def _span_evaluations(self, run: RunRecord) -> SpanEvaluations:
        variant = next(v for v in self._experiment.variants if v.name == run.variant)
        return SpanEvaluations(
            run.evaluations,
            id_prefix=f"{self._experiment.experiment_id}~{run.run_id}",
            span_id=run.span_id,
            trace_id=run.trace_id,
            tags={
                "experiment": self._experiment.name,
                "experiment_id": self._experiment.experiment_id,
                "created_by": self._experiment.created_by or "",
                "variant": run.variant,
                "prompt_version": variant.prompt_version,
                "evaluation_provider": "vote-extractor",
            },
            created_at=run.finished_at,
        )
