"""How often a comparison of two identical variants calls some metric better or worse (A/A).

    python -m bench.aa_simulation [--runs 500] [--metrics 10] [--pairs 40] [--seed 0]

Each simulated A/A comparison builds two sets of runs of the same variant over `--pairs` dataset
entries (one repetition), as the experiment runner records them: `entry_id`, `repetition` and
`evaluations` with `label`, `metric_type`, `value` and `assessment`. Half the metrics are pass/fail
(boolean, McNemar), half scores (Wilcoxon); they are independent of each other. Each entry has
its own difficulty (its pass probability, its expected score) that both sides share, and each
side draws its outcome from it independently, so the pairs are correlated as repeated runs of one
model are, and every true difference is zero.

The comparison is the real `compare_runs` (with a small bootstrap: the intervals play no part in
the verdicts). Prints the share of comparisons with any better/worse: decided on Holm-adjusted
p-values (what /compare does), and on raw p < 0.05 (what it did before), e.g.

    A/A: 500 runs, 10 metrics: any difference 3.8% with Holm, 39.6% uncorrected

Seeded: the same arguments print the same line.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.experiments.comparison import ALPHA, compare_runs

_BOOTSTRAP_RESAMPLES = 30  # the intervals are not what is measured; kept small for speed


@dataclass(frozen=True)
class AAResult:
    runs: int
    metrics: int
    corrected: int  # comparisons with any better/worse on Holm-adjusted p
    uncorrected: int  # comparisons with any raw p < alpha

    @property
    def corrected_share(self) -> float:
        return self.corrected / self.runs

    @property
    def uncorrected_share(self) -> float:
        return self.uncorrected / self.runs

    def line(self) -> str:
        return (
            f"A/A: {self.runs} runs, {self.metrics} metrics: any difference {self.corrected_share:.1%} with Holm, "
            f"{self.uncorrected_share:.1%} uncorrected"
        )


def metric_kinds(metrics: int) -> list[tuple[str, str]]:
    """`(label, metric_type)` for each metric: boolean and score alternately."""
    return [
        (f"aa_pass_{index}", "boolean") if index % 2 == 0 else (f"aa_score_{index}", "score")
        for index in range(metrics)
    ]


def aa_runs(rng: np.random.Generator, *, metrics: int, pairs: int) -> tuple[list[dict], list[dict]]:
    """Two sets of runs of one variant over the same entries: every true difference is zero."""
    kinds = metric_kinds(metrics)
    # Per entry and metric: a pass probability spread over (0, 1), an expected score in [0, 1].
    difficulty = rng.beta(2.0, 2.0, size=(pairs, metrics))
    sides = []
    for _ in range(2):
        runs = []
        for entry in range(pairs):
            evaluations: list[dict[str, Any]] = []
            for index, (label, metric_type) in enumerate(kinds):
                chance = float(difficulty[entry, index])
                if metric_type == "boolean":
                    passed = bool(rng.random() < chance)
                    evaluations.append(_evaluation(label, metric_type, passed, "pass" if passed else "fail"))
                else:
                    score = float(np.clip(chance + rng.normal(0.0, 0.1), 0.0, 1.0))
                    evaluations.append(_evaluation(label, metric_type, score, None))
            runs.append({"entry_id": f"e{entry:04d}", "repetition": 0, "evaluations": evaluations})
        sides.append(runs)
    return sides[0], sides[1]


def _evaluation(label: str, metric_type: str, value: Any, assessment: str | None) -> dict[str, Any]:
    return {"label": label, "metric_type": metric_type, "value": value, "assessment": assessment, "details": {}}


def simulate(*, runs: int, metrics: int, pairs: int, seed: int) -> AAResult:
    """`runs` seeded A/A comparisons through `compare_runs`, counted."""
    rng = np.random.default_rng(seed)
    corrected = uncorrected = 0
    for _ in range(runs):
        a, b = aa_runs(rng, metrics=metrics, pairs=pairs)
        compared = compare_runs(a, b, resamples=_BOOTSTRAP_RESAMPLES)["metrics"]
        corrected += any(row["verdict"] != "no_significant_difference" for row in compared.values())
        uncorrected += any(row["p_value"] is not None and row["p_value"] < ALPHA for row in compared.values())
    return AAResult(runs=runs, metrics=metrics, corrected=corrected, uncorrected=uncorrected)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500, help="A/A comparisons to simulate")
    parser.add_argument("--metrics", type=int, default=10, help="metrics per comparison (half pass/fail, half scores)")
    parser.add_argument("--pairs", type=int, default=40, help="dataset entries per comparison")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.runs, args.metrics, args.pairs) < 1:
        parser.error("--runs, --metrics and --pairs must be at least 1")
    print(simulate(runs=args.runs, metrics=args.metrics, pairs=args.pairs, seed=args.seed).line())


if __name__ == "__main__":
    main()
