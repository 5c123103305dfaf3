"""The production-accuracy estimator (PPI++): its coverage by simulation, its formula on a small
case worked by hand, and its refusals."""

from __future__ import annotations

import math

import pytest

from bench.production_accuracy import simulate
from shared.evaluation.production_accuracy import (
    MIN_REVIEWED,
    Z_95,
    automatic_verdict,
    drawn_for_random_sample,
    production_accuracy,
)
from shared.models import Evaluation


def test_over_500_simulated_weeks_the_interval_covers_the_truth_and_beats_people_alone():
    summary = simulate(runs=500, n_total=20_000, rate=0.02, seed=27)

    assert summary.undecided_runs == 0
    assert summary.ppi_coverage >= 0.93
    assert summary.ppi_mean_width < summary.human_mean_width
    assert summary.naive_coverage < 0.5  # flagged items make "every reviewed item" biased


def test_the_estimate_is_the_power_tuned_formula_worked_by_hand():
    # 12 reviewed: 8 right by both, 1 right by people only, 1 right by the evaluators only, 2 wrong by both.
    reviewed = [(True, True)] * 8 + [(True, False)] + [(False, True)] + [(False, False)] * 2
    n_total, automatic_right = 1000, 700
    human = [1.0 if h else 0.0 for h, _ in reviewed]
    auto = [1.0 if a else 0.0 for _, a in reviewed]
    n = len(reviewed)
    mean_h, mean_a = sum(human) / n, sum(auto) / n
    cov = sum((h - mean_h) * (a - mean_a) for h, a in zip(human, auto, strict=True)) / (n - 1)
    var_a = sum((a - mean_a) ** 2 for a in auto) / (n - 1)
    lam = min(1.0, max(0.0, cov / ((1 + n / n_total) * var_a)))
    rect = [h - lam * a for h, a in zip(human, auto, strict=True)]
    mean_r = sum(rect) / n
    var_r = sum((r - mean_r) ** 2 for r in rect) / (n - 1)
    p = automatic_right / n_total
    theta = lam * p + mean_r
    half = Z_95 * math.sqrt(lam**2 * p * (1 - p) * n_total / (n_total - 1) / n_total + var_r / n)

    estimate = production_accuracy(n_total=n_total, automatic_right=automatic_right, reviewed=reviewed)

    assert estimate.estimate == pytest.approx(theta)
    assert estimate.ci_low == pytest.approx(theta - half)
    assert estimate.ci_high == pytest.approx(min(1.0, theta + half))
    assert estimate.n_reviewed == 12 and estimate.n_total == 1000 and estimate.confidence == 0.95
    assert estimate.human_only is not None and estimate.human_only.estimate == pytest.approx(9 / 12)


def test_too_few_reviewed_gives_no_estimate_and_says_why():
    estimate = production_accuracy(n_total=500, automatic_right=400, reviewed=[(True, True)] * (MIN_REVIEWED - 1))

    assert estimate.estimate is None and estimate.ci_low is None and estimate.ci_high is None
    assert estimate.reason is not None and "at least 10" in estimate.reason


def test_no_traffic_gives_no_estimate():
    assert production_accuracy(n_total=0, automatic_right=0, reviewed=[]).reason == "no extraction in this window"


def test_the_random_draw_is_stable_and_near_its_rate():
    ids = [f"extraction-{i}" for i in range(20_000)]
    drawn = [drawn_for_random_sample(i, 0.02) for i in ids]

    assert drawn == [drawn_for_random_sample(i, 0.02) for i in ids]
    assert 0.017 < sum(drawn) / len(ids) < 0.023
    assert not any(drawn_for_random_sample(i, 0.0) for i in ids[:500])
    assert all(drawn_for_random_sample(i, 1.0) for i in ids[:500])


def _evaluation(label: str, assessment: str, error: str | None = None) -> Evaluation:
    return Evaluation(label=label, metric_type="boolean", value=assessment == "pass", assessment=assessment,
                      evaluator_version="1", error=error)  # fmt: skip


def test_the_automatic_verdict_is_right_only_when_no_online_evaluator_fails_it():
    passing = [_evaluation("consistency", "pass"), _evaluation("cross_check", "pass")]

    assert automatic_verdict(succeeded=True, evaluations=passing)
    assert not automatic_verdict(succeeded=False, evaluations=passing)
    assert not automatic_verdict(succeeded=True, evaluations=[*passing, _evaluation("cross_check", "fail")])
    assert not automatic_verdict(succeeded=True, evaluations=[_evaluation("consistency", "fail")])
    assert automatic_verdict(succeeded=True, evaluations=[_evaluation("extraction_quality", "fail")])
