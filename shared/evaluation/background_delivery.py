"""Delivering an extraction's evaluations after its answer, on one thread per process.

The request stages its evaluations in the outbox, leased to this process (`lease_until`), in the
record's own write; then it hands the batch here and answers. The delivery thread takes whatever
batches are waiting, sends them in one flush, waits for the intake's outcome and marks them in
one batched write (the lease given back either way). Nothing is lost: what the intake did not
accept, or what this process never got to (killed, or starved of CPU between requests on Cloud
Functions, see the README's "Extract overhead"), is pending in the outbox and the resend routine
takes it once the lease is over. A batch whose lease is nearly over when its turn comes is left to
the resend, so the two never send the same entry.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from shared.models import OutboxEntry
from shared.observability import llmobs
from shared.observability.evaluation_delivery import deliver
from shared.ports.evaluations import EvaluationOutbox

logger = logging.getLogger(__name__)

BATCHES_PER_FLUSH = 200  # entries of a few evaluations each: `deliver` sends 500 a flush
LEASE_MARGIN_S = 15.0  # a batch with less lease than this left goes to the resend instead


class BackgroundDelivery:
    """The delivery thread of one process (started on first use; again in a forked child)."""

    def __init__(self, outbox: EvaluationOutbox, *, timeout_s: float, lease_s: float) -> None:
        self._outbox = outbox
        self._timeout_s = timeout_s
        self.lease_s = lease_s
        self._queue: queue.Queue[tuple[OutboxEntry, ...]] = queue.Queue()
        self._busy = 0  # batches taken off the queue and not yet marked
        self._idle = threading.Condition()
        self._pid = 0
        self._start_lock = threading.Lock()

    @property
    def owner(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}:delivery"

    def lease(self, entries: Sequence[OutboxEntry]) -> tuple[OutboxEntry, ...]:
        """The entries as staged for this thread: leased to it, so the resend leaves them alone."""
        until = datetime.now(UTC) + timedelta(seconds=self.lease_s)
        return tuple(entry.model_copy(update={"lease_until": until, "lease_owner": self.owner}) for entry in entries)

    def hand_over(self, entries: Sequence[OutboxEntry]) -> None:
        """Queue staged, leased entries for delivery; returns at once."""
        self._ensure_thread()
        with self._idle:
            self._busy += 1
        self._queue.put(tuple(entries))

    def wait_idle(self, timeout_s: float) -> bool:
        """True once everything handed over is delivered and marked (tests; a graceful stop)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout_s)

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._pid == os.getpid():
                return
            if self._pid:  # forked: the parent's queue and thread are not ours
                self._queue = queue.Queue()
                self._busy = 0
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="evaluation-delivery", daemon=True).start()

    def _run(self) -> None:
        while True:
            taken = [self._queue.get()]
            while len(taken) < BATCHES_PER_FLUSH:
                try:
                    taken.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._deliver([entry for entries in taken for entry in entries])
            except Exception:  # the thread must outlive any one failure; the outbox keeps the rest
                logger.warning("background evaluation delivery failed; left to the resend", exc_info=True)
            finally:
                with self._idle:
                    self._busy -= len(taken)
                    self._idle.notify_all()

    def _deliver(self, entries: list[OutboxEntry]) -> None:
        latest = datetime.now(UTC) + timedelta(seconds=LEASE_MARGIN_S)
        ours = [entry for entry in entries if entry.lease_until is None or entry.lease_until > latest]
        submissions = [submission for entry in ours for submission in entry.undelivered()]
        if not submissions:
            llmobs.flush()  # the requests' spans still go
            return
        accepted = deliver(submissions, timeout_s=self._timeout_s)
        # Every entry is written back: delivered, or pending with its lease given back to the resend.
        self._outbox.record_delivery(
            [(entry, accepted & {s.evaluation_id for s in entry.submissions}) for entry in ours]
        )
