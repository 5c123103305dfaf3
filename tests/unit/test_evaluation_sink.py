"""The evaluation sink's batches: stable ids, one entry per write (a few past a document's size),
only what Datadog can take (failed and skipped evaluations stay with their record)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.evaluation.sink import MAX_SUBMISSIONS_PER_ENTRY, EvaluationBatch, SpanEvaluations
from shared.models import Evaluation

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def evaluation(label: str, value: object = True, error: str | None = None) -> Evaluation:
    return Evaluation(label=label, metric_type="boolean", value=value, evaluator_version="1.0", error=error)


def span(prefix: str, evaluations: list[Evaluation], span_id: str | None = "s1") -> SpanEvaluations:
    return SpanEvaluations(
        evaluations, id_prefix=prefix, span_id=span_id, trace_id="t1", tags={"k": "v"}, created_at=NOW
    )


def test_each_evaluation_has_an_id_stable_across_retries_and_only_sendable_ones_go():
    evaluations = [evaluation("consistency"), evaluation("broken", None, error="raised"), evaluation("skipped", None)]

    first = EvaluationBatch.of(
        entry_id="extraction~e1", source_kind="extraction", created_at=NOW, spans=[span("e1", evaluations)]
    )
    again = EvaluationBatch.of(
        entry_id="extraction~e1", source_kind="extraction", created_at=NOW, spans=[span("e1", evaluations)]
    )

    assert first == again
    [entry] = first.entries
    assert entry.entry_id == "extraction~e1"
    assert [s.evaluation_id for s in entry.submissions] == ["e1-consistency"]
    [submission] = entry.submissions
    assert submission.tags["k"] == "v" and submission.tags["evaluator_version"] == "1.0"
    assert (submission.span_id, submission.trace_id, submission.source_kind) == ("s1", "t1", "extraction")


def test_a_span_never_exported_sends_nothing():
    batch = EvaluationBatch.of(
        entry_id="feedback~f1", source_kind="feedback", created_at=NOW, spans=[span("f1", [evaluation("x")], None)]
    )

    assert [len(entry.submissions) for entry in batch.entries] == []


def test_a_write_of_many_runs_is_cut_into_entries_that_fit_a_document():
    runs = [span(f"x~run{n}", [evaluation("exact"), evaluation("f1")]) for n in range(MAX_SUBMISSIONS_PER_ENTRY)]

    batch = EvaluationBatch.of(entry_id="runs~x~abc", source_kind="experiment", created_at=NOW, spans=runs)

    assert [entry.entry_id for entry in batch.entries] == ["runs~x~abc~0", "runs~x~abc~1"]
    assert [len(entry.submissions) for entry in batch.entries] == [MAX_SUBMISSIONS_PER_ENTRY] * 2
    ids = [s.evaluation_id for entry in batch.entries for s in entry.submissions]
    assert len(set(ids)) == len(ids) == 2 * MAX_SUBMISSIONS_PER_ENTRY
