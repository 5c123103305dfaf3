"""What the mixed load's client saw, against what Firestore and the test agent hold afterwards.

Pure functions over plain data (the ledger's JSON lines, a few sets and counters read from
Firestore and the test agent), so the counting rules are unit-tested on their own:

- a write the client saw acknowledged is stored, once; a stored write was at least tried
  (a write whose answer was lost may or may not be stored: both are fine, neither is doubled;
  an extraction's Idempotency-Key makes at most one record);
- each extraction's feedback counters equal the feedback stored for it (replays count nothing);
- each dataset version's `entry_count` equals its entries;
- every evaluation staged in the outbox reached the test agent exactly once, and nothing else did.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stored:
    """What Firestore holds after the run."""

    extractions: set[str] = field(default_factory=set)
    extraction_keys: dict[str, str] = field(default_factory=dict)  # extraction id -> its Idempotency-Key
    feedback_counted: dict[str, int] = field(default_factory=dict)  # extraction id -> thumbs_up + thumbs_down
    feedback: dict[str, str] = field(default_factory=dict)  # feedback id -> extraction id
    entries: dict[str, set[str]] = field(default_factory=dict)  # "name@version" -> entry ids
    entry_counts: dict[str, int] = field(default_factory=dict)  # "name@version" -> the version's entry_count
    decisions: dict[str, str] = field(default_factory=dict)  # extraction id -> decision (decided items)
    outbox: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # entry id -> (status, evaluation ids)


@dataclass
class Reconciliation:
    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def check(self, good: bool, line: str) -> None:
        self.lines.append(f"{line}: {'ok' if good else 'WRONG'}")
        self.ok = self.ok and good


def _ids(records: Iterable[Mapping[str, Any]], kind: str, what: str) -> list[str]:
    return [r["id"] for r in records if r.get("k") == kind and r.get("what") == what and r.get("id")]


def reconcile(
    records: list[Mapping[str, Any]], stored: Stored, delivered: Iterable[str], *, review_target: str
) -> Reconciliation:
    """Compare the ledger (`records`) with Firestore (`stored`) and the evaluation ids the test
    agent received (`delivered`, one per evaluation received, repeats included)."""
    result = Reconciliation()

    acked = set(_ids(records, "ack", "extraction"))
    seeded = set(_ids(records, "seed", "extraction"))
    unanswered = sum(1 for r in records if r.get("k") == "try" and r.get("what") == "extraction") - len(acked)
    extra = stored.extractions - acked - seeded
    tried_keys = {r["key"] for r in records if r.get("k") == "try" and r.get("what") == "extraction" and r.get("key")}
    per_key = Counter(key for key in stored.extraction_keys.values() if key)
    doubled = sum(1 for n in per_key.values() if n > 1)
    untried = {i for i in extra if tried_keys and stored.extraction_keys.get(i) not in tried_keys}
    resent = [r for r in records if r.get("k") == "ack" and r.get("what") == "extraction" and r.get("resent")]
    replayed = sum(1 for r in resent if r.get("replayed"))  # the lost answer's send had made it
    result.check(
        acked | seeded <= stored.extractions and len(extra) <= unanswered and not doubled and not untried,
        f"extractions: {len(acked)} acknowledged (+{len(seeded)} seeded), {len(acked - stored.extractions)} missing; "
        f"{len(extra)} stored of {unanswered} unanswered; {len(resent)} answered after a resend "
        f"({replayed} of them made by the lost send), "
        f"{doubled} keys stored twice",
    )

    acks = [r for r in records if r.get("k") == "ack" and r.get("what") == "feedback"]
    feedback_acked = {r["id"] for r in acks}
    feedback_tried = set(_ids(records, "try", "feedback"))
    stored_feedback = set(stored.feedback)
    per_extraction = Counter(stored.feedback.values())
    wrong_counters = {
        extraction_id
        for extraction_id in set(per_extraction) | set(stored.feedback_counted)
        if stored.feedback_counted.get(extraction_id, 0) != per_extraction.get(extraction_id, 0)
    }
    result.check(
        feedback_acked <= stored_feedback <= feedback_tried and not wrong_counters,
        f"feedback: {len(acks)} acknowledged posts ({sum(1 for r in acks if r.get('replay'))} replays, "
        f"{sum(1 for r in acks if r.get('status') == 200)} answered 200) -> {len(feedback_acked)} feedbacks, "
        f"{len(feedback_acked - stored_feedback)} missing, {len(stored_feedback - feedback_tried)} never sent; "
        f"{len(stored_feedback)} stored once; counters exact on {len(per_extraction) - len(wrong_counters)}"
        f"/{len(per_extraction)} extractions",
    )

    approved = {
        r["id"] for r in records if r.get("k") == "ack" and r.get("what") == "decision" and r["decision"] == "approve"
    }
    entry_acks = [r for r in records if r.get("k") == "ack" and r.get("what") == "entry"]
    wanted: dict[str, set[str]] = defaultdict(set)
    for r in entry_acks:
        wanted[r["ds"]].add(r["id"])
    tried: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r.get("k") == "try" and r.get("what") == "entry":
            tried[r["ds"]].add(r["id"])
    decided_approved = {i for i, decision in stored.decisions.items() if decision == "approve"}
    tried[review_target] |= decided_approved
    missing = sum(len(ids - stored.entries.get(ds, set())) for ds, ids in wanted.items())
    missing += len(approved - stored.entries.get(review_target, set()))
    unsent = sum(len(ids - tried.get(ds, set())) for ds, ids in stored.entries.items())
    wrong_counts = [ds for ds, ids in stored.entries.items() if stored.entry_counts.get(ds) != len(ids)]
    result.check(
        not missing and not unsent and not wrong_counts,
        f"dataset entries: {len(entry_acks)} acknowledged posts "
        f"({sum(1 for r in entry_acks if r.get('replay'))} replays) + {len(approved)} approvals -> "
        f"{sum(len(ids) for ids in stored.entries.values())} stored once, {missing} missing, {unsent} never sent; "
        f"entry_count exact on {len(stored.entries) - len(wrong_counts)}/{len(stored.entries)} versions",
    )

    decision_acks = [r for r in records if r.get("k") == "ack" and r.get("what") == "decision"]
    final = {r["id"]: r["decision"] for r in decision_acks if r["decision"] != "skip"}
    wrong_decisions = {i for i, decision in final.items() if stored.decisions.get(i) != decision}
    refused = [r for r in records if r.get("k") == "anomaly" and "claim" in r.get("what", "")]
    claims = _ids(records, "ack", "claim")
    result.check(
        not wrong_decisions and not refused,
        f"review: {len(claims)} claims, {len(decision_acks)} acknowledged decisions "
        f"({sum(1 for r in decision_acks if r.get('replay'))} sent twice), {len(final)} final, "
        f"{len(wrong_decisions)} not stored as decided, {len(refused)} refused for a lost claim",
    )

    expected: set[str] = set()
    pending = 0
    for status, evaluation_ids in stored.outbox.values():
        expected.update(evaluation_ids)
        pending += status != "delivered"
    staged_for = _staged_sources(records)
    unstaged = [source for source in staged_for if not _has_entry(stored.outbox, source)]
    received = Counter(delivered)
    lost = expected - set(received)
    doubled = {i: n for i, n in received.items() if n > 1}
    strangers = set(received) - expected
    result.check(
        not lost and not doubled and not strangers and not pending and not unstaged,
        f"evaluations: {len(expected)} staged in {len(stored.outbox)} outbox entries ({pending} still pending, "
        f"{len(unstaged)} acknowledged writes without one); {sum(received.values())} received by the agent: "
        f"{len(expected & set(received)) - len(doubled)} once, {len(doubled)} more than once, {len(lost)} never, "
        f"{len(strangers)} not staged",
    )
    if doubled:
        result.lines.append(f"  received more than once: {sorted(doubled.items())[:10]}")
    if lost:
        result.lines.append(f"  never received: {sorted(lost)[:10]}")
    return result


def _staged_sources(records: list[Mapping[str, Any]]) -> list[str]:
    """Outbox entry ids acknowledged writes must have staged their evaluations under."""
    sources = []
    for r in records:
        if r.get("k") != "ack" or (r.get("what") == "feedback" and r.get("replay")):
            continue
        if r.get("what") == "extraction" and r.get("evaluations"):
            sources.append(f"extraction~{r['id']}")
        elif r.get("what") == "feedback":
            sources.append(f"feedback~{r['id']}")
        elif r.get("what") == "decision" and r.get("decision") != "skip":
            sources.append(f"review~{r['id']}")
    return sources


def _has_entry(outbox: Mapping[str, Any], source: str) -> bool:
    return source in outbox or f"{source}~0" in outbox


# -- latency and throughput ---------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True)
class EndpointFigures:
    name: str
    requests: int
    errors: int  # no answer (connection) or 5xx
    server_errors: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def figures(requests: list[Mapping[str, Any]]) -> list[EndpointFigures]:
    """Per endpoint (sorted by name) and `all` last, over the requests' wall-clock span."""
    if not requests:
        return []
    span = max(r["t"] + r["ms"] / 1000 for r in requests) - min(r["t"] for r in requests)
    by_name: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in requests:
        by_name[r["name"]].append(r)
    rows = [_row(name, by_name[name], span) for name in sorted(by_name)]
    return [*rows, _row("all", list(requests), span)]


def _row(name: str, requests: list[Mapping[str, Any]], span: float) -> EndpointFigures:
    latencies = [float(r["ms"]) for r in requests]
    return EndpointFigures(
        name=name,
        requests=len(requests),
        errors=sum(1 for r in requests if r["st"] == 0 or r["st"] >= 500),
        server_errors=sum(1 for r in requests if r["st"] >= 500),
        per_second=len(requests) / span if span > 0 else 0.0,
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
    )
