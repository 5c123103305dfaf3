"""Completing an experiment: summarised from its stored runs, with its status, progress and finish time.

Every path that ends an experiment ends it here, once (`finished_at` is set then):

- `finish`: the worker that leaves the last shard completed or failed (`worker.py`);
- `finish_cancelled`: a cancelled experiment once no shard runs any more, by whoever leaves the
  last shard stopped: the cancel itself when none was running (`commands.py`), the worker whose
  runner noticed the cancel, or the scheduled recovery when that worker died (`recovery.py`).

The summary needs numpy and scipy (`analysis.py`, about 0.7 s to import in a fresh process): they
are imported when an experiment is summarised, not when a function starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared.models import ExperimentRecord, RunRecord
from shared.ports.experiments import ExperimentOutcomes

_TERMINAL_SHARDS = ("completed", "failed", "cancelled")


class ExperimentCompletion:
    def __init__(self, *, experiments: ExperimentOutcomes) -> None:
        self._experiments = experiments

    def finish(
        self, experiment_id: str, *, reason: str | None = None, just_run: Sequence[RunRecord] = ()
    ) -> ExperimentRecord:
        """Summarise an experiment once all its shards have landed, from its stored runs; or from
        `just_run` alone when those are every run (a one-shard experiment in one delivery): they
        are stored already, and reading 1,000 runs back from Firestore took about 0.9 s."""
        experiment = self._experiments.get(experiment_id)
        total = experiment.progress.total
        runs = list(just_run)
        if len({run.run_id for run in runs}) != total:
            runs = list(self._experiments.runs(experiment_id))
        done = len(runs)
        status = "completed" if done == total and reason is None else "failed"
        if status == "failed" and reason is None:
            reason = f"{total - done} of {total} runs are missing"
        return self._complete(experiment, runs, {"status": status, "status_reason": reason})

    def finish_cancelled(self, experiment_id: str, shard_states: Sequence[str]) -> ExperimentRecord | None:
        """Summarise a cancelled experiment from its stored runs once no shard runs any more;
        None while one still does. Idempotent: one already summarised is returned as it is."""
        experiment = self._experiments.get(experiment_id)
        if experiment.status != "cancelled" or experiment.finished_at is not None:
            return experiment
        if any(state not in _TERMINAL_SHARDS for state in shard_states):
            return None
        runs = list(self._experiments.runs(experiment_id))
        reason = f"cancelled: {len(runs)} of {experiment.progress.total} runs had finished; the summary is of those"
        return self._complete(experiment, runs, {"status_reason": reason})

    def _complete(
        self, experiment: ExperimentRecord, runs: list[RunRecord], outcome: dict[str, Any]
    ) -> ExperimentRecord:
        from shared.experiments.analysis import summarise_experiment  # numpy and scipy: see the module's docstring

        total = experiment.progress.total
        done, failed = len(runs), sum(run.status == "failed" for run in runs)
        self._experiments.update(
            experiment.experiment_id,
            {
                **outcome,
                "summary": summarise_experiment(experiment, runs),
                "progress": {"done": done, "total": total, "failed": failed},
                "finished_at": datetime.now(UTC),
            },
        )
        return self._experiments.get(experiment.experiment_id)
