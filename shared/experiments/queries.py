"""What a client may read of experiments: the list, one's status, its runs, comparisons and its report.

Status is read back from Firestore (the workers write it); comparisons and the report are computed
from the stored runs on each request. Both need numpy and scipy (`analysis.py`, `report.py`): they
are imported by the request that asks for one, not when the function starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.errors import InvalidField, NotFound
from shared.experiments.export import RunsExport, export_runs
from shared.models import ExperimentProgress, ExperimentRecord
from shared.paging import decode_page_token, encode_page_token
from shared.ports.experiments import ExperimentListing, ShardStates
from shared.ports.services import ImageReader

logger = logging.getLogger(__name__)

STALE_AFTER_S = 120.0


class ExperimentQueries:
    def __init__(self, *, experiments: ExperimentListing, shards: ShardStates, images: ImageReader) -> None:
        self._experiments = experiments
        self._shards = shards
        self._images = images

    def list(
        self,
        *,
        dataset: str | None,
        status: str | None,
        schedule_id: str | None,
        page_size: int,
        page_token: str | None,
    ) -> dict[str, Any]:
        """A page of experiments, newest first, in brief."""
        after = decode_page_token(page_token) if page_token else None
        found = self._experiments.listing(
            dataset=dataset, status=status, schedule_id=schedule_id, after=after, limit=page_size
        )
        return {
            "items": [
                {
                    "experiment_id": e.experiment_id,
                    "name": e.name,
                    "status": e.status,
                    "dataset": {"name": e.dataset_name, "version": e.dataset_version},
                    "variants": [v.model_dump(mode="json") for v in e.variants],
                    "progress": e.progress.model_dump(),
                    "schedule_id": e.schedule_id,
                    "created_at": e.created_at.isoformat(),
                    "created_by": e.created_by,
                    "finished_at": e.finished_at.isoformat() if e.finished_at else None,
                }
                for e in found
            ],
            "next_page_token": encode_page_token(found[-1].experiment_id) if len(found) == page_size else None,
        }

    def status(self, experiment_id: str) -> dict[str, Any]:
        experiment = self._experiments.get(experiment_id)
        progress = experiment.progress
        if experiment.status in ("queued", "running") or (
            experiment.status == "cancelled" and experiment.finished_at is None
        ):
            done, failed = self._experiments.progress(experiment_id)
            progress = ExperimentProgress(done=done, total=experiment.progress.total, failed=failed)
        body = experiment.model_dump(mode="json")
        body["progress"] = progress.model_dump()
        quiet_s = (datetime.now(UTC) - experiment.heartbeat_at).total_seconds() if experiment.heartbeat_at else 0.0
        if experiment.status == "running" and quiet_s > STALE_AFTER_S:
            body["status_reason"] = (
                f"no run has finished for {quiet_s:.0f} s: the worker running it may have stopped; its shard "
                f"is delivered again once the lease lapses, or POST /experiments/{experiment_id}/resume now"
            )
        body["dataset"] = {"name": experiment.dataset_name, "version": experiment.dataset_version}
        if experiment.shard_count:  # 0 only for experiments stored before every one ran in shards
            shards = self._shards.all(experiment_id)
            body["shards"] = {
                "total": len(shards),
                **{
                    state: sum(s.status == state for s in shards)
                    for state in ("pending", "running", "completed", "failed", "cancelled")
                },
            }
        return body

    def results(self, experiment_id: str, *, page_size: int, page_token: str | None) -> dict[str, Any]:
        self._experiments.get(experiment_id)
        after = decode_page_token(page_token) if page_token else None
        runs = self._experiments.page(experiment_id, page_size=page_size, after=after)
        return {
            "items": [run.model_dump(mode="json") for run in runs],
            "next_page_token": encode_page_token(runs[-1].run_id) if len(runs) == page_size else None,
        }

    def export(self, experiment_id: str, fmt: str) -> RunsExport:
        """The runs as a JSONL or CSV download, read a page at a time (`shared/experiments/export.py`)."""
        return export_runs(self._experiments, experiment_id, fmt)

    def compare(
        self,
        experiment_id: str,
        *,
        a: str | None,
        b: str | None,
        baseline: str | None,
        variant: str | None,
        primary: str | None = None,
    ) -> dict[str, Any]:
        from shared.experiments.analysis import baseline_variant, compare_experiment_runs  # numpy and scipy

        experiment = self._experiments.get(experiment_id)
        if baseline:
            base = self._experiments.get(baseline)
            mine = variant or _only_variant(experiment)
            theirs = baseline_variant(base, variant) or _only_variant(base)
            runs_a = [r for r in self._experiments.runs(baseline) if r.variant == theirs]
            runs_b = [r for r in self._experiments.runs(experiment_id) if r.variant == mine]
            labels = {"a": f"{baseline}:{theirs}", "b": f"{experiment_id}:{mine}"}
        else:
            if not a or not b:
                raise InvalidField(
                    "Give ?a=VARIANT&b=VARIANT, or ?baseline=EXPERIMENT_ID.", details={"fields": ["a", "b"]}
                )
            names = {v.name for v in experiment.variants}
            unknown = sorted({a, b} - names)
            if unknown:
                raise InvalidField(
                    f"No variant {unknown[0]!r} in this experiment.", details={"variants": sorted(names)}
                )
            runs = list(self._experiments.runs(experiment_id))
            runs_a = [r for r in runs if r.variant == a]
            runs_b = [r for r in runs if r.variant == b]
            labels = {"a": a, "b": b}
        compared = compare_experiment_runs(runs_a, runs_b, primary=primary, declared_primary=experiment.primary_metric)
        return {"experiment_id": experiment_id, **labels, **compared}

    def report(self, experiment_id: str, *, trend_of: Callable[[str], dict[str, Any] | None] | None = None) -> str:
        """`trend_of(schedule_id)`: the schedule's trend for the report's Trend section (None: none)."""
        from shared.experiments.report import render_report  # numpy and scipy

        experiment = self._experiments.get(experiment_id)
        runs = list(self._experiments.runs(experiment_id))
        baseline = None
        if experiment.baseline_experiment_id:
            try:
                base = self._experiments.get(experiment.baseline_experiment_id)
                baseline = (base, list(self._experiments.runs(base.experiment_id)))
            except NotFound:  # a deleted baseline: the variants are compared among themselves
                logger.warning("Baseline %s of %s is gone", experiment.baseline_experiment_id, experiment_id)
        trend = trend_of(experiment.schedule_id) if trend_of and experiment.schedule_id else None
        return render_report(experiment, runs, images=self._images, baseline=baseline, trend=trend)


def _only_variant(experiment: ExperimentRecord) -> str:
    if len(experiment.variants) != 1:
        raise InvalidField(
            f"Experiment {experiment.experiment_id} has several variants: name one with ?variant=.",
            details={"variants": [v.name for v in experiment.variants]},
        )
    return experiment.variants[0].name
