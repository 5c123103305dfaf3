"""Google Cloud clients, built once per instance (they hold connection pools).

Every Firestore call made through `firestore_client()` is bounded by `shared.deadlines`: the
high-level calls (get, set, create, commit, stream, transactions, counts) pass the generated
default retry and timeout down to the RPC, so those defaults are replaced on the client's own
transport, once, when it is built. Cloud Storage calls pass theirs per call (`shared.storage.images`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from shared.config import get_settings
from shared.deadlines import (
    FIRESTORE_ATTEMPT_S,
    FIRESTORE_DEADLINE_S,
    FIRESTORE_ROLLBACK_S,
    FIRESTORE_STREAM_ATTEMPT_S,
    AttemptTimeout,
)

if TYPE_CHECKING:
    from google.cloud import firestore, storage  # type: ignore[attr-defined]

# The RPCs the client library makes for us. Not bounded: Listen and Write, long-lived streams
# (snapshot listeners, the streaming writer) that we do not use and a short deadline would cut.
STREAMED_FIRESTORE_RPCS = ("batch_get_documents", "run_query", "run_aggregation_query", "partition_query")
BOUNDED_FIRESTORE_RPCS = (
    *STREAMED_FIRESTORE_RPCS,
    "get_document",
    "list_documents",
    "update_document",
    "delete_document",
    "begin_transaction",
    "commit",
    "list_collection_ids",
    "batch_write",
    "create_document",
)


def preload_client_libraries(*, storage: bool) -> None:
    """Import the client libraries at instance start (0.2 s for Firestore, 0.1 s more for Cloud
    Storage here), so the first request only builds the clients. The clients themselves are built in
    the request: functions-framework imports `main.py` in gunicorn's master before it forks the
    worker, and a gRPC channel made before a fork is not usable after it."""
    import google.cloud.firestore  # noqa: F401

    if storage:
        import google.auth.credentials  # noqa: F401
        import google.cloud.storage  # noqa: F401


@lru_cache(maxsize=1)
def firestore_client() -> firestore.Client:
    from google.cloud import firestore

    settings = get_settings()
    client = firestore.Client(project=settings.gcp_project, database=settings.firestore_database)
    bound_firestore_calls(client)
    return client


def bound_firestore_calls(client: firestore.Client) -> None:
    """Give every RPC of `client` our attempt timeout and total deadline, keeping what each one
    retries (commit, for one, is not retried on a timeout: a write may have landed).

    google-cloud-firestore has no client-level retry setting (python-firestore#25): the defaults
    live in the transport's table of wrapped methods, which the GAPIC client reads on every call.
    """
    transport = client._firestore_api._transport  # builds the GAPIC client and its channel
    table = transport._wrapped_methods
    for name in (*BOUNDED_FIRESTORE_RPCS, "rollback"):
        method = table[getattr(transport, name)]
        if not (hasattr(method, "_retry") and hasattr(method, "_timeout")):  # a library update moved them
            raise RuntimeError(
                f"google-cloud-firestore's {name} is not the wrapped method shared.storage.clients bounds"
            )
        if name == "rollback":
            method._retry, method._timeout = None, FIRESTORE_ROLLBACK_S
        else:
            method._retry = _bounded_retry(method._retry)
            attempt_s = FIRESTORE_STREAM_ATTEMPT_S if name in STREAMED_FIRESTORE_RPCS else FIRESTORE_ATTEMPT_S
            method._timeout = AttemptTimeout(attempt_s, FIRESTORE_DEADLINE_S)


def _bounded_retry(retry: Any) -> Any:
    if retry is None:
        return None
    # Same errors, same backoff shape; a cap of 1 s between attempts so a short outage is retried
    # a few times inside the deadline rather than once.
    return retry.with_timeout(FIRESTORE_DEADLINE_S).with_delay(initial=0.1, maximum=1.0, multiplier=1.3)


@lru_cache(maxsize=1)
def storage_client() -> storage.Client:
    from google.cloud import storage  # type: ignore[attr-defined]

    settings = get_settings()
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=settings.gcp_project, credentials=AnonymousCredentials())
    return storage.Client(project=settings.gcp_project)
