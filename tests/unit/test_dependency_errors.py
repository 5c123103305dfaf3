"""A dependency that could not be reached answers 503 `dependency_unavailable`, however it surfaced."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions
from google.auth.exceptions import TransportError

from shared.errors import DependencyUnavailable, error_body, unavailable


@pytest.mark.parametrize(
    "error",
    [
        exceptions.RetryError("Timeout of 6.0s exceeded", cause=exceptions.ServiceUnavailable("refused")),
        exceptions.DeadlineExceeded("hung"),
        exceptions.ServiceUnavailable("refused"),
        requests.exceptions.ConnectionError("refused"),
        requests.exceptions.ReadTimeout("hung"),
        TransportError("metadata server unreachable"),
        ConnectionRefusedError(),
        TimeoutError(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_unreachable_dependency_is_503(error):
    body, status = error_body(error)

    assert status == 503
    assert body["error"]["code"] == "dependency_unavailable"
    assert body["error"]["details"] == {"dependency_error": type(error).__name__}


def raised_while_handling(library_error: Exception, cause: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception:
            raise library_error  # noqa: B904 (what the client library does: no `from`)
    except Exception as raised:
        return raised


def test_a_transaction_whose_begin_failed_is_503_not_its_rollbacks_value_error():
    # firestore's @transactional rolls back on any error; with no transaction begun, the rollback
    # raises ValueError while handling the RetryError.
    error = raised_while_handling(
        ValueError("The transaction has no transaction ID, so it cannot be rolled back."),
        exceptions.RetryError("Timeout of 6.0s exceeded", cause=None),
    )

    down = unavailable(error)

    assert isinstance(down, DependencyUnavailable)
    assert down.details == {"dependency_error": "RetryError"}


def test_a_query_stream_cut_mid_way_is_503_not_the_librarys_attribute_error():
    error = raised_while_handling(
        AttributeError("'_UnaryStreamMultiCallable' object has no attribute '_retry'"),
        exceptions.DeadlineExceeded("Deadline Exceeded"),
    )

    assert error_body(error)[1] == 503


@pytest.mark.parametrize(
    "error",
    [ValueError("Failed to commit transaction in 5 attempts."), exceptions.Aborted("contention"), KeyError("x")],
    ids=lambda error: type(error).__name__,
)
def test_other_errors_are_not_dependency_failures(error):
    assert unavailable(error) is None
    assert error_body(error)[1] == 500


def test_an_error_chain_that_loops_ends():
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first

    assert unavailable(first) is None
