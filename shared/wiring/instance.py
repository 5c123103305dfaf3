"""What a new instance pays at start rather than in its first request: the libraries every first
request imports (ddtrace's LLM Observability, the Google clients'), measured by `bench.first_request`.

Called by each function's `main.py` as it is imported. Only imports: functions-framework imports
`main.py` in gunicorn's master process, then forks the worker that serves, so nothing holding
threads or connections (the LLM Observability writers, a gRPC channel) is made here; those are made
by the first request, in the worker. Never fails the import: whatever cannot be loaded here is
loaded, or reported, by the request that needs it.
"""

from __future__ import annotations

import logging

from shared.config import get_settings
from shared.observability.llmobs import preload_llmobs
from shared.storage.clients import preload_client_libraries

logger = logging.getLogger(__name__)


def prepare_instance(*, storage: bool = True) -> None:
    """Import at instance start what the first request would; `storage` when the function reads images."""
    try:
        preload_llmobs(get_settings())
        preload_client_libraries(storage=storage)
    except Exception:
        logger.exception("could not load the first request's libraries at instance start; the request will")
