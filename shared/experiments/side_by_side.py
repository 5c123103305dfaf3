"""Several experiments side by side (`GET /experiments/compare?ids=A,B,C&baseline=A`).

Each experiment's variant is one column: the experiment's id when it has one variant, else
`experiment_id:variant` (ids never hold a colon). Per metric, each column's mean and interval
from the stored summary; against the baseline (the first id unless named), each other column's
paired comparison (`compare_runs`, the regression alert's tests) with the baseline's variant of
the same name, or its only one.
"""

from __future__ import annotations

import re
from typing import Any

from shared.errors import MalformedRequest, NotFound
from shared.models import EXPERIMENT_ID_PATTERN, ExperimentRecord, RunRecord
from shared.ports.experiments import ExperimentHistory

MIN_IDS, MAX_IDS = 2, 10
_ID = re.compile(EXPERIMENT_ID_PATTERN)
_COMPARED = ("delta", "ci_low", "ci_high", "p_value", "p_adjusted", "verdict", "n_pairs", "test")


def parse_ids(raw: str | None) -> list[str]:
    """`A,B,C` -> the ids, each once; 400 with a sentence for too few, too many or repeats."""
    ids = [part.strip() for part in (raw or "").split(",") if part.strip()]
    if not MIN_IDS <= len(ids) <= MAX_IDS:
        raise MalformedRequest(
            f"Give {MIN_IDS} to {MAX_IDS} experiment ids as ?ids=ID1,ID2 (got {len(ids)}).", details={"field": "ids"}
        )
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise MalformedRequest(f"Experiment {repeated[0]} is named twice in ids.", details={"field": "ids"})
    return ids


def column_of(experiment: ExperimentRecord, variant: str) -> str:
    return experiment.experiment_id if len(experiment.variants) == 1 else f"{experiment.experiment_id}:{variant}"


def columns(experiments: list[ExperimentRecord]) -> list[dict[str, str]]:
    return [
        {"column": column_of(e, v.name), "experiment_id": e.experiment_id, "variant": v.name}
        for e in experiments
        for v in e.variants
    ]


def summary_table(experiments: list[ExperimentRecord]) -> dict[str, dict[str, dict[str, Any]]]:
    """{label: {column: {mean, ci_low, ci_high, n}}} from the stored summaries."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for experiment in experiments:
        for variant in experiment.variants:
            for label, stats in (experiment.summary.get(variant.name) or {}).items():
                if isinstance(stats, dict) and stats.get("mean") is not None:
                    table.setdefault(label, {})[column_of(experiment, variant.name)] = {
                        key: stats.get(key) for key in ("mean", "ci_low", "ci_high", "n")
                    }
    return dict(sorted(table.items()))


def baseline_variant_for(baseline: ExperimentRecord, variant: str) -> str | None:
    names = [v.name for v in baseline.variants]
    if variant in names:
        return variant
    return names[0] if len(names) == 1 else None


class SideBySide:
    def __init__(self, *, experiments: ExperimentHistory) -> None:
        self._experiments = experiments

    def compare(self, ids: list[str], *, baseline_id: str | None) -> dict[str, Any]:
        from shared.experiments.comparison import compare_runs  # numpy and scipy

        baseline_id = baseline_id or ids[0]
        if baseline_id not in ids:
            raise MalformedRequest(f"baseline {baseline_id} is not one of ids.", details={"field": "baseline"})
        for experiment_id in ids:
            if not _ID.fullmatch(experiment_id):
                raise NotFound(f"No experiment {experiment_id!r}.", details={"experiment_id": experiment_id})
        experiments = [self._experiments.get(i) for i in ids]  # NotFound: "No experiment 'x'."
        baseline = experiments[ids.index(baseline_id)]
        runs: dict[str, list[RunRecord]] = {}

        def runs_of(experiment_id: str) -> list[RunRecord]:
            if experiment_id not in runs:
                runs[experiment_id] = list(self._experiments.runs(experiment_id))
            return runs[experiment_id]

        vs_baseline: dict[str, dict[str, dict[str, Any]]] = {}
        for experiment in experiments:
            if experiment.experiment_id == baseline_id:
                continue
            for variant in experiment.variants:
                theirs = baseline_variant_for(baseline, variant.name)
                if theirs is None:
                    continue
                compared = compare_runs(
                    [r for r in runs_of(baseline_id) if r.variant == theirs],
                    [r for r in runs_of(experiment.experiment_id) if r.variant == variant.name],
                )["metrics"]
                for label, metric in compared.items():
                    vs_baseline.setdefault(label, {})[column_of(experiment, variant.name)] = {
                        key: metric[key] for key in _COMPARED if key in metric
                    }
        return {
            "experiments": [
                {
                    "experiment_id": e.experiment_id,
                    "name": e.name,
                    "status": e.status,
                    "dataset": {"name": e.dataset_name, "version": e.dataset_version},
                    "created_at": e.created_at.isoformat(),
                    "schedule_id": e.schedule_id,
                    "variants": [v.model_dump(mode="json") for v in e.variants],
                }
                for e in experiments
            ],
            "columns": columns(experiments),
            "baseline": {
                "experiment_id": baseline_id,
                "columns": [column_of(baseline, v.name) for v in baseline.variants],
            },
            "metrics": summary_table(experiments),
            "vs_baseline": dict(sorted(vs_baseline.items())),
        }
