"""Cancelling an experiment: no run starts after it, the finished runs stay and are summarised.

`POST /experiments/{id}/cancel` marks the experiment `cancelled` (conditionally: a finished one is
409) and its pending shards `cancelled`, so their deliveries run nothing. A shard running at the
time is stopped by its worker, whose runner re-reads the experiment's status every
`CANCEL_POLL_S` and then starts no new run; the runs in flight finish and are stored. Whoever
leaves the last shard stopped (the cancel itself when none was running) summarises the
experiment from its stored runs, once: `finished_at` is set then. The scheduled recovery looks
only at queued and running experiments, so a cancelled one is never republished.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.models import ExperimentRecord
from shared.storage.experiment_ports import ExperimentHistory

CANCELLED_BY_REQUEST = "cancelled by request"
_TERMINAL_SHARDS = ("completed", "failed", "cancelled")


class _Summarised(ExperimentHistory, Protocol):
    def update(self, experiment_id: str, fields: dict[str, Any]) -> None: ...


def finish_cancelled(
    experiments: _Summarised, shard_states: Sequence[str], experiment_id: str
) -> ExperimentRecord | None:
    """Summarise a cancelled experiment from its stored runs once no shard runs any more;
    None while one still does. Idempotent: one already summarised is returned as it is."""
    from shared.experiments.analysis import summarise_experiment

    experiment = experiments.get(experiment_id)
    if experiment.status != "cancelled" or experiment.finished_at is not None:
        return experiment
    if any(state not in _TERMINAL_SHARDS for state in shard_states):
        return None
    runs = list(experiments.runs(experiment_id))
    total = experiment.progress.total
    done, failed = len(runs), sum(run.status == "failed" for run in runs)
    experiments.update(
        experiment_id,
        {
            "status_reason": f"cancelled: {done} of {total} runs had finished; the summary is of those",
            "summary": summarise_experiment(experiment, runs),
            "progress": {"done": done, "total": total, "failed": failed},
            "finished_at": datetime.now(UTC),
        },
    )
    return experiments.get(experiment_id)
