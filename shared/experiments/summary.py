"""Summary statistics over a whole experiment: means with bootstrap confidence intervals, pass
rates, per-field accuracy, latency percentiles, token totals and an estimated cost.

`summarise_variant` gives the shape `GET /experiments/{id}` answers for one variant:
`{label: {"mean", "ci_low", "ci_high", "n", ...}}`, one entry per numeric or boolean metric
(booleans as 0/1), per class of a categorical metric (`"completeness=excellent"`: the share of
runs in that class), and for `latency_ms`, `input_tokens`, `output_tokens` and `cost_usd` (the
variant's model), plus `evaluator_cost_usd` when evaluators called a model (llm_judge).
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from shared.evaluation.llm_judge import evaluations_cost_usd
from shared.llm.pricing import estimated_cost_usd

# Above this many values the bootstrap costs more than it adds (BCa's jackknife is quadratic in n,
# every resampling linear: 2,000 of them were three quarters of a 20,000-run summary's time), and
# the mean's sampling distribution is normal to within the bootstrap's own noise: the normal
# interval, mean +/- z * sd / sqrt(n), is used there.
_BCA_MAX_N = 5000

LOWER_IS_BETTER = frozenset(
    {"count_error", "latency_ms", "input_tokens", "output_tokens", "cost_usd", "evaluator_cost_usd"}
)

_CANDIDATE_PATH = re.compile(r"^vote_results\[.*\](\.[A-Za-z_]+)$")


@dataclass(frozen=True)
class MeanCI:
    """A mean with its confidence interval; all None when there is no value (`n == 0`)."""

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(values: Iterable[Any]) -> np.ndarray:
    numbers = [float(v) for v in values if v is not None and not isinstance(v, str)]
    array = np.asarray(numbers, dtype=float)
    return array[np.isfinite(array)]


def mean_with_ci(
    values: Iterable[float | bool | None], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> MeanCI:
    """The mean and a bootstrap confidence interval (BCa, percentile when BCa cannot be had; the
    normal interval above _BCA_MAX_N values).

    Args:
        values: the observations; None, NaN and infinities are dropped, booleans count as 0/1.
        confidence: the interval's confidence level.
        resamples: bootstrap resamples.
        seed: seeds the resampling, so a summary is reproducible.

    Returns:
        MeanCI; with one value, or values all equal, the interval is that value.
    """
    data = _finite(values)
    n = int(data.size)
    if n == 0:
        return MeanCI(None, None, None, 0)
    mean = float(data.mean())
    if n == 1 or np.ptp(data) == 0:
        return MeanCI(mean, mean, mean, n)
    if n > _BCA_MAX_N:
        half = float(stats.norm.ppf(0.5 + confidence / 2) * data.std(ddof=1) / math.sqrt(n))
        return MeanCI(mean, mean - half, mean + half, n)
    low, high = _bootstrap_interval(data, confidence=confidence, resamples=resamples, seed=seed)
    return MeanCI(mean, low, high, n)


def _bootstrap_interval(data: np.ndarray, *, confidence: float, resamples: int, seed: int) -> tuple[float, float]:
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = stats.bootstrap(
                (data,),
                np.mean,
                confidence_level=confidence,
                n_resamples=resamples,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        # BCa warns (and may give NaN) on degenerate resampling, e.g. a single differing value.
        if math.isfinite(low) and math.isfinite(high) and not caught:
            break
    if not (math.isfinite(low) and math.isfinite(high)):
        low = high = float(data.mean())
    # An interval always contains the mean it describes (BCa can miss it by rounding).
    mean = float(data.mean())
    return min(low, mean), max(high, mean)


def pass_rate(assessments: Iterable[str | None], *, confidence: float = 0.95) -> MeanCI:
    """The share of `"pass"` among the assessments given (None ones are left out), with a Wilson
    score interval."""
    given = [a for a in assessments if a is not None]
    n = len(given)
    if n == 0:
        return MeanCI(None, None, None, 0)
    passed = sum(1 for a in given if a == "pass")
    interval = stats.binomtest(passed, n).proportion_ci(confidence_level=confidence, method="wilson")
    return MeanCI(passed / n, float(interval.low), float(interval.high), n)


def field_kind(path: str) -> str:
    """The kind of a field path: candidates' fields are grouped (`vote_results[*].vote_count`),
    other paths are their own kind (`ballot_stats.valid_votes`, `form.constituency_name`)."""
    match = _CANDIDATE_PATH.match(path)
    return f"vote_results[*]{match.group(1)}" if match else path


def field_outcomes_by_kind(fields_per_run: Iterable[Mapping[str, bool] | None]) -> dict[str, list[bool]]:
    """Every field outcome, grouped by field kind."""
    grouped: dict[str, list[bool]] = defaultdict(list)
    for fields in fields_per_run:
        for path, ok in (fields or {}).items():
            grouped[field_kind(path)].append(bool(ok))
    return dict(grouped)


def per_field_accuracy(fields_per_run: Iterable[Mapping[str, bool] | None]) -> dict[str, float]:
    """Accuracy per field kind, pooled over runs and candidates.

    Args:
        fields_per_run: each run's `details["fields"]` (`{path: right?}`), as `vote_count_accuracy`
            records them.

    Returns:
        `{field_kind: share right}`, e.g. `{"vote_results[*].vote_count": 0.97, ...}`.
    """
    return {kind: float(np.mean(outcomes)) for kind, outcomes in sorted(field_outcomes_by_kind(fields_per_run).items())}


def latency_percentiles(values_ms: Iterable[float | None]) -> dict[str, float | None]:
    """p50, p95 and mean of the latencies given (None when there is none)."""
    data = _finite(values_ms)
    if data.size == 0:
        return {"p50": None, "p95": None, "mean": None}
    p50, p95 = np.percentile(data, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "mean": float(data.mean())}


def _usage_value(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
    return int(value or 0)


def token_totals(usages: Iterable[Any]) -> dict[str, int]:
    """Summed `input_tokens`, `output_tokens` and `total_tokens` of TokenUsage objects or dicts."""
    totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    for usage in usages:
        if usage is None:
            continue
        for name in totals:
            totals[name] += _usage_value(usage, name)
    return totals


def _field(evaluation: Any, name: str) -> Any:
    return evaluation.get(name) if isinstance(evaluation, Mapping) else getattr(evaluation, name, None)


def numeric_value(evaluation: Any) -> float | None:
    """An evaluation's value as a number: booleans as 0/1, scores as they are, else None."""
    value = _field(evaluation, "value")
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def agreement_coincidence(runs: Sequence[tuple[bool, bool]]) -> dict[str, Any]:
    """How often two readers' agreement coincides with the output being right.

    Args:
        runs: (the readers agreed, the output was right against the expected one), per run.

    Returns:
        `agreement_rate`, `right_when_agreeing` (precision of agreement as a sign of a right
        output), `wrong_when_disagreeing`, and `wrong_caught` (the share of wrong outputs the
        disagreement flagged); None where there is nothing to divide by.
    """

    def share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    agreed = [right for agree, right in runs if agree]
    disagreed = [right for agree, right in runs if not agree]
    wrong = [agree for agree, right in runs if not right]
    return {
        "agreement_rate": share(len(agreed), len(runs)),
        "right_when_agreeing": share(sum(agreed), len(agreed)),
        "wrong_when_disagreeing": share(len(disagreed) - sum(disagreed), len(disagreed)),
        "wrong_caught": share(sum(1 for agree in wrong if not agree), len(wrong)),
    }


def summarise_variant(
    evaluations_per_run: Sequence[Sequence[Any]],
    latencies: Sequence[float | None] = (),
    usages: Sequence[Any] = (),
    model: str | None = None,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """One variant's summary over all its runs.

    Args:
        evaluations_per_run: each run's evaluations (Evaluation models or their dicts).
        latencies: each run's latency in ms.
        usages: each run's token usage (TokenUsage or dict), aligned with the runs.
        model: the variant's model, for the cost estimate.
        confidence: the intervals' confidence level.
        resamples: bootstrap resamples per interval.
        seed: seeds every bootstrap.

    Returns:
        `{label: {"mean", "ci_low", "ci_high", "n", ...}}`. A metric's entry also has `pass_rate`
        (when it has assessments), `skipped` and `errors` (runs where it could not run or raised);
        a categorical metric gives one `label=class` entry per class; `latency_ms` adds `p50` and
        `p95`; token and cost entries add `total`.
    """

    def interval(observations: Iterable[Any]) -> dict[str, Any]:
        return mean_with_ci(observations, confidence=confidence, resamples=resamples, seed=seed).as_dict()

    values: dict[str, list[float]] = defaultdict(list)
    assessments: dict[str, list[str]] = defaultdict(list)
    classes: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    # (agreed, right) per run of an evaluator that says whether the output was right (`cross_check`)
    agreement: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for evaluations in evaluations_per_run:
        for evaluation in evaluations:
            label = str(_field(evaluation, "label"))
            details = _field(evaluation, "details") or {}
            if _field(evaluation, "error"):
                counts[label]["errors"] += 1
                continue
            if details.get("skipped"):
                counts[label]["skipped"] += 1
                continue
            if _field(evaluation, "assessment") is not None:
                assessments[label].append(_field(evaluation, "assessment"))
                if isinstance(details.get("primary_right"), bool):
                    agreement[label].append((_field(evaluation, "assessment") == "pass", details["primary_right"]))
            if _field(evaluation, "metric_type") == "categorical" and isinstance(_field(evaluation, "value"), str):
                classes[label].append(_field(evaluation, "value"))
                continue
            number = numeric_value(evaluation)
            if number is not None:
                values[label].append(number)

    summary: dict[str, dict[str, Any]] = {}
    for label in sorted(set(values) | set(counts) | set(assessments)):
        if label in classes:
            continue
        entry = interval(values.get(label, []))
        if assessments.get(label):
            entry["pass_rate"] = pass_rate(assessments[label]).mean
        entry["skipped"] = counts[label]["skipped"]
        entry["errors"] = counts[label]["errors"]
        if agreement.get(label):
            entry |= agreement_coincidence(agreement[label])
        summary[label] = entry
    for label, seen in sorted(classes.items()):
        for name in sorted(set(seen)):
            summary[f"{label}={name}"] = interval([v == name for v in seen])

    if latencies:
        summary["latency_ms"] = interval(latencies) | {
            k: v for k, v in latency_percentiles(latencies).items() if k != "mean"
        }
    if usages:
        for name in ("input_tokens", "output_tokens"):
            per_run = [_usage_value(u, name) for u in usages if u is not None]
            summary[name] = interval(per_run) | {"total": sum(per_run)}
        costs = [
            estimated_cost_usd(model, _usage_value(u, "input_tokens"), _usage_value(u, "output_tokens"))
            for u in usages
            if u is not None and model is not None
        ]
        if costs and all(c is not None for c in costs):
            summary["cost_usd"] = interval(costs) | {"total": sum(c for c in costs if c)}
    # What the evaluators spent on models (llm_judge's calls), apart from the variant's own cost.
    evaluator_costs = [evaluations_cost_usd(evaluations) for evaluations in evaluations_per_run]
    if any(evaluator_costs):
        summary["evaluator_cost_usd"] = interval(evaluator_costs) | {"total": sum(evaluator_costs)}
    return summary
