"""The pure shaping behind a schedule's trend and experiments side by side."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import MalformedRequest
from shared.experiments.side_by_side import column_of, parse_ids, summary_table
from shared.experiments.trends import paired_variants, shape_trend, threshold_for, trend_points
from shared.models import AlertThresholds, ExperimentRecord, Variant

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def experiment(experiment_id: str, variants: dict[str, dict], *, minutes: int = 0, status="completed"):
    return ExperimentRecord(
        experiment_id=experiment_id,
        name=experiment_id,
        dataset_name="forms",
        dataset_version="v1",
        variants=[Variant(name=name, model="tesseract") for name in variants],
        evaluators=[],
        repetitions=1,
        concurrency=1,
        run_timeout_s=60,
        status=status,
        summary=variants,
        created_at=T0 + timedelta(minutes=minutes),
    )


def stats(mean: float, n: int = 8) -> dict:
    return {"mean": mean, "ci_low": mean - 0.1, "ci_high": mean + 0.1, "n": n, "errors": 0}


def test_the_threshold_is_the_floor_the_schedule_alerts_under():
    thresholds = AlertThresholds(min_quality=0.9, min_faithfulness=0.6)
    assert threshold_for("vote_count_accuracy", thresholds) == 0.9
    assert threshold_for("ragas_faithfulness", thresholds) == 0.6
    assert threshold_for("candidate_f1", thresholds) is None
    assert threshold_for("vote_count_accuracy", AlertThresholds()) is None


def test_points_carry_each_variants_verdict_and_the_alert_flag():
    run = experiment("s-x-1", {"ocr": {"vote_count_accuracy": stats(0.8), "latency_ms": stats(900.0), "note": 3}})
    points = dict(trend_points(run, {"ocr": {"vote_count_accuracy": "worse"}}, alerted=True))
    assert set(points) == {"vote_count_accuracy", "latency_ms"}  # only entries with a mean
    assert points["vote_count_accuracy"]["verdict"] == "worse"
    assert points["vote_count_accuracy"]["alert"] is True
    assert points["latency_ms"]["verdict"] is None  # compared, but no verdict was given for it
    assert points["vote_count_accuracy"]["mean"] == 0.8 and points["vote_count_accuracy"]["n"] == 8

    no_baseline = dict(trend_points(run, None, alerted=False))
    assert no_baseline["vote_count_accuracy"]["verdict"] is None
    assert no_baseline["vote_count_accuracy"]["alert"] is False


def test_the_trend_keeps_the_runs_order_and_filters_one_metric():
    first = experiment("s-x-1", {"ocr": {"vote_count_accuracy": stats(0.9), "latency_ms": stats(800.0)}})
    second = experiment("s-x-2", {"ocr": {"vote_count_accuracy": stats(0.7), "latency_ms": stats(700.0)}}, minutes=5)
    points = trend_points(first, None, False) + trend_points(second, None, True)
    shaped = shape_trend("x", AlertThresholds(min_quality=0.85), points, metric=None)
    accuracy = shaped["metrics"]["vote_count_accuracy"]
    assert [p["experiment_id"] for p in accuracy["points"]] == ["s-x-1", "s-x-2"]
    assert accuracy["threshold"] == 0.85 and accuracy["higher_is_better"] is True
    assert shaped["metrics"]["latency_ms"]["higher_is_better"] is False

    only = shape_trend("x", AlertThresholds(), points, metric="latency_ms")
    assert list(only["metrics"]) == ["latency_ms"]


def test_variants_pair_by_name_or_as_the_only_ones():
    one = experiment("a", {"ocr": {}})
    other = experiment("b", {"gemini": {}})
    assert paired_variants(one, other) == {"ocr": "gemini"}
    two = experiment("c", {"ocr": {}, "gemini": {}})
    assert paired_variants(two, other) == {"gemini": "gemini"}
    three = experiment("d", {"x": {}, "y": {}})
    assert paired_variants(three, two) == {}


@pytest.mark.parametrize("raw", [None, "", "a", "a,,", ",".join(f"e{i}" for i in range(11)), "a,b,a"])
def test_ids_are_two_to_ten_distinct_ones(raw):
    with pytest.raises(MalformedRequest) as refused:
        parse_ids(raw)
    assert refused.value.message.endswith(".")


def test_ids_are_trimmed_and_kept_in_order():
    assert parse_ids(" b , a,c ") == ["b", "a", "c"]


def test_a_column_per_experiment_or_per_variant_when_it_has_several():
    single = experiment("a", {"ocr": {"vote_count_accuracy": stats(0.9)}})
    double = experiment("b", {"ocr": {"vote_count_accuracy": stats(0.8)}, "gemini": {"vote_count_accuracy": stats(1)}})
    assert column_of(single, "ocr") == "a" and column_of(double, "ocr") == "b:ocr"
    table = summary_table([single, double])
    assert set(table["vote_count_accuracy"]) == {"a", "b:ocr", "b:gemini"}
    assert table["vote_count_accuracy"]["b:ocr"] == {"mean": 0.8, "ci_low": 0.8 - 0.1, "ci_high": 0.8 + 0.1, "n": 8}
