"""Summary statistics over an experiment: intervals, pass rates, per-field accuracy, latency, cost."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from shared.experiments.summary import (
    MeanCI,
    field_kind,
    latency_percentiles,
    mean_with_ci,
    pass_rate,
    per_field_accuracy,
    summarise_variant,
    token_totals,
)
from shared.llm.pricing import estimated_cost_usd
from shared.models import Evaluation, TokenUsage


def test_mean_with_ci_brackets_the_mean_and_narrows_with_more_data():
    rng = np.random.default_rng(7)
    small = rng.normal(0.8, 0.1, 20)
    large = rng.normal(0.8, 0.1, 400)

    few, many = mean_with_ci(small), mean_with_ci(large)

    assert few.ci_low < few.mean < few.ci_high and few.n == 20
    assert many.ci_low < 0.8 < many.ci_high
    assert many.ci_high - many.ci_low < few.ci_high - few.ci_low


def test_mean_with_ci_is_reproducible_for_a_seed():
    values = [0.2, 0.9, 0.4, 0.7, 0.5, 0.95, 0.1]

    assert mean_with_ci(values, seed=3) == mean_with_ci(values, seed=3)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], MeanCI(None, None, None, 0)),
        ([None, float("nan")], MeanCI(None, None, None, 0)),
        ([0.7], MeanCI(0.7, 0.7, 0.7, 1)),
        ([True, True, True], MeanCI(1.0, 1.0, 1.0, 3)),
    ],
)
def test_mean_with_ci_of_degenerate_samples_warns_nothing(values, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = mean_with_ci(values)

    assert result == expected


def test_mean_with_ci_of_a_single_differing_value_warns_nothing_and_contains_the_mean():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = mean_with_ci([1, 1, 1, 1, 1, 1, 1, 1, 1, 0])

    assert result.ci_low <= result.mean == 0.9 <= result.ci_high <= 1.0


def test_pass_rate_is_the_share_of_passes_with_a_wilson_interval():
    result = pass_rate(["pass"] * 8 + ["fail"] * 2 + [None])

    assert (result.mean, result.n) == (0.8, 10)
    assert result.ci_low == pytest.approx(0.4902, abs=1e-3)  # Wilson 95% for 8/10
    assert result.ci_high == pytest.approx(0.9433, abs=1e-3)
    assert pass_rate([]) == MeanCI(None, None, None, 0)


def test_field_kind_groups_candidates_whatever_their_name():
    assert field_kind("vote_results[Jane O'Doe [Jr.]].vote_count") == "vote_results[*].vote_count"
    assert field_kind("vote_results[Li Wei].party") == "vote_results[*].party"
    assert field_kind("ballot_stats.valid_votes") == "ballot_stats.valid_votes"


def test_per_field_accuracy_pools_candidates_across_runs():
    runs = [
        {"vote_results[A].vote_count": True, "vote_results[B].vote_count": False, "ballot_stats.valid_votes": True},
        {"vote_results[C].vote_count": True, "vote_results[C].party": False, "ballot_stats.valid_votes": False},
        None,
    ]

    accuracy = per_field_accuracy(runs)

    assert accuracy == {
        "ballot_stats.valid_votes": 0.5,
        "vote_results[*].party": 0.0,
        "vote_results[*].vote_count": pytest.approx(2 / 3),
    }


def test_latency_percentiles():
    latencies = list(range(1, 101))

    assert latency_percentiles(latencies) == {"p50": 50.5, "p95": pytest.approx(95.05), "mean": 50.5}
    assert latency_percentiles([]) == {"p50": None, "p95": None, "mean": None}


def test_token_totals_accepts_models_and_dicts():
    usages = [TokenUsage(input_tokens=100, output_tokens=20, total_tokens=120), {"input_tokens": 5}, None]

    assert token_totals(usages) == {"input_tokens": 105, "output_tokens": 20, "total_tokens": 120}


def test_estimated_cost_uses_the_price_table():
    assert estimated_cost_usd("gemini-2.5-flash", 1_000_000, 1_000_000) == pytest.approx(0.30 + 2.50)
    assert estimated_cost_usd("gemini-2.5-pro", 2_000_000, 100_000) == pytest.approx(2.50 + 1.00)
    assert estimated_cost_usd("tesseract", 10**9, 10**9) == 0.0
    assert estimated_cost_usd("some-unknown-model", 1, 1) is None


def evaluation(label: str, metric_type: str, value, assessment=None, **fields) -> Evaluation:
    return Evaluation(
        label=label, metric_type=metric_type, value=value, assessment=assessment, evaluator_version="1", **fields
    )


def test_summarise_variant_gives_the_api_shape_for_every_metric():
    runs = [
        [
            evaluation("vote_count_exact", "boolean", passed, "pass" if passed else "fail"),
            evaluation("count_error", "score", error),
            evaluation("completeness", "categorical", grade, "pass"),
            evaluation("ragas_faithfulness", "score", None, details={"skipped": True}),
            evaluation("candidate_f1", "score", None, error="ValueError: boom"),
        ]
        for passed, error, grade in [(True, 0.0, "excellent"), (False, 2.0, "good"), (True, 1.0, "excellent")]
    ]
    usages = [TokenUsage(input_tokens=1000, output_tokens=100, total_tokens=1100)] * 3

    summary = summarise_variant(runs, [100.0, 200.0, 300.0], usages, "gemini-2.5-flash")

    exact = summary["vote_count_exact"]
    assert exact["mean"] == pytest.approx(2 / 3) and exact["n"] == 3 and exact["pass_rate"] == pytest.approx(2 / 3)
    assert exact["ci_low"] <= exact["mean"] <= exact["ci_high"]
    assert summary["count_error"]["mean"] == 1.0
    assert summary["completeness=excellent"]["mean"] == pytest.approx(2 / 3)
    assert summary["completeness=good"]["n"] == 3
    assert "completeness" not in summary
    assert summary["ragas_faithfulness"] == {
        "mean": None,
        "ci_low": None,
        "ci_high": None,
        "n": 0,
        "skipped": 3,
        "errors": 0,
    }
    assert (summary["candidate_f1"]["n"], summary["candidate_f1"]["errors"]) == (0, 3)
    assert summary["latency_ms"]["p50"] == 200.0 and summary["latency_ms"]["mean"] == 200.0
    assert summary["input_tokens"]["total"] == 3000
    assert summary["cost_usd"]["total"] == pytest.approx(3 * (1000 * 0.30 + 100 * 2.50) / 1e6)
    for entry in summary.values():
        assert {"mean", "ci_low", "ci_high", "n"} <= set(entry)


def test_above_the_bootstrap_limit_the_interval_is_the_normal_one_and_agrees_with_the_bootstrap():
    rng = np.random.default_rng(11)
    skewed = rng.exponential(900.0, 20_000)  # latency-like: the least normal metric a summary has
    normal = mean_with_ci(skewed)
    percentile = stats.bootstrap(
        (skewed,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(0)
    ).confidence_interval
    width = percentile.high - percentile.low
    assert normal.n == 20_000 and normal.ci_low < normal.mean < normal.ci_high
    assert abs(normal.ci_low - percentile.low) < 0.05 * width
    assert abs(normal.ci_high - percentile.high) < 0.05 * width
