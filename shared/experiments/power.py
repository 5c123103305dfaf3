"""The minimum detectable effect of a paired comparison: what its pairs could have shown.

`records_needed` (comparison.py) asks "how many pairs would show the difference we saw?"; this asks
the inverse for the pairs at hand: "how large would a true difference have to be for this comparison
to call it, at alpha 0.05 with 80% power?". A `no_significant_difference` with an MDE of 2 pp says
more than one with an MDE of 30 pp: the first rules out large changes, the second rules out little.

The formulas are `records_needed`'s solved for the difference, so the two agree: at `n` pairs the
MDE is the difference whose `records_needed` is `n`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

# Neither exact McNemar nor Wilcoxon (two-sided) can reach p < 0.05 on fewer than 6 pairs.
FEWEST_PAIRS = 6
_BISECTION_STEPS = 60  # halves [0, 1] to below 1e-18: far finer than any share of pairs


def minimum_detectable_effect(
    a: np.ndarray, b: np.ndarray, *, kind: str, alpha: float = 0.05, power: float = 0.80
) -> float | None:
    """The smallest true difference (b - a, either direction, the metric's own units) that `len(a)`
    pairs detect at two-sided `alpha` with `power`.

    Pass/fail (Connor 1987, McNemar's sample size, solved for `d`): the smallest share `d` with
    `sqrt(n) * d >= z(1 - alpha/2) * sqrt(psi) + z(power) * sqrt(psi - d**2)`, where `psi` is the share
    of discordant pairs. A true difference `d` needs at least a share `d` of discordant pairs, so
    `psi = max(observed share, d)`: with no pair discordant this is the difference where every
    discordant pair goes one way. Found by bisection (the condition changes sign once on [0, 1]).
    In pass-rate units (0.05 = 5 percentage points).

    Scores (the paired t approximation, solved for `d`): `d = (z(1 - alpha/2) + z(power)) * sd / sqrt(n)`,
    `sd` the standard deviation of the paired differences.

    Both use the normal approximation, a little optimistic on few pairs. Verdicts are decided on
    Holm-adjusted p-values, which hold a metric among m to a level between alpha / m and alpha by
    its rank: the MDE at alpha is what the metric could show on its own, a lower bound in a family.

    Returns:
        The MDE, or None when fewer than 6 pairs (no test can reach p < 0.05), when no difference is
        detectable at all with these pairs, or for scores whose differences have no spread (sd 0:
        nothing to estimate the noise from).
    """
    n = int(a.size)
    if n < FEWEST_PAIRS:
        return None
    z_alpha, z_power = float(stats.norm.ppf(1 - alpha / 2)), float(stats.norm.ppf(power))
    if kind == "pass_fail":
        observed = float(np.mean(a != b))
        return _pass_fail_mde(n, observed, z_alpha, z_power)
    differences = b - a
    if np.ptp(differences) == 0:  # np.std would give float noise (1e-17), not the zero it is
        return None
    sd = float(np.std(differences, ddof=1))
    return (z_alpha + z_power) * sd / math.sqrt(n)


def _pass_fail_mde(n: int, observed_discordance: float, z_alpha: float, z_power: float) -> float | None:
    def detectable(d: float) -> bool:
        psi = max(observed_discordance, d)
        return math.sqrt(n) * d >= z_alpha * math.sqrt(psi) + z_power * math.sqrt(max(0.0, psi - d * d))

    if not detectable(1.0):
        return None
    low, high = 0.0, 1.0
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        low, high = (low, middle) if detectable(middle) else (middle, high)
    return high
