"""Production accuracy with an honest interval: prediction-powered inference (PPI++) for a mean.

Reviewers mostly see flagged extractions, so their verdicts alone are a biased sample; the online
evaluators judge every extraction, biased their own way. PPI (Angelopoulos et al., "Prediction-
powered inference", Science 2023; PPI++, Angelopoulos, Duchi and Zrnic 2023) combines both: the
automatic verdict's mean over all N extractions, rectified by the mean of (human - automatic) on
the n extractions a person reviewed from a *uniform random sample* (queue reason `random_sample`):

    theta = lam * mean_N(auto) + mean_n(human - lam * auto)
    var   = lam^2 * var_N(auto) / N + var_n(human - lam * auto) / n

with the power-tuning `lam = cov_n(human, auto) / ((1 + n/N) * var_n(auto))` clipped to [0, 1]:
lam = 1 is plain PPI, lam = 0 the reviewers' verdicts alone, so the interval is never much wider
than theirs and narrower the more the automatic verdict tracks them. The interval is normal, at
95%, clipped to [0, 1]. Pure: counts and verdicts in, numbers out (bench/production_accuracy.py
checks its coverage by simulation).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.models import Evaluation

CONFIDENCE = 0.95
Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile
MIN_REVIEWED = 10  # below this a normal interval on the reviewed sample is not worth printing
METHOD = "ppi++"
# The automatic verdict: an extraction is right when it succeeded and none of these online
# evaluators failed it (a cross check that is off or errored does not count against it).
AUTOMATIC_VERDICT_EVALUATORS = ("schema_valid", "consistency", "output_classification", "cross_check")


def automatic_verdict(*, succeeded: bool, evaluations: Iterable[Evaluation]) -> bool:
    """Whether the online evaluators call an extraction right (the PPI's prediction)."""
    return succeeded and not any(
        e.label in AUTOMATIC_VERDICT_EVALUATORS and e.assessment == "fail" and e.error is None for e in evaluations
    )


def drawn_for_random_sample(extraction_id: str, rate: float) -> bool:
    """The uniform random sample's draw: a hash of the id against the rate, so it is independent of
    every flag and a retry of the same extraction draws the same."""
    digest = hashlib.sha256(f"random_sample:{extraction_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclass(frozen=True)
class Interval:
    estimate: float
    ci_low: float
    ci_high: float

    @property
    def width(self) -> float:
        return self.ci_high - self.ci_low


@dataclass(frozen=True)
class AccuracyEstimate:
    """The estimate (None with a `reason` when there is too little to say), its 95% interval, and
    the reviewers' verdicts alone on the same sample (`human_only`) for comparison."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n_reviewed: int
    n_total: int
    method: str = METHOD
    confidence: float = CONFIDENCE
    reason: str | None = None
    power_tuning: float | None = None  # lam
    automatic_mean: float | None = None
    human_only: Interval | None = None

    def body(self) -> dict[str, Any]:
        body = asdict(self)
        body["human_only"] = asdict(self.human_only) if self.human_only else None
        return body


def production_accuracy(
    *, n_total: int, automatic_right: int, reviewed: Sequence[tuple[bool, bool]]
) -> AccuracyEstimate:
    """PPI++ estimate of the share of extractions that are right.

    Args:
        n_total: every extraction in the window (N).
        automatic_right: how many of them the automatic verdict calls right.
        reviewed: (human_right, automatic_right) of each decided random-sample extraction (n);
            they are among the N.
    """
    n = len(reviewed)
    if not 0 <= automatic_right <= n_total:
        raise ValueError("automatic_right must be between 0 and n_total")
    automatic_mean = automatic_right / n_total if n_total else None
    if n_total == 0:
        return AccuracyEstimate(None, None, None, n, n_total, reason="no extraction in this window")
    if n < MIN_REVIEWED:
        return AccuracyEstimate(
            None,
            None,
            None,
            n,
            n_total,
            automatic_mean=automatic_mean,
            reason=f"only {n} random-sample extraction(s) reviewed; at least {MIN_REVIEWED} are needed",
        )
    human = [1.0 if right else 0.0 for right, _ in reviewed]
    auto = [1.0 if right else 0.0 for _, right in reviewed]
    var_auto_n = _variance(auto)
    lam = 0.0
    if var_auto_n > 0:
        lam = _covariance(human, auto) / ((1 + n / n_total) * var_auto_n)
        lam = min(1.0, max(0.0, lam))
    assert automatic_mean is not None
    var_auto_all = automatic_mean * (1 - automatic_mean) * (n_total / (n_total - 1)) if n_total > 1 else 0.0
    rectifier = [h - lam * a for h, a in zip(human, auto, strict=True)]
    theta = lam * automatic_mean + _mean(rectifier)
    variance = lam * lam * var_auto_all / n_total + _variance(rectifier) / n
    low, high = _normal_interval(theta, variance)
    return AccuracyEstimate(
        estimate=_clip(theta),
        ci_low=low,
        ci_high=high,
        n_reviewed=n,
        n_total=n_total,
        power_tuning=round(lam, 4),
        automatic_mean=automatic_mean,
        human_only=human_only(human),
    )


def human_only(human: Sequence[float]) -> Interval:
    """The reviewers' verdicts alone: their mean with a normal 95% interval (the classical one)."""
    mean = _mean(human)
    low, high = _normal_interval(mean, _variance(human) / len(human))
    return Interval(_clip(mean), low, high)


def _normal_interval(center: float, variance: float) -> tuple[float, float]:
    half = Z_95 * math.sqrt(max(variance, 0.0))
    return _clip(center - half), _clip(center + half)


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _variance(values: Sequence[float]) -> float:
    """The sample variance (n - 1)."""
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def _covariance(xs: Sequence[float], ys: Sequence[float]) -> float:
    if len(xs) < 2:
        return 0.0
    mx, my = _mean(xs), _mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (len(xs) - 1)
