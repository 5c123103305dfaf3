"""An experiment's numbers: per-variant summaries with intervals, and paired comparisons."""

from __future__ import annotations

from typing import Any

from shared.experiments.comparison import compare_runs
from shared.experiments.summary import summarise_variant
from shared.models import ExperimentRecord, RunRecord


def summarise_experiment(experiment: ExperimentRecord, runs: list[RunRecord]) -> dict[str, Any]:
    """`{variant: {metric: {"mean", "ci_low", "ci_high", "n", ...}}}` (API.md's summary)."""
    summary = {}
    for variant in experiment.variants:
        mine = [run for run in runs if run.variant == variant.name]
        summary[variant.name] = summarise_variant(
            [run.evaluations for run in mine],
            [run.latency_ms for run in mine],
            [run.usage for run in mine],
            variant.model,
        )
    return summary


def compare_experiment_runs(
    runs_a: list[RunRecord], runs_b: list[RunRecord], *, primary: str | None = None, declared_primary: str | None = None
) -> dict[str, Any]:
    """Paired record by record (entry and repetition): b against a, per metric and per field, the
    verdicts Holm-corrected, the primary metric marked (`compare_runs`; latency under `performance`).

    Args:
        runs_a: the baseline's runs.
        runs_b: the candidate's runs.
        primary: a `?primary=` label; one that was not compared is a 400.
        declared_primary: the experiment's `primary_metric`, used when it was compared.
    """
    return compare_runs(runs_a, runs_b, primary=primary, declared_primary=declared_primary)


def baseline_variant(baseline: ExperimentRecord, wanted: str | None) -> str | None:
    """The baseline experiment's variant to compare with: the one named `wanted`, else its only
    variant; None when it has several and none is named so."""
    names = [v.name for v in baseline.variants]
    if wanted in names:
        return wanted
    return names[0] if len(names) == 1 else None
