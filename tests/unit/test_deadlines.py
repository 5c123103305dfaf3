"""The bounded waits (shared/deadlines.py): every worst case fits the caller and every function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import deadlines
from shared.deadlines import CALLER_PATIENCE_S, AttemptTimeout, worst_case_s

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_every_worst_case_fits_inside_the_callers_patience_with_room_for_the_rest_of_the_request():
    assert {name: seconds for name, seconds in worst_case_s().items() if seconds > CALLER_PATIENCE_S - 1.5} == {}


def test_every_worst_case_fits_inside_every_functions_timeout():
    functions = json.loads((ROOT / "infra" / "functions.json").read_text())["functions"]
    shortest = min(function["timeout_s"] for function in functions)
    assert max(worst_case_s().values()) < shortest / 5


def test_an_attempt_is_never_longer_than_the_deadline_of_its_call():
    assert deadlines.FIRESTORE_ATTEMPT_S < deadlines.FIRESTORE_DEADLINE_S
    assert deadlines.FIRESTORE_STREAM_ATTEMPT_S <= deadlines.FIRESTORE_DEADLINE_S
    assert deadlines.PUBSUB_ATTEMPT_S < deadlines.PUBSUB_DEADLINE_S < deadlines.PUBSUB_WAIT_S


def test_each_attempt_gets_the_attempt_timeout_until_less_than_that_is_left_of_the_deadline():
    clock = FakeClock()
    timeouts: list[float] = []
    call = AttemptTimeout(3.0, 7.0, clock=clock)(lambda *, timeout: timeouts.append(timeout))

    for elapsed in (0.0, 3.1, 6.2, 6.99, 9.0):
        clock.now = 100.0 + elapsed
        call()

    assert timeouts == pytest.approx([3.0, 3.0, 0.8, 0.05, 0.05])


def test_the_deadline_starts_when_the_call_starts_not_when_the_policy_was_made():
    clock = FakeClock()
    policy = AttemptTimeout(3.0, 7.0, clock=clock)
    clock.now += 60.0
    timeouts: list[float] = []

    policy(lambda *, timeout: timeouts.append(timeout))()

    assert timeouts == [3.0]


def test_storage_calls_retry_what_google_cloud_storage_retries_within_our_deadline():
    import requests
    from google.api_core import exceptions

    retry = deadlines.storage_retry()

    assert retry.timeout == deadlines.STORAGE_DEADLINE_S
    assert retry._predicate(requests.exceptions.ConnectionError())
    assert retry._predicate(requests.exceptions.ReadTimeout())
    assert retry._predicate(exceptions.ServiceUnavailable("down"))
    assert not retry._predicate(exceptions.PreconditionFailed("exists"))
    assert deadlines.storage_timeout() == (deadlines.STORAGE_CONNECT_S, deadlines.STORAGE_READ_S)


def test_publish_retries_transient_errors_within_our_deadline_and_times_each_attempt():
    from google.api_core import exceptions

    options = deadlines.pubsub_publish_options()

    assert options.retry.timeout == deadlines.PUBSUB_DEADLINE_S
    assert options.retry._predicate(exceptions.ServiceUnavailable("down"))
    assert options.retry._predicate(exceptions.DeadlineExceeded("hung"))
    assert not options.retry._predicate(exceptions.NotFound("no topic"))
    assert isinstance(options.timeout, AttemptTimeout)
    assert options.timeout.deadline_s == deadlines.PUBSUB_DEADLINE_S


def test_every_firestore_rpc_we_make_is_bounded_and_keeps_what_it_retries(monkeypatch):
    from google.api_core import exceptions
    from google.cloud import firestore

    from shared.storage.clients import BOUNDED_FIRESTORE_RPCS, STREAMED_FIRESTORE_RPCS, bound_firestore_calls

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # never contacted
    client = firestore.Client(project="deadlines-unit")

    bound_firestore_calls(client)

    transport = client._firestore_api._transport
    methods = {name: transport._wrapped_methods[getattr(transport, name)] for name in BOUNDED_FIRESTORE_RPCS}
    assert {name: m._retry.timeout for name, m in methods.items()} == dict.fromkeys(
        BOUNDED_FIRESTORE_RPCS, deadlines.FIRESTORE_DEADLINE_S
    )
    assert {name: m._timeout.attempt_s for name, m in methods.items()} == {
        name: deadlines.FIRESTORE_STREAM_ATTEMPT_S if name in STREAMED_FIRESTORE_RPCS else deadlines.FIRESTORE_ATTEMPT_S
        for name in BOUNDED_FIRESTORE_RPCS
    }
    # A commit may have landed when it timed out: retried when refused, never on a timeout.
    assert methods["commit"]._retry._predicate(exceptions.ServiceUnavailable("refused"))
    assert not methods["commit"]._retry._predicate(exceptions.DeadlineExceeded("hung"))
    assert methods["get_document"]._retry._predicate(exceptions.DeadlineExceeded("hung"))
    rollback = transport._wrapped_methods[transport.rollback]
    assert (rollback._retry, rollback._timeout) == (None, deadlines.FIRESTORE_ROLLBACK_S)
