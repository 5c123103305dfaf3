"""The evaluation sink every function hands its evaluations to, and the resend routine over it.

Evaluations Datadog has not accepted yet wait in Firestore (`llmobs_outbox`); the scheduled
function resends them, and so does this module run by hand:

    python -m shared.wiring.evaluations      (environment of the deployment)
    ./deploy.sh local --resend               (against the local stack)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from dataclasses import asdict
from functools import lru_cache

from shared.config import get_settings
from shared.evaluation.sink import OutboxEvaluationSink, ResendReport
from shared.observability import llmobs
from shared.storage.clients import firestore_client
from shared.storage.evaluation_outbox import FirestoreEvaluationOutbox


@lru_cache(maxsize=1)
def evaluation_sink() -> OutboxEvaluationSink:
    settings = get_settings()
    return OutboxEvaluationSink(
        FirestoreEvaluationOutbox(firestore_client()), timeout_s=settings.llmobs_flush_timeout_s
    )


def resend_pending(*, max_rounds: int = 20) -> ResendReport:
    """Deliver pending evaluations in batches until none is left or Datadog stops accepting."""
    llmobs.enable_llmobs(get_settings())
    return evaluation_sink().resend_pending(owner=f"{socket.gethostname()}:{os.getpid()}", max_rounds=max_rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description="Deliver the evaluations Datadog has not accepted yet.")
    parser.add_argument("--max-rounds", type=int, default=20, help="rounds of 50 outbox entries at most")
    args = parser.parse_args()
    print(json.dumps(asdict(resend_pending(max_rounds=args.max_rounds))))


if __name__ == "__main__":
    main()
