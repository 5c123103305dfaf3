"""Does the production-accuracy interval cover the truth? A seeded simulation of review traffic.

Each run draws a week of traffic with a known true accuracy (uniform in [0.70, 0.95]), an
automatic verdict correlated with the truth but biased (it misses wrong readings and doubts some
right ones), flags (the automatic verdict failing, a thumbs down more often on wrong readings), and
a uniform random sample at `--rate` that reviewers decide. It prints, over `--runs` runs, the
coverage and mean width of the 95% PPI++ interval, of the reviewers' verdicts alone on the same
random sample, and the coverage of the naive "every reviewed item" estimate (flagged and sampled):

    python -m bench.production_accuracy --runs 500
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

from shared.evaluation.production_accuracy import human_only, production_accuracy

# The automatic verdict's behaviour: P(auto says right | right) and P(auto says right | wrong).
AUTO_RIGHT_WHEN_RIGHT = 0.93
AUTO_RIGHT_WHEN_WRONG = 0.30
# A person's thumbs down: P(thumbs down | wrong) and P(thumbs down | right).
THUMBS_DOWN_WHEN_WRONG = 0.25
THUMBS_DOWN_WHEN_RIGHT = 0.02


@dataclass(frozen=True)
class SimulationSummary:
    runs: int
    ppi_coverage: float
    ppi_mean_width: float
    human_coverage: float
    human_mean_width: float
    naive_coverage: float
    mean_n_reviewed: float
    undecided_runs: int

    def line(self) -> str:
        return (
            f"runs={self.runs} ppi_coverage={self.ppi_coverage:.3f} ppi_mean_width={self.ppi_mean_width:.4f} "
            f"human_only_coverage={self.human_coverage:.3f} human_only_mean_width={self.human_mean_width:.4f} "
            f"naive_all_reviewed_coverage={self.naive_coverage:.3f} mean_n_reviewed={self.mean_n_reviewed:.1f} "
            f"no_estimate_runs={self.undecided_runs}"
        )


def simulate(*, runs: int, n_total: int, rate: float, seed: int) -> SimulationSummary:
    rng = np.random.default_rng(seed)
    ppi_hits = human_hits = naive_hits = undecided = 0
    ppi_widths: list[float] = []
    human_widths: list[float] = []
    reviewed_counts: list[int] = []
    for _ in range(runs):
        accuracy = rng.uniform(0.70, 0.95)
        right = rng.random(n_total) < accuracy
        auto = rng.random(n_total) < np.where(right, AUTO_RIGHT_WHEN_RIGHT, AUTO_RIGHT_WHEN_WRONG)
        thumbs_down = rng.random(n_total) < np.where(right, THUMBS_DOWN_WHEN_RIGHT, THUMBS_DOWN_WHEN_WRONG)
        flagged = ~auto | thumbs_down
        sampled = rng.random(n_total) < rate  # independent of the flags, as the hash draw is
        truth = float(right.mean())  # this week's accuracy: the share of its extractions read right
        pairs = list(zip(right[sampled].tolist(), auto[sampled].tolist(), strict=True))
        estimate = production_accuracy(n_total=n_total, automatic_right=int(auto.sum()), reviewed=pairs)
        reviewed_counts.append(len(pairs))
        if estimate.estimate is None or estimate.human_only is None:
            undecided += 1
            continue
        assert estimate.ci_low is not None and estimate.ci_high is not None
        ppi_hits += estimate.ci_low <= truth <= estimate.ci_high
        ppi_widths.append(estimate.ci_high - estimate.ci_low)
        people = estimate.human_only
        human_hits += people.ci_low <= truth <= people.ci_high
        human_widths.append(people.width)
        naive = human_only(right[flagged | sampled].astype(float).tolist())
        naive_hits += naive.ci_low <= truth <= naive.ci_high
    decided = runs - undecided
    return SimulationSummary(
        runs=runs,
        ppi_coverage=ppi_hits / decided if decided else math.nan,
        ppi_mean_width=float(np.mean(ppi_widths)) if ppi_widths else math.nan,
        human_coverage=human_hits / decided if decided else math.nan,
        human_mean_width=float(np.mean(human_widths)) if human_widths else math.nan,
        naive_coverage=naive_hits / decided if decided else math.nan,
        mean_n_reviewed=float(np.mean(reviewed_counts)),
        undecided_runs=undecided,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--n-total", type=int, default=20_000, help="extractions a week")
    parser.add_argument("--rate", type=float, default=0.02, help="REVIEW_RANDOM_SAMPLE_RATE")
    parser.add_argument("--seed", type=int, default=27)
    args = parser.parse_args()
    print(simulate(runs=args.runs, n_total=args.n_total, rate=args.rate, seed=args.seed).line())


if __name__ == "__main__":
    main()
