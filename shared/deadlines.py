"""How long one call to Firestore, Cloud Storage or Pub/Sub may take, retries included.

The client libraries' own defaults retry for 60-600 s, longer than any caller waits and close to
the functions' timeouts (infra/functions.json: 60 s for feedback, 300-900 s for the others). A
dependency that is down or hung must instead answer 503 `dependency_unavailable` within
CALLER_PATIENCE_S, so each call gets a short per-attempt timeout (a hung server: the attempt
times out and is retried) inside a total deadline (a stopped one: refused connections are retried
until it runs out). What each call retries is unchanged (the libraries' own predicates), so
non-idempotent writes still are not retried on a timeout.

The numbers (seconds):
- CALLER_PATIENCE_S: the longest a client waits for an answer when a dependency is down; every
  worst case below fits inside it, with room for the rest of the request.
- FIRESTORE_ATTEMPT_S: one unary RPC (get, commit, begin). Firestore answers in tens of
  milliseconds, but a commit may wait on another transaction's locks (the emulator waits about
  2 s before it aborts one, and the transaction is then retried) and a commit is not retried on a
  timeout: 5 s leaves room for that, and a hung get still gets a second, short attempt.
- FIRESTORE_STREAM_ATTEMPT_S: one streamed read (a query, a count, a document get): gRPC's
  deadline covers the whole stream, so it gets the whole deadline. Our reads are pages of at most
  500 documents, which stream in well under a second; read a stream to the end before making
  other calls (a stream cut mid-way is not resumed, python-firestore#596: it raises).
- FIRESTORE_DEADLINE_S: all attempts of one call: two hung unary attempts, or refused ones retried
  0.1 s to 1 s apart (shared.storage.clients), which rides out a frontend restart. Measured here:
  stopped 5.4 s, hung 6.0 s to the 503 (5.0 s for a commit, which is not retried on a timeout).
- FIRESTORE_ROLLBACK_S: a transaction's rollback after a failure, one attempt: it only frees
  locks early (they expire anyway), so it must not add another deadline to a failed request.
- STORAGE_CONNECT_S, STORAGE_READ_S: requests' (connect, read) timeouts for one HTTP attempt; read
  is the longest wait for the next bytes, not for the whole object.
- STORAGE_DEADLINE_S: no new attempt starts after it (google-cloud-storage's backoff starts at
  1 s and doubles: 2-3 attempts when refused). An attempt that started in time may run its own
  timeouts, so the worst case is STORAGE_DEADLINE_S + STORAGE_CONNECT_S + STORAGE_READ_S.
  Measured here: stopped 1.7-2.7 s, hung 3.0 s to the 503.
- PUBSUB_ATTEMPT_S, PUBSUB_DEADLINE_S: one Publish RPC and all of them; an experiment whose shards
  could not be published stays queued (202), and the next scheduler tick publishes them. Measured
  here: the 202 after 5.6 s stopped, 6.1 s hung.
- PUBSUB_WAIT_S: how long publishing waits for every message's answer: past the deadline, so the
  batch's own error (not a wait timeout) decides.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

CALLER_PATIENCE_S = 10.0

FIRESTORE_ATTEMPT_S = 5.0
FIRESTORE_DEADLINE_S = 6.0
FIRESTORE_STREAM_ATTEMPT_S = FIRESTORE_DEADLINE_S
FIRESTORE_ROLLBACK_S = 1.0

STORAGE_CONNECT_S = 1.5
STORAGE_READ_S = 3.0
STORAGE_DEADLINE_S = 3.0

PUBSUB_ATTEMPT_S = 3.0
PUBSUB_DEADLINE_S = 6.0
PUBSUB_WAIT_S = PUBSUB_DEADLINE_S + 1.0


def worst_case_s() -> dict[str, float]:
    """The longest one call can take before it raises, by dependency (what the tests hold to)."""
    return {
        "firestore": FIRESTORE_DEADLINE_S + FIRESTORE_ROLLBACK_S,
        "storage": STORAGE_DEADLINE_S + STORAGE_CONNECT_S + STORAGE_READ_S,
        "pubsub": PUBSUB_WAIT_S,
    }


class AttemptTimeout:
    """A google.api_core timeout: each attempt gets `attempt_s`, or what is left of `deadline_s`
    when less, so the last attempt ends at the deadline.

    api_core's own TimeToDeadlineTimeout gives the first attempt the whole deadline, and once less
    than a second is left it gives an attempt the whole deadline again: a hung server would then
    hold a call for twice the deadline.
    """

    def __init__(self, attempt_s: float, deadline_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempt_s = attempt_s
        self.deadline_s = deadline_s
        self._clock = clock

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        started = self._clock()

        @functools.wraps(func)
        def with_timeout(*args: Any, **kwargs: Any) -> Any:
            left = self.deadline_s - (self._clock() - started)
            kwargs["timeout"] = max(min(self.attempt_s, left), 0.05)
            return func(*args, **kwargs)

        return with_timeout

    def __repr__(self) -> str:
        return f"AttemptTimeout(attempt_s={self.attempt_s}, deadline_s={self.deadline_s})"


def storage_retry() -> Any:
    """google-cloud-storage's retry (its retryable errors, connection errors and timeouts
    included), with our deadline."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(STORAGE_DEADLINE_S)


def storage_timeout() -> tuple[float, float]:
    """(connect, read) for one Cloud Storage HTTP attempt."""
    return (STORAGE_CONNECT_S, STORAGE_READ_S)


def pubsub_publish_options() -> Any:
    """PublisherOptions whose Publish retries what google-cloud-pubsub retries, within our deadline."""
    from google.api_core import exceptions
    from google.api_core import retry as retries
    from google.cloud.pubsub_v1 import types

    # The generated default's errors (publisher transports' base.py): a publish may be repeated,
    # and the shard worker takes a message delivered twice once.
    retry = retries.Retry(
        initial=0.1,
        maximum=1.0,
        multiplier=2.0,
        predicate=retries.if_exception_type(
            exceptions.Aborted,
            exceptions.Cancelled,
            exceptions.DeadlineExceeded,
            exceptions.InternalServerError,
            exceptions.ResourceExhausted,
            exceptions.ServiceUnavailable,
            exceptions.Unknown,
        ),
        timeout=PUBSUB_DEADLINE_S,
    )
    return types.PublisherOptions(retry=retry, timeout=AttemptTimeout(PUBSUB_ATTEMPT_S, PUBSUB_DEADLINE_S))
