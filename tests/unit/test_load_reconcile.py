"""The mixed load's reconciliation (bench/load_reconcile.py): what it calls stored once and delivered once."""

from __future__ import annotations

from bench.load_reconcile import Stored, figures, percentile, reconcile

TARGET = "load-reviewed@v1"


def ledger() -> list[dict]:
    return [
        {"k": "seed", "what": "extraction", "id": "x0"},
        {"k": "try", "what": "extraction", "id": None},
        {"k": "ack", "what": "extraction", "id": "x1", "evaluations": 2},
        {"k": "try", "what": "extraction", "id": None},  # its answer was lost
        {"k": "try", "what": "feedback", "id": "f1"},
        {"k": "ack", "what": "feedback", "id": "f1", "status": 201, "replay": False},
        {"k": "try", "what": "feedback", "id": "f1"},
        {"k": "ack", "what": "feedback", "id": "f1", "status": 200, "replay": True},
        {"k": "try", "what": "entry", "id": "e1", "ds": "d@v1"},
        {"k": "ack", "what": "entry", "id": "e1", "ds": "d@v1", "status": 201, "replay": False},
        {"k": "ack", "what": "claim", "id": "x0", "by": "r"},
        {"k": "try", "what": "decision", "id": "x0", "decision": "approve"},
        {"k": "ack", "what": "decision", "id": "x0", "decision": "approve", "by": "r", "replay": 0},
    ]


def stored() -> Stored:
    return Stored(
        extractions={"x0", "x1", "x2"},  # x2: the extraction whose answer was lost
        feedback_counted={"x0": 0, "x1": 1, "x2": 0},
        feedback={"f1": "x1"},
        entries={"d@v1": {"e1"}, TARGET: {"x0"}},
        entry_counts={"d@v1": 1, TARGET: 1},
        decisions={"x0": "approve"},
        outbox={
            "extraction~x1": ("delivered", ["x1-consistency", "x1-cross_check"]),
            "feedback~f1": ("delivered", ["f1-user_feedback"]),
            "review~x0": ("delivered", ["review-x0-human_review"]),
        },
    )


DELIVERED = ["x1-consistency", "x1-cross_check", "f1-user_feedback", "review-x0-human_review"]


def test_everything_acknowledged_stored_once_and_delivered_once_is_ok():
    result = reconcile(ledger(), stored(), DELIVERED, review_target=TARGET)

    assert result.ok, result.lines
    assert all(line.endswith(": ok") for line in result.lines)


def test_an_evaluation_received_twice_is_wrong_and_named():
    result = reconcile(ledger(), stored(), [*DELIVERED, "f1-user_feedback"], review_target=TARGET)

    assert not result.ok
    assert "received more than once: [('f1-user_feedback', 2)]" in "\n".join(result.lines)


def test_an_evaluation_never_received_or_still_pending_is_wrong():
    pending = stored()
    pending.outbox["feedback~f1"] = ("pending", ["f1-user_feedback"])

    assert not reconcile(ledger(), stored(), DELIVERED[1:], review_target=TARGET).ok
    assert not reconcile(ledger(), pending, DELIVERED, review_target=TARGET).ok


def test_a_replay_that_bumped_a_counter_again_is_wrong():
    doubled = stored()
    doubled.feedback_counted["x1"] = 2

    result = reconcile(ledger(), doubled, DELIVERED, review_target=TARGET)

    assert not result.ok
    assert "counters exact on 0/1 extractions: WRONG" in result.lines[1]


def test_an_acknowledged_write_missing_from_firestore_is_wrong():
    lost = stored()
    lost.entries["d@v1"] = set()
    lost.entry_counts["d@v1"] = 0

    assert not reconcile(ledger(), lost, DELIVERED, review_target=TARGET).ok


def test_more_extractions_stored_than_were_sent_is_wrong():
    extra = stored()
    extra.extractions |= {"x3"}  # one unanswered attempt can explain one, not two

    assert not reconcile(ledger(), extra, DELIVERED, review_target=TARGET).ok


def test_an_entry_count_that_disagrees_with_the_entries_is_wrong():
    miscounted = stored()
    miscounted.entry_counts["d@v1"] = 2

    assert not reconcile(ledger(), miscounted, DELIVERED, review_target=TARGET).ok


def test_percentiles_are_nearest_rank_and_figures_end_with_all():
    requests = [{"name": "GET /a", "t": 0.0, "ms": float(ms), "st": 200} for ms in range(1, 101)]
    requests.append({"name": "POST /b", "t": 9.0, "ms": 1000.0, "st": 0})

    rows = figures(requests)

    assert percentile([float(v) for v in range(1, 101)], 0.99) == 99.0
    assert [row.name for row in rows] == ["GET /a", "POST /b", "all"]
    assert rows[-1].requests == 101 and rows[-1].errors == 1 and rows[-1].server_errors == 0
    assert rows[-1].per_second == 101 / 10.0


def keyed_ledger() -> list[dict]:
    return [
        {"k": "seed", "what": "extraction", "id": "x0"},
        {"k": "try", "what": "extraction", "id": None, "key": "k1"},
        {"k": "ack", "what": "extraction", "id": "x1", "key": "k1", "resent": True, "replayed": True},
        {"k": "try", "what": "extraction", "id": None, "key": "k2"},  # its answers were all lost
        {"k": "try", "what": "extraction", "id": None, "key": "k3"},
    ]


def test_an_idempotency_key_stored_once_is_ok_and_the_resends_are_counted():
    kept = Stored(extractions={"x0", "x1", "x2"}, extraction_keys={"x0": "", "x1": "k1", "x2": "k2"})

    line = reconcile(keyed_ledger(), kept, [], review_target=TARGET).lines[0]

    assert line.endswith(": ok"), line
    assert "1 answered after a resend (1 of them made by the lost send), 0 keys stored twice" in line


def test_one_key_stored_twice_or_a_record_under_an_untried_key_is_wrong():
    doubled = Stored(extractions={"x0", "x1", "x2"}, extraction_keys={"x0": "", "x1": "k1", "x2": "k1"})
    untried = Stored(extractions={"x0", "x1", "x2"}, extraction_keys={"x0": "", "x1": "k1", "x2": "k9"})

    doubled_line = reconcile(keyed_ledger(), doubled, [], review_target=TARGET).lines[0]
    untried_line = reconcile(keyed_ledger(), untried, [], review_target=TARGET).lines[0]

    assert doubled_line.endswith("1 keys stored twice: WRONG"), doubled_line
    assert untried_line.endswith(": WRONG"), untried_line
