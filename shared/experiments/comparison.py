"""Paired comparisons of two sets of runs, record by record.

A pair is the same dataset entry and repetition in both (`run_key = (entry_id, repetition)`);
only keys present in both with a value on both sides are compared. Per metric:

- pass/fail (boolean metrics, and categorical ones through their assessment): McNemar's exact
  test, a binomial test on the discordant pairs (`test: "mcnemar_exact"`);
- scores: the Wilcoxon signed-rank test (zero differences split between the ranks) for the
  p-value (`test: "wilcoxon_signed_rank"`);
- both: a paired bootstrap 95% interval of the mean difference b - a.

Each comparison also says how much evidence it had (`discordant_pairs` for pass/fail,
`nonzero_differences` for both) and `records_needed`: about how many pairs would show the observed
difference at alpha 0.05 with 80% power (`records_needed`'s docstring has the method).

Many metrics are tested at once, so each verdict is decided on a p-value corrected for the others
(Holm's step-down method, `p_adjusted`; `p_value` stays the raw one). Uncorrected, ten metrics of a
change that does nothing would show some better/worse up to 40% of the time; with Holm, the chance
of any false better/worse among the quality metrics (`metrics`, the primary one included) is at
most alpha. The verdict is from b's point of view: `better` when p_adjusted < alpha and the mean
moved the good way (up, or down for a lower-is-better metric such as `count_error` or latency),
`worse` when it moved the other way, otherwise `no_significant_difference`. `mde` says how large a
true difference the pairs could have detected (power.py).

One metric is the primary: the one declared for the experiment, else `vote_count_accuracy` when
compared, else the first evaluator's. It is in the same family as the others (a gate reads it
first; it gets no looser test).

Latency is reported apart, under `performance`: it depends on the machine's load while the runs
overlapped, so its verdict says something about the run, not about the variants' quality; it is
a family of its own (p_adjusted = p_value).

Per field kind (`vote_results[*].vote_count`, `ballot_stats.valid_votes`, ...), the fields
`vote_count_accuracy` records are paired by (entry, repetition, field path) and compared with
McNemar's test, Holm-corrected among themselves. Fields of one form are not independent, so read
those p-values as a guide.
"""

from __future__ import annotations

import contextlib
import gc
import math
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from shared.errors import MalformedRequest
from shared.experiments.power import FEWEST_PAIRS, minimum_detectable_effect
from shared.experiments.summary import LOWER_IS_BETTER, field_kind, mean_with_ci, numeric_value

ALPHA = 0.05
POWER = 0.80
CORRECTION = "holm"
DEFAULT_PRIMARY = "vote_count_accuracy"
PERFORMANCE = ("latency_ms",)  # compared apart from the quality metrics (see the module's docstring)
PairKind = Literal["pass_fail", "score"]
Verdict = Literal["better", "worse", "no_significant_difference"]
_FIELDS_SOURCE = "vote_count_accuracy"
K = TypeVar("K", bound=Hashable)


def higher_is_better(label: str) -> bool:
    """Whether a larger value of the metric is an improvement (True unless listed otherwise)."""
    return label not in LOWER_IS_BETTER


def paired_values(a: Mapping[K, Any], b: Mapping[K, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The values of the keys present in both, with a value on both sides, in one key order."""
    keys = [key for key in a if key in b and a[key] is not None and b[key] is not None]
    return (
        np.asarray([float(a[key]) for key in keys], dtype=float),
        np.asarray([float(b[key]) for key in keys], dtype=float),
    )


def mcnemar_exact_p(a: np.ndarray, b: np.ndarray) -> float:
    """McNemar's exact p-value for paired 0/1 outcomes (1.0 when no pair disagrees)."""
    gained = int(np.sum((a == 0) & (b == 1)))
    lost = int(np.sum((a == 1) & (b == 0)))
    if gained + lost == 0:
        return 1.0
    return float(stats.binomtest(gained, gained + lost, 0.5).pvalue)


def wilcoxon_p(differences: np.ndarray) -> float:
    """The Wilcoxon signed-rank p-value of paired differences (1.0 when all are zero)."""
    if differences.size == 0 or not np.any(differences):
        return 1.0
    with warnings.catch_warnings():
        # Small samples make scipy warn that its normal approximation is rough: p is still usable.
        warnings.simplefilter("ignore", UserWarning)
        result = stats.wilcoxon(differences, zero_method="zsplit")
    p_value = float(result.pvalue)
    return p_value if math.isfinite(p_value) else 1.0


def compare_metric(
    a: Mapping[K, Any],
    b: Mapping[K, Any],
    *,
    kind: PairKind,
    higher_better: bool = True,
    alpha: float = ALPHA,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare one metric between two sets of runs, pair by pair.

    Args:
        a: `run_key -> value` of the baseline (booleans or numbers; None values are left out).
        b: `run_key -> value` of the candidate.
        kind: `pass_fail` (McNemar's exact test) or `score` (Wilcoxon signed-rank).
        higher_better: False for metrics where lower is better (errors, latency, cost).
        alpha: the significance level.
        resamples: bootstrap resamples for the interval of the mean difference.
        seed: seeds the bootstrap.

    Returns:
        `{"a_mean", "b_mean", "delta", "ci_low", "ci_high", "p_value", "p_adjusted", "test", "verdict",
        "n_pairs", "discordant_pairs", "nonzero_differences", "records_needed", "mde", "primary"}`;
        `delta` and its interval are b - a; `discordant_pairs` (pairs where one side passed and the
        other did not) is None for scores. Alone, the metric is a family of one: `p_adjusted` is
        `p_value` (`compare_runs` corrects across metrics) and `primary` is False.
    """
    a_values, b_values = paired_values(a, b)
    test = "mcnemar_exact" if kind == "pass_fail" else "wilcoxon_signed_rank"
    n_pairs = int(a_values.size)
    if n_pairs == 0:
        return {
            "a_mean": None,
            "b_mean": None,
            "delta": None,
            "ci_low": None,
            "ci_high": None,
            "p_value": None,
            "p_adjusted": None,
            "test": test,
            "verdict": "no_significant_difference",
            "n_pairs": 0,
            "discordant_pairs": 0 if kind == "pass_fail" else None,
            "nonzero_differences": 0,
            "records_needed": None,
            "mde": None,
            "primary": False,
        }
    differences = b_values - a_values
    p_value = mcnemar_exact_p(a_values, b_values) if kind == "pass_fail" else wilcoxon_p(differences)
    interval = mean_with_ci(differences, resamples=resamples, seed=seed)
    delta = float(differences.mean())
    nonzero = int(np.count_nonzero(differences))
    return {
        "a_mean": float(a_values.mean()),
        "b_mean": float(b_values.mean()),
        "delta": delta,
        "ci_low": interval.ci_low,
        "ci_high": interval.ci_high,
        "p_value": p_value,
        "p_adjusted": p_value,
        "test": test,
        "verdict": verdict(delta, p_value, higher_better=higher_better, alpha=alpha),
        "n_pairs": n_pairs,
        "discordant_pairs": nonzero if kind == "pass_fail" else None,
        "nonzero_differences": nonzero,
        "records_needed": records_needed(a_values, b_values, kind=kind, alpha=alpha),
        "mde": minimum_detectable_effect(a_values, b_values, kind=kind, alpha=alpha),
        "primary": False,
    }


def records_needed(
    a: np.ndarray, b: np.ndarray, *, kind: PairKind, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """About how many pairs would show the observed difference at `alpha` with `power`.

    Pass/fail (Connor 1987, the paired-proportions sample size behind McNemar's test), from the
    observed shares of pairs only b passes (`p01`) and only a passes (`p10`), with
    `psi = p01 + p10` and `d = p01 - p10`:
    `n = (z(1 - alpha/2) * sqrt(psi) + z(power) * sqrt(psi - d**2))**2 / d**2`.
    Scores (the paired t approximation): `n = ((z(1 - alpha/2) + z(power)) * sd / d)**2`, with `d`
    the mean and `sd` the standard deviation of the differences. Both rounded up and never below 6,
    the fewest pairs with which either test can reach p < 0.05.

    Returns:
        The number of pairs, or None when the observed difference is zero (not estimable).
    """
    if a.size == 0:
        return None
    z_alpha, z_power = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    differences = b - a
    if kind == "pass_fail":
        gained = float(np.mean((a == 0) & (b == 1)))
        lost = float(np.mean((a == 1) & (b == 0)))
        psi, d = gained + lost, gained - lost
        if d == 0:
            return None
        n = (z_alpha * math.sqrt(psi) + z_power * math.sqrt(max(0.0, psi - d * d))) ** 2 / d**2
    else:
        d = float(differences.mean())
        if d == 0:
            return None
        sd = float(differences.std(ddof=1)) if differences.size > 1 else 0.0
        n = ((z_alpha + z_power) * sd / d) ** 2
    return max(FEWEST_PAIRS, math.ceil(n - 1e-9))


def verdict(delta: float, p_value: float, *, higher_better: bool = True, alpha: float = ALPHA) -> Verdict:
    """`better`/`worse` for b against a when p < alpha, by the direction of the mean difference."""
    if p_value >= alpha or delta == 0:
        return "no_significant_difference"
    improved = delta > 0 if higher_better else delta < 0
    return "better" if improved else "worse"


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _run_key(run: Any) -> tuple[str, int]:
    return str(_get(run, "entry_id")), int(_get(run, "repetition") or 0)


def _metric_observations(runs: Sequence[Any]) -> tuple[dict[str, dict[tuple[str, int], Any]], dict[str, PairKind]]:
    """`{label: {run_key: value}}` and each label's kind, from the runs' evaluations."""
    observed: dict[str, dict[tuple[str, int], Any]] = {}
    kinds: dict[str, PairKind] = {}
    for run in runs:
        key = _run_key(run)
        for evaluation in _get(run, "evaluations") or []:
            if _get(evaluation, "error") or (_get(evaluation, "details") or {}).get("skipped"):
                continue
            label = str(_get(evaluation, "label"))
            metric_type = _get(evaluation, "metric_type")
            if metric_type == "boolean" and isinstance(_get(evaluation, "value"), bool):
                value: Any = float(_get(evaluation, "value"))
                kinds[label] = "pass_fail"
            elif metric_type == "categorical" and _get(evaluation, "assessment") is not None:
                value = float(_get(evaluation, "assessment") == "pass")
                kinds[label] = "pass_fail"
            elif metric_type == "score" and numeric_value(evaluation) is not None:
                value = numeric_value(evaluation)
                kinds[label] = "score"
            else:
                continue
            observed.setdefault(label, {})[key] = value
        latency = _get(run, "latency_ms")
        if isinstance(latency, int | float) and not isinstance(latency, bool):
            observed.setdefault("latency_ms", {})[key] = float(latency)
            kinds["latency_ms"] = "score"
    return observed, kinds


def _field_observations(runs: Sequence[Any]) -> dict[str, dict[tuple[str, int, str], float]]:
    """`{field_kind: {(entry_id, repetition, path): 1.0 or 0.0}}` from `vote_count_accuracy`'s details."""
    observed: dict[str, dict[tuple[str, int, str], float]] = {}
    for run in runs:
        entry_id, repetition = _run_key(run)
        for evaluation in _get(run, "evaluations") or []:
            if _get(evaluation, "label") != _FIELDS_SOURCE:
                continue
            for path, ok in ((_get(evaluation, "details") or {}).get("fields") or {}).items():
                observed.setdefault(field_kind(path), {})[(entry_id, repetition, path)] = float(bool(ok))
    return observed


def holm_adjusted(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values of one family (statsmodels' `multipletests`).

    Sorted ascending, the i-th smallest of m (from 0) becomes `(m - i) * p`, made non-decreasing
    and capped at 1. A metric without a p-value (no pairs) is not tested, so not in the family.
    """
    tested = [index for index, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = list(p_values)  # a family of one is its own correction
    if len(tested) > 1:
        with _collector_spared():
            corrected = multipletests([p_values[index] for index in tested], alpha=ALPHA, method=CORRECTION)[1]
        for index, p in zip(tested, corrected, strict=True):
            adjusted[index] = float(p)
    return adjusted


@contextlib.contextmanager
def _collector_spared() -> Iterator[None]:
    """statsmodels' Holm calls gc.collect() each time: a full collection walks every object the process
    holds (0.17-0.85 s here with the report's modules loaded, 130,000 objects; two calls a /compare).
    With what exists frozen for the call (gc.freeze and unfreeze are O(1)) it walks nothing. A heap
    frozen already (the worker freezes its own, shared/experiments/worker.py) is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def correct_family(comparisons: Mapping[str, dict[str, Any]], *, alpha: float = ALPHA) -> None:
    """Set each comparison's `p_adjusted` (Holm, across this family) and decide its verdict on it."""
    labels = list(comparisons)
    adjusted = holm_adjusted([comparisons[label]["p_value"] for label in labels])
    for label, p in zip(labels, adjusted, strict=True):
        row = comparisons[label]
        row["p_adjusted"] = p
        if p is not None:
            row["verdict"] = verdict(row["delta"], p, higher_better=higher_is_better(label), alpha=alpha)


def primary_metric(compared: Sequence[str], *, asked: str | None = None, declared: str | None = None) -> str | None:
    """The comparison's primary metric among the `compared` labels (in evaluator order).

    `asked` (a `?primary=`) must be one of them (MalformedRequest, 400, otherwise); `declared` (the
    experiment's `primary_metric`) is used when compared and passed over when not (its evaluator
    recorded nothing comparable); else `vote_count_accuracy` when compared, else the first label.
    """
    if asked is not None:
        if asked not in compared:
            raise MalformedRequest(
                f"No metric {asked!r} in this comparison: primary must be one of "
                f"{', '.join(compared) or 'none (nothing was compared)'}.",
                code="unknown_metric",
                details={"field": "primary", "metrics": list(compared)},
            )
        return asked
    for choice in (declared, DEFAULT_PRIMARY):
        if choice in compared:
            return choice
    return compared[0] if compared else None


def compare_runs(
    a: Sequence[Any],
    b: Sequence[Any],
    *,
    primary: str | None = None,
    declared_primary: str | None = None,
    alpha: float = ALPHA,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare every metric two sets of runs share, and vote-count accuracy per field kind.

    Args:
        a: the baseline's runs: dicts (or objects) with `entry_id`, `repetition`, `evaluations`
            (Evaluation dicts: label, metric_type, value, assessment, details) and optionally
            `latency_ms`.
        b: the candidate's runs, the same shape.
        primary: the primary metric asked for; not among the compared ones is a MalformedRequest.
        declared_primary: the experiment's declared primary, used when compared (`primary_metric`).
        alpha: the family-wise significance level of the verdicts.
        resamples: bootstrap resamples per interval.
        seed: seeds every bootstrap.

    Returns:
        `{"metrics": {label: comparison}, "performance": {"latency_ms": comparison},
        "per_field": {field_kind: comparison}, "primary_metric": label or None, "correction": "holm",
        "alpha": alpha}`, each comparison as `compare_metric` returns it with `p_adjusted` and the
        verdict corrected within its family (metrics; per_field; latency alone). Metrics only one
        side has are left out.
    """
    a_metrics, a_kinds = _metric_observations(a)
    b_metrics, b_kinds = _metric_observations(b)
    compared: dict[str, dict[str, Any]] = {}
    for label in [label for label in a_metrics if label in b_metrics]:  # evaluator order, as recorded
        kind = a_kinds[label] if a_kinds[label] == b_kinds[label] else "score"
        compared[label] = compare_metric(
            a_metrics[label],
            b_metrics[label],
            kind=kind,
            higher_better=higher_is_better(label),
            alpha=alpha,
            resamples=resamples,
            seed=seed,
        )
    performance = {label: compared.pop(label) for label in PERFORMANCE if label in compared}
    chosen = primary_metric(list(compared), asked=primary, declared=declared_primary)
    metrics = {label: compared[label] for label in sorted(compared)}
    correct_family(metrics, alpha=alpha)
    if chosen is not None:
        metrics[chosen]["primary"] = True
    a_fields, b_fields = _field_observations(a), _field_observations(b)
    per_field = {
        kind: compare_metric(
            a_fields[kind], b_fields[kind], kind="pass_fail", alpha=alpha, resamples=resamples, seed=seed
        )
        for kind in sorted(set(a_fields) & set(b_fields))
    }
    correct_family(per_field, alpha=alpha)
    correct_family(performance, alpha=alpha)  # a family of one: p_adjusted is p_value
    return {
        "metrics": metrics,
        "performance": performance,
        "per_field": per_field,
        "primary_metric": chosen,
        "correction": CORRECTION,
        "alpha": alpha,
    }
