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


def compare_experiment_runs(runs_a: list[RunRecord], runs_b: list[RunRecord]) -> dict[str, Any]:
    """Paired record by record (entry and repetition): b against a, per metric and per field.

    Latency is reported apart, under `performance`: it depends on the machine's load while the
    runs overlapped, so its verdict says something about the run, not about the variants' quality.
    """
    compared = compare_runs(runs_a, runs_b)
    latency = compared["metrics"].pop("latency_ms", None)
    compared["performance"] = {"latency_ms": latency} if latency else {}
    return compared


def baseline_variant(baseline: ExperimentRecord, wanted: str | None) -> str | None:
    """The baseline experiment's variant to compare with: the one named `wanted`, else its only
    variant; None when it has several and none is named so."""
    names = [v.name for v in baseline.variants]
    if wanted in names:
        return wanted
    return names[0] if len(names) == 1 else None
