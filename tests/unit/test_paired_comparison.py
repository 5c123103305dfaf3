"""Paired, record-by-record comparisons: McNemar for pass/fail, Wilcoxon and a bootstrap for scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from shared.experiments.comparison import (
    compare_metric,
    compare_runs,
    higher_is_better,
    mcnemar_exact_p,
    records_needed,
    verdict,
)

API_FIELDS = {
    "a_mean",
    "b_mean",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "test",
    "verdict",
    "n_pairs",
    "discordant_pairs",
    "nonzero_differences",
    "records_needed",
    "mde",
    "primary",
}


def run(entry: int, repetition: int = 0, *, exact: bool, accuracy: float, error: float, latency: float = 100.0):
    fields = {
        "vote_results[A].vote_count": exact,
        "vote_results[B].vote_count": True,
        "vote_results[A].party": True,
        "ballot_stats.valid_votes": exact,
    }
    return {
        "entry_id": f"e{entry}",
        "repetition": repetition,
        "latency_ms": latency,
        "evaluations": [
            {"label": "vote_count_exact", "metric_type": "boolean", "value": exact, "assessment": None, "details": {}},
            {
                "label": "vote_count_accuracy",
                "metric_type": "score",
                "value": accuracy,
                "assessment": "pass" if accuracy == 1 else "fail",
                "details": {"fields": fields},
            },
            {"label": "count_error", "metric_type": "score", "value": error, "assessment": None, "details": {}},
            {
                "label": "completeness",
                "metric_type": "categorical",
                "value": "excellent" if exact else "good",
                "assessment": "pass",
                "details": {},
            },
            {
                "label": "ragas_faithfulness",
                "metric_type": "score",
                "value": None,
                "assessment": None,
                "details": {"skipped": True},
            },
        ],
    }


def baseline_and_improved(pairs: int = 30) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(11)
    accuracy = rng.uniform(0.5, 0.8, pairs)
    baseline = [
        run(i, exact=i % 3 == 0, accuracy=float(accuracy[i]), error=float(10 + i), latency=300.0 + i)
        for i in range(pairs)
    ]
    improved = [
        run(i, exact=True, accuracy=float(accuracy[i] + 0.15), error=float(i % 2), latency=200.0 + i)
        for i in range(pairs)
    ]
    return baseline, improved


def test_identical_runs_show_no_significant_difference_on_every_metric():
    baseline, _ = baseline_and_improved()

    result = compare_runs(baseline, baseline)

    assert set(result["metrics"]) == {"vote_count_exact", "vote_count_accuracy", "count_error", "completeness"}
    assert set(result["performance"]) == {"latency_ms"}  # the run's load, not the variants' quality
    for comparison in [*result["metrics"].values(), *result["per_field"].values(), *result["performance"].values()]:
        assert set(comparison) == API_FIELDS
        assert comparison["verdict"] == "no_significant_difference"
        assert comparison["p_value"] == comparison["p_adjusted"] == 1.0
        assert comparison["delta"] == 0.0 and comparison["ci_low"] == comparison["ci_high"] == 0.0
        assert comparison["n_pairs"] > 0


def test_a_consistent_improvement_on_thirty_pairs_is_better_on_every_metric_that_moved():
    baseline, improved = baseline_and_improved()

    result = compare_runs(baseline, improved)
    metrics = {**result["metrics"], **result["performance"]}

    assert metrics["vote_count_exact"]["test"] == "mcnemar_exact"
    assert metrics["vote_count_accuracy"]["test"] == "wilcoxon_signed_rank"
    for label in ("vote_count_exact", "vote_count_accuracy", "count_error", "latency_ms"):
        assert metrics[label]["verdict"] == "better", label
        assert metrics[label]["p_adjusted"] < 0.05 and metrics[label]["n_pairs"] == 30
    assert metrics["vote_count_accuracy"]["delta"] == pytest.approx(0.15)
    # every pair moved by 0.15, so the interval of the mean difference is (about) that point
    assert metrics["vote_count_accuracy"]["ci_low"] == pytest.approx(0.15)
    assert metrics["vote_count_accuracy"]["ci_high"] == pytest.approx(0.15)
    assert metrics["count_error"]["delta"] < 0  # lower is better there
    assert metrics["completeness"]["verdict"] == "no_significant_difference"  # both always pass


def test_the_same_improvement_seen_from_the_other_side_is_worse():
    baseline, improved = baseline_and_improved()

    metrics = compare_runs(improved, baseline)["metrics"]

    assert {metrics[label]["verdict"] for label in ("vote_count_exact", "vote_count_accuracy", "count_error")} == {
        "worse"
    }


def test_per_field_breakdown_compares_each_field_kind():
    baseline, improved = baseline_and_improved()

    per_field = compare_runs(baseline, improved)["per_field"]

    assert per_field["vote_results[*].vote_count"]["n_pairs"] == 60  # two candidates a run
    assert per_field["vote_results[*].vote_count"]["verdict"] == "better"
    assert per_field["ballot_stats.valid_votes"]["a_mean"] == pytest.approx(10 / 30)
    assert per_field["ballot_stats.valid_votes"]["b_mean"] == 1.0
    assert per_field["vote_results[*].party"]["verdict"] == "no_significant_difference"


def test_only_keys_present_in_both_with_values_are_paired():
    a = {("e1", 0): 0.5, ("e2", 0): 0.7, ("e3", 0): None, ("e4", 0): 0.1}
    b = {("e1", 0): 0.6, ("e2", 0): 0.9, ("e3", 0): 1.0}

    result = compare_metric(a, b, kind="score")

    assert result["n_pairs"] == 2
    assert result["a_mean"] == pytest.approx(0.6) and result["b_mean"] == pytest.approx(0.75)


def test_no_pairs_gives_no_verdict_but_the_api_fields():
    result = compare_metric({("e1", 0): 1.0}, {("e2", 0): 0.0}, kind="pass_fail")

    assert set(result) == API_FIELDS
    assert (result["n_pairs"], result["p_value"], result["verdict"]) == (0, None, "no_significant_difference")
    assert (result["p_adjusted"], result["mde"], result["primary"]) == (None, None, False)


def test_mcnemar_exact_is_the_binomial_test_on_discordant_pairs():
    a = np.array([1, 1, 0, 0, 0, 0, 0, 1, 0, 1], dtype=float)
    b = np.array([1, 0, 1, 1, 1, 1, 1, 1, 0, 1], dtype=float)

    assert mcnemar_exact_p(a, b) == pytest.approx(stats.binomtest(5, 6, 0.5).pvalue)
    assert mcnemar_exact_p(a, a) == 1.0


def test_a_small_inconsistent_difference_is_not_significant():
    rng = np.random.default_rng(5)
    a = {(i, 0): float(v) for i, v in enumerate(rng.uniform(0, 1, 30))}
    b = {key: value + float(rng.normal(0, 0.3)) for key, value in a.items()}

    assert compare_metric(a, b, kind="score")["verdict"] == "no_significant_difference"


def test_verdict_respects_the_direction_of_the_metric():
    assert higher_is_better("vote_count_accuracy") and not higher_is_better("count_error")
    assert verdict(0.1, 0.01) == "better"
    assert verdict(0.1, 0.01, higher_better=False) == "worse"
    assert verdict(-0.1, 0.2) == "no_significant_difference"


def test_records_needed_for_pass_fail_is_connors_formula_on_the_observed_discordant_shares():
    # 24 pairs, b alone passes 3: p01 = 0.125, p10 = 0, psi = d = 0.125. By hand:
    # (1.959964 * sqrt(0.125) + 0.841621 * sqrt(0.125 - 0.015625))**2 / 0.015625
    # = (0.692952 + 0.278341)**2 / 0.015625 = 60.38, rounded up to 61.
    a, b = np.ones(24), np.ones(24)
    a[:3] = 0

    assert records_needed(a, b, kind="pass_fail") == 61
    assert records_needed(b, a, kind="pass_fail") == 61  # the same evidence seen from the other side


def test_records_needed_for_scores_is_the_paired_t_approximation():
    # differences 0.3, -0.1, 0.3, -0.1: mean 0.1, sd 0.230940; by hand
    # ((1.959964 + 0.841621) * 0.230940 / 0.1)**2 = 6.469986**2 = 41.86, rounded up to 42.
    a = np.zeros(4)
    b = np.array([0.3, -0.1, 0.3, -0.1])

    assert records_needed(a, b, kind="score") == 42


def test_records_needed_is_not_estimable_without_a_difference_and_never_below_six():
    a = np.array([1.0, 0.0, 1.0, 0.0])

    assert records_needed(a, a[::-1].copy(), kind="pass_fail") is None  # one gained, one lost
    assert records_needed(np.zeros(3), np.full(3, 0.2), kind="score") == 6  # no spread at all


def test_a_comparison_counts_its_discordant_pairs_and_nonzero_differences():
    a = {("e", i): float(i >= 3) for i in range(24)}
    b = {("e", i): 1.0 for i in range(24)}

    result = compare_metric(a, b, kind="pass_fail")

    assert (result["discordant_pairs"], result["nonzero_differences"], result["records_needed"]) == (3, 3, 61)
    assert result["verdict"] == "no_significant_difference"
    assert compare_metric(a, b, kind="score")["discordant_pairs"] is None
