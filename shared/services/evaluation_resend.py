"""The resend routine: deliver every evaluation Datadog has not accepted yet, exactly once.

Evaluations are staged in Firestore with their records before they are sent (`llmobs_outbox`,
`evaluation_sending`); the entries a Datadog outage kept `pending` are leased (so two resends
running at once never send the same one), what is left of each is sent, and the outcome marked.
The scheduled function calls `resend_pending`; run it now with

    python -m shared.services.evaluation_resend          (environment of the deployment)
    ./deploy.sh local --resend                           (against the local stack)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
from dataclasses import asdict, dataclass

from shared.config import get_settings
from shared.observability import llmobs
from shared.observability.evaluation_delivery import deliver
from shared.storage.clients import firestore_client
from shared.storage.evaluation_outbox import FirestoreEvaluationOutbox

logger = logging.getLogger(__name__)

ENTRIES_PER_ROUND = 50  # `deliver` sends their evaluations 500 a flush
LEASE_S = 120.0


@dataclass(frozen=True)
class ResendReport:
    claimed: int
    delivered: int
    still_pending: int
    rounds: int


def resend_pending(*, max_rounds: int = 20, timeout_s: float = 10.0) -> ResendReport:
    """Deliver pending evaluations in batches until none is left or Datadog stops accepting."""
    llmobs.enable_llmobs(get_settings())
    outbox = FirestoreEvaluationOutbox(firestore_client())
    owner = f"{socket.gethostname()}:{os.getpid()}"
    claimed_total = delivered_total = failed_total = rounds = 0
    while rounds < max_rounds:
        entries = outbox.claim_pending(limit=ENTRIES_PER_ROUND, lease_s=LEASE_S, owner=owner)
        if not entries:
            break
        rounds += 1
        claimed = [submission for entry in entries for submission in entry.undelivered()]
        delivered = deliver(claimed, timeout_s=timeout_s) if claimed else set()
        outbox.record_delivery([(entry, {s.evaluation_id for s in entry.submissions} & delivered) for entry in entries])
        failed = [c.evaluation_id for c in claimed if c.evaluation_id not in delivered]
        claimed_total, delivered_total, failed_total = (
            claimed_total + len(claimed),
            delivered_total + len(delivered),
            failed_total + len(failed),
        )
        if failed:  # Datadog is refusing: stop and let the next scheduled run try again
            break
    report = ResendReport(claimed_total, delivered_total, failed_total, rounds)
    logger.info("evaluation resend: %s", asdict(report))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="Deliver the evaluations Datadog has not accepted yet.")
    parser.add_argument("--max-rounds", type=int, default=20, help=f"rounds of {ENTRIES_PER_ROUND} entries at most")
    args = parser.parse_args()
    print(json.dumps(asdict(resend_pending(max_rounds=args.max_rounds))))


if __name__ == "__main__":
    main()
