"""The alert conditions on a finished experiment's summary and comparison (pure functions)."""

from __future__ import annotations

from shared.experiments.alerts import (
    evaluation_failure_rate,
    feedback_condition,
    regression_condition,
    summary_conditions,
)
from shared.experiments.summary import summarise_variant
from shared.models import AlertThresholds, Evaluation


def evaluation(label: str, value: float | None, error: str | None = None) -> Evaluation:
    return Evaluation(label=label, metric_type="score", value=value, evaluator_version="1", error=error)


def summary_of(per_run: list[list[Evaluation]]) -> dict:
    return {"ocr": summarise_variant(per_run, resamples=200)}


def test_quality_below_target_alerts_and_above_does_not():
    runs = [[evaluation("vote_count_accuracy", value)] for value in (0.7, 0.8, 0.9, 0.8)]
    [condition] = summary_conditions(summary_of(runs), AlertThresholds(min_quality=0.9))
    assert condition.kind == "quality_below_target" and condition.details["means"] == {"ocr": 0.8}
    assert summary_conditions(summary_of(runs), AlertThresholds(min_quality=0.75)) == []
    assert summary_conditions(summary_of(runs), AlertThresholds()) == []  # no target set


def test_faithfulness_below_the_floor_alerts_only_when_measured():
    low = [[evaluation("ragas_faithfulness", value)] for value in (0.5, 0.6, 0.7)]
    [condition] = summary_conditions(summary_of(low), AlertThresholds())
    assert condition.kind == "faithfulness_below_target" and condition.details["target"] == 0.7
    skipped = [
        [
            Evaluation(
                label="ragas_faithfulness",
                metric_type="score",
                value=None,
                evaluator_version="1",
                details={"skipped": True},
            )
        ]
    ]
    assert summary_conditions(summary_of(skipped), AlertThresholds()) == []


def test_evaluation_failure_rate_counts_raised_evaluators_not_skipped_ones():
    runs = [
        [evaluation("vote_count_exact", 1.0), evaluation("candidate_f1", None, error="ValueError: boom")],
        [evaluation("vote_count_exact", 1.0), evaluation("candidate_f1", 1.0)],
    ]
    summary = summary_of(runs)
    assert evaluation_failure_rate(summary["ocr"]) == 0.25
    [condition] = summary_conditions(summary, AlertThresholds(max_evaluation_failure_rate=0.2))
    assert condition.kind == "evaluation_failure_rate" and condition.details["rates"] == {"ocr": 0.25}
    assert summary_conditions(summary, AlertThresholds(max_evaluation_failure_rate=0.25)) == []


def test_negative_feedback_rate_needs_enough_feedback():
    thresholds = AlertThresholds(max_negative_feedback_rate=0.3, min_feedback_count=10)
    assert feedback_condition(9, 9, thresholds) is None  # too few to say anything
    assert feedback_condition(10, 3, thresholds) is None  # at the limit
    condition = feedback_condition(10, 4, thresholds)
    assert condition is not None and condition.kind == "negative_feedback_rate" and condition.details["rate"] == 0.4
    assert feedback_condition(100, 100, AlertThresholds()) is None  # no limit set


def test_regression_needs_a_worse_verdict():
    def compared(verdict: str) -> dict:
        return {"metrics": {"vote_count_accuracy": {"verdict": verdict, "p_value": 0.01}}}

    assert regression_condition({"ocr": compared("better")}, "base") is None
    assert regression_condition({"ocr": compared("no_significant_difference")}, "base") is None
    condition = regression_condition({"ocr": compared("worse"), "other": compared("better")}, "base")
    assert condition is not None and condition.severity == "critical"
    assert condition.details["worse"] == {"ocr": ["vote_count_accuracy"]}
