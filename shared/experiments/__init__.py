"""Experiments: a dataset version x variants x repetitions, run in shards, analysed and reported.

The package's face is the names below; code outside the package imports only these (an import
test holds it to that). They load on first use, so a function pays only for what it touches:

    plan.py       what a client may ask for, checked before anything is stored
    service.py    start (experiment + shards in one write, published), watch, resume, compare, report
    shards.py     the shard plan and its Pub/Sub message
    worker.py     experiments-worker's use case: one delivered shard, under lease and time budget
    runner.py     the async runner of a shard's runs; run_writer.py stores them in batches
    analysis.py   summaries (summary.py) and paired comparisons (comparison.py)
    report.py     the HTML report (report_values.py, report_verdicts.py)
    schedules.py  scheduled experiments; alerts.py, alerts on their results
    ports.py      what the use cases need from outside (publishing, alert events)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "DEFAULT_EVALUATORS": "plan",
    "MAX_CONCURRENCY": "plan",
    "MAX_REPETITIONS": "plan",
    "ExperimentRequest": "plan",
    "ExperimentService": "service",
    "experiment_service": "service",
    "ShardBusy": "shards",
    "ShardMessage": "shards",
    "ShardWorker": "worker",
    "shard_worker": "worker",
    "ScheduleRequest": "schedules",
    "schedule_service": "schedules",
    "ALERT_LOG_EVENT": "alerts",
    "alert_service": "alerts",
    "compare_experiment_runs": "analysis",
    "summarise_experiment": "analysis",
    "render_report": "report",
}

__all__ = [
    "ALERT_LOG_EVENT",
    "DEFAULT_EVALUATORS",
    "MAX_CONCURRENCY",
    "MAX_REPETITIONS",
    "ExperimentRequest",
    "ExperimentService",
    "ScheduleRequest",
    "ShardBusy",
    "ShardMessage",
    "ShardWorker",
    "alert_service",
    "compare_experiment_runs",
    "experiment_service",
    "render_report",
    "schedule_service",
    "shard_worker",
    "summarise_experiment",
]

if TYPE_CHECKING:
    from shared.experiments.alerts import ALERT_LOG_EVENT, alert_service
    from shared.experiments.analysis import compare_experiment_runs, summarise_experiment
    from shared.experiments.plan import DEFAULT_EVALUATORS, MAX_CONCURRENCY, MAX_REPETITIONS, ExperimentRequest
    from shared.experiments.report import render_report
    from shared.experiments.schedules import ScheduleRequest, schedule_service
    from shared.experiments.service import ExperimentService, experiment_service
    from shared.experiments.shards import ShardBusy, ShardMessage
    from shared.experiments.worker import ShardWorker, shard_worker


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
