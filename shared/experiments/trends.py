"""A schedule's runs over time: per metric, each run's mean and interval, its verdict against the
baseline it ran with, and whether it alerted (`GET /experiments/schedules/{id}/trend`).

Means come from each experiment's stored summary; verdicts are the paired tests of `compare_runs`
(the regression alert's own), computed on request from the stored runs: each experiment's runs
are read once, so a schedule comparing each run with the previous one reads every run once.
Experiments are read newest first in pages (each Firestore stream stays well inside its
deadline, shared/deadlines.py) and answered oldest first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.errors import InvalidField, NotFound
from shared.models import AlertThresholds, ExperimentRecord, RunRecord
from shared.ports.experiments import AlertStore, ExperimentListing, ScheduleLookup

logger = logging.getLogger(__name__)

DEFAULT_POINTS = 30
MAX_POINTS = 100  # each point reads its runs and its baseline's: a bounded request
_PAGE = 50  # experiments per Firestore read
FAITHFULNESS_METRIC = "ragas_faithfulness"

# {variant: {label: verdict}} of one experiment against its baseline
Verdicts = dict[str, dict[str, str]]


def threshold_for(label: str, thresholds: AlertThresholds) -> float | None:
    """The alert threshold a schedule holds `label` to: a floor under its mean, or None."""
    if label == thresholds.quality_metric and thresholds.min_quality is not None:
        return thresholds.min_quality
    if label == FAITHFULNESS_METRIC:
        return thresholds.min_faithfulness
    return None


def paired_variants(experiment: ExperimentRecord, baseline: ExperimentRecord) -> dict[str, str]:
    """Each of `experiment`'s variants -> the baseline's it is compared with, as the regression
    alert pairs them: by name, or the only variant of each."""
    theirs = {v.name for v in baseline.variants}
    pairs = {v.name: v.name for v in experiment.variants if v.name in theirs}
    if not pairs and len(experiment.variants) == len(baseline.variants) == 1:
        pairs = {experiment.variants[0].name: baseline.variants[0].name}
    return pairs


def compare_with_baseline(
    experiment: ExperimentRecord,
    baseline: ExperimentRecord,
    runs_of: Callable[[str], list[RunRecord]],
) -> dict[str, dict[str, Any]]:
    """{variant: compare_runs(baseline's paired variant's runs, this variant's runs)["metrics"]}."""
    from shared.experiments.comparison import compare_runs  # numpy and scipy

    base_runs, runs = runs_of(baseline.experiment_id), runs_of(experiment.experiment_id)
    return {
        mine: compare_runs([r for r in base_runs if r.variant == theirs], [r for r in runs if r.variant == mine])[
            "metrics"
        ]
        for mine, theirs in paired_variants(experiment, baseline).items()
    }


def trend_points(experiment: ExperimentRecord, verdicts: Verdicts | None, alerted: bool) -> list[tuple[str, dict]]:
    """(label, point) for every metric with a mean in each variant of the experiment's summary.

    `verdicts` is None when the run had no baseline to compare with (none, gone or unfinished)."""
    points = []
    for variant in experiment.variants:
        for label, stats in sorted((experiment.summary.get(variant.name) or {}).items()):
            if not isinstance(stats, dict) or stats.get("mean") is None:
                continue
            verdict = None if verdicts is None else (verdicts.get(variant.name) or {}).get(label)
            point = {
                "experiment_id": experiment.experiment_id,
                "variant": variant.name,
                "slot": experiment.slot,
                "created_at": experiment.created_at.isoformat(),
                "status": experiment.status,
                "mean": stats["mean"],
                "ci_low": stats.get("ci_low"),
                "ci_high": stats.get("ci_high"),
                "n": stats.get("n"),
                "verdict": verdict,
                "alert": alerted,
            }
            points.append((label, point))
    return points


def shape_trend(
    schedule_id: str, thresholds: AlertThresholds, points: list[tuple[str, dict]], *, metric: str | None
) -> dict[str, Any]:
    """The answer: {label: {higher_is_better, threshold, points}} in the order the points came."""
    from shared.experiments.summary import LOWER_IS_BETTER  # numpy and scipy, not on the import path

    metrics: dict[str, dict[str, Any]] = {}
    for label, point in points:
        if metric is not None and label != metric:
            continue
        entry = metrics.setdefault(
            label,
            {
                "higher_is_better": label not in LOWER_IS_BETTER,
                "threshold": threshold_for(label, thresholds),
                "points": [],
            },
        )
        entry["points"].append(point)
    return {"schedule_id": schedule_id, "metrics": dict(sorted(metrics.items()))}


class TrendQueries:
    def __init__(self, *, experiments: ExperimentListing, schedules: ScheduleLookup, alerts: AlertStore) -> None:
        self._experiments = experiments
        self._schedules = schedules
        self._alerts = alerts

    def trend(self, schedule_id: str, *, metric: str | None, limit: int) -> dict[str, Any]:
        schedule = self._schedules.get(schedule_id)  # NotFound: "No schedule 'x'."
        found = self.recent_experiments(schedule_id, limit=limit)
        runs: dict[str, list[RunRecord]] = {}

        def runs_of(experiment_id: str) -> list[RunRecord]:
            if experiment_id not in runs:
                runs[experiment_id] = list(self._experiments.runs(experiment_id))
            return runs[experiment_id]

        by_id = {e.experiment_id: e for e in found}
        points = []
        for experiment in found:
            verdicts = self._verdicts(experiment, by_id, runs_of)
            points += trend_points(experiment, verdicts, bool(self._alerts.for_experiment(experiment.experiment_id)))
        if metric is not None and points and all(label != metric for label, _ in points):
            measured = sorted({label for label, _ in points})
            raise InvalidField(
                f"Schedule {schedule_id}'s runs measure no metric {metric!r}; they measure {', '.join(measured)}.",
                details={"field": "metric", "metrics": measured},
            )
        return shape_trend(schedule_id, schedule.thresholds, points, metric=metric)

    def recent_experiments(self, schedule_id: str, *, limit: int) -> list[ExperimentRecord]:
        """The schedule's `limit` newest experiments, oldest first, read a page at a time."""
        newest_first: list[ExperimentRecord] = []
        while len(newest_first) < limit:
            want = min(_PAGE, limit - len(newest_first))
            after = newest_first[-1].experiment_id if newest_first else None
            page = self._experiments.listing(schedule_id=schedule_id, after=after, limit=want)
            newest_first += page
            if len(page) < want:
                break
        return newest_first[::-1]

    def _verdicts(
        self,
        experiment: ExperimentRecord,
        known: dict[str, ExperimentRecord],
        runs_of: Callable[[str], list[RunRecord]],
    ) -> Verdicts | None:
        baseline_id = experiment.baseline_experiment_id
        if experiment.status != "completed" or not baseline_id:
            return None
        baseline = known.get(baseline_id)
        if baseline is None:
            try:
                baseline = self._experiments.get(baseline_id)
            except NotFound:
                logger.warning("baseline %s of %s is gone", baseline_id, experiment.experiment_id)
                return None
        if baseline.status != "completed":
            return None
        compared = compare_with_baseline(experiment, baseline, runs_of)
        return {
            variant: {label: metric["verdict"] for label, metric in metrics.items()}
            for variant, metrics in compared.items()
        }
