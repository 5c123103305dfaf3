"""Alerts on scheduled experiments: the conditions, and raising each one once.

When a scheduled experiment finishes, its schedule's thresholds are checked: a significant
regression against the baseline (the paired tests of `compare_experiment_runs`), quality below a
target, a negative-feedback rate over a window above a limit, Ragas faithfulness below a floor,
and an evaluation failure rate above a limit. A shard that keeps failing alerts too.

An alert is a Firestore record (`alerts/{experiment_id}~{kind}`, created once, so the same
condition never alerts twice for one run), one structured log line a Cloud Monitoring log-based
alert matches (`jsonPayload.event="vote_extractor_alert"`), and a Datadog event when Datadog is
configured. An event Datadog did not take stays marked unsent and the scheduled function resends it.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import NotFound
from shared.evaluation.llm_judge import is_judge_label
from shared.models import AlertKind, AlertRecord, AlertThresholds, ExperimentRecord
from shared.ports.experiments import AlertEvents, AlertStore, ExperimentHistory, FeedbackCounts, ScheduleLookup

logger = logging.getLogger(__name__)

ALERT_LOG_EVENT = "vote_extractor_alert"
FAITHFULNESS_METRIC = "ragas_faithfulness"


@dataclass(frozen=True)
class AlertCondition:
    kind: AlertKind
    message: str
    severity: str = "warning"
    details: dict[str, Any] = field(default_factory=dict)
    key: str = ""  # tells apart alerts of one kind on one experiment (e.g. which shard failed)


def regression_condition(comparisons: dict[str, dict[str, Any]], baseline_id: str) -> AlertCondition | None:
    """`comparisons`: {variant: compare_experiment_runs(baseline runs, these runs)}."""
    worse = {
        variant: sorted(label for label, metric in compared["metrics"].items() if metric["verdict"] == "worse")
        for variant, compared in comparisons.items()
    }
    worse = {variant: labels for variant, labels in worse.items() if labels}
    if not worse:
        return None
    described = "; ".join(f"{variant}: {', '.join(labels)}" for variant, labels in sorted(worse.items()))
    return AlertCondition(
        "regression",
        f"Significantly worse than baseline experiment {baseline_id} (alpha 0.05): {described}.",
        severity="critical",
        details={
            "baseline_experiment_id": baseline_id,
            "worse": worse,
            "metrics": {
                variant: {label: comparisons[variant]["metrics"][label] for label in labels}
                for variant, labels in worse.items()
            },
        },
    )


def summary_conditions(summary: dict[str, dict[str, Any]], thresholds: AlertThresholds) -> list[AlertCondition]:
    """Threshold breaches in a finished experiment's per-variant summary."""
    conditions = []
    # A judge's quality is its pass rate: its score is 1-5, its verdict on each run pass or fail.
    judged = is_judge_label(thresholds.quality_metric)
    measure = "pass_rate" if judged else "mean"
    low_quality = _below(summary, thresholds.quality_metric, thresholds.min_quality, measure=measure)
    if low_quality:
        conditions.append(
            AlertCondition(
                "quality_below_target",
                f"{thresholds.quality_metric}{' pass rate' if judged else ''} below the target "
                f"{thresholds.min_quality}: {_listed(low_quality)}.",
                details={"metric": thresholds.quality_metric, "target": thresholds.min_quality, "means": low_quality},
            )
        )
    unfaithful = _below(summary, FAITHFULNESS_METRIC, thresholds.min_faithfulness)
    if unfaithful:
        conditions.append(
            AlertCondition(
                "faithfulness_below_target",
                f"Ragas faithfulness below {thresholds.min_faithfulness}: {_listed(unfaithful)}.",
                details={"metric": FAITHFULNESS_METRIC, "target": thresholds.min_faithfulness, "means": unfaithful},
            )
        )
    if thresholds.max_evaluation_failure_rate is not None:
        rates = {variant: rate for variant, metrics in summary.items() if (rate := evaluation_failure_rate(metrics))}
        over = {variant: rate for variant, rate in rates.items() if rate > thresholds.max_evaluation_failure_rate}
        if over:
            conditions.append(
                AlertCondition(
                    "evaluation_failure_rate",
                    f"Evaluators failed on more than {thresholds.max_evaluation_failure_rate:.0%} of their runs: "
                    f"{_listed(over)}.",
                    details={"limit": thresholds.max_evaluation_failure_rate, "rates": over},
                )
            )
    return conditions


def feedback_condition(total: int, negative: int, thresholds: AlertThresholds) -> AlertCondition | None:
    limit = thresholds.max_negative_feedback_rate
    if limit is None or total < thresholds.min_feedback_count:
        return None
    rate = negative / total
    if rate <= limit:
        return None
    return AlertCondition(
        "negative_feedback_rate",
        f"{negative} of {total} feedbacks in the last {thresholds.feedback_window_hours} h are thumbs down "
        f"({rate:.0%}, limit {limit:.0%}).",
        details={"total": total, "negative": negative, "rate": rate, "limit": limit},
    )


def evaluation_failure_rate(metrics: dict[str, Any]) -> float:
    """Evaluator errors over evaluator outcomes (scored or raised; skipped ones are neither)."""
    errors = scored = 0
    for summary in metrics.values():
        if isinstance(summary, dict) and "errors" in summary:
            errors += int(summary.get("errors") or 0)
            scored += int(summary.get("n") or 0)
    return errors / (errors + scored) if errors + scored else 0.0


def _below(
    summary: dict[str, dict[str, Any]], metric: str, floor: float | None, *, measure: str = "mean"
) -> dict[str, float]:
    if floor is None:
        return {}
    means = {variant: metrics.get(metric, {}).get(measure) for variant, metrics in summary.items()}
    return {variant: round(mean, 4) for variant, mean in means.items() if mean is not None and mean < floor}


def _listed(values: dict[str, float]) -> str:
    return ", ".join(f"{variant} {value:.3f}" for variant, value in sorted(values.items()))


class AlertService:
    def __init__(
        self,
        *,
        alerts: AlertStore,
        experiments: ExperimentHistory,
        schedules: ScheduleLookup,
        feedback: FeedbackCounts,
        events: AlertEvents,
    ) -> None:
        self._events = events
        self._alerts = alerts
        self._experiments = experiments
        self._schedules = schedules
        self._feedback = feedback

    def check_finished(self, experiment: ExperimentRecord) -> list[AlertRecord]:
        """Check a finished scheduled experiment against its schedule; returns the alerts raised now."""
        if not experiment.schedule_id:
            return []
        schedule = self._schedules.get(experiment.schedule_id)
        conditions = summary_conditions(experiment.summary, schedule.thresholds)
        if schedule.thresholds.regression and experiment.baseline_experiment_id:
            comparisons = self._baseline_comparisons(experiment, experiment.baseline_experiment_id)
            if (found := regression_condition(comparisons, experiment.baseline_experiment_id)) is not None:
                conditions.append(found)
        if schedule.thresholds.max_negative_feedback_rate is not None:
            since = datetime.now(UTC) - timedelta(hours=schedule.thresholds.feedback_window_hours)
            if (found := feedback_condition(*self._feedback.counts_since(since), schedule.thresholds)) is not None:
                conditions.append(found)
        raised = [self.raise_alert(experiment, condition) for condition in conditions]
        return [alert for alert in raised if alert is not None]

    def raise_alert(self, experiment: ExperimentRecord, condition: AlertCondition) -> AlertRecord | None:
        """Store, log and send one alert; None when this condition already alerted for this experiment."""
        alert = AlertRecord(
            alert_id="~".join(filter(None, (experiment.experiment_id, condition.kind, condition.key))),
            kind=condition.kind,
            experiment_id=experiment.experiment_id,
            experiment_name=experiment.name,
            schedule_id=experiment.schedule_id,
            severity="critical" if condition.severity == "critical" else "warning",
            message=condition.message,
            details=json.loads(json.dumps(condition.details, default=str)),  # Firestore-safe values
            created_at=datetime.now(UTC),
        )
        return self.publish(alert)

    def publish(self, alert: AlertRecord) -> AlertRecord | None:
        """Store, log and send `alert`; None when an alert of its id was raised already."""
        if not self._alerts.create_once(alert):
            return None
        log_alert(alert)
        if self._events.send(alert):
            self._alerts.mark_event_sent(alert.alert_id)
            alert = alert.model_copy(update={"datadog_event_sent": True})
        return alert

    def resend_events(self, *, limit: int = 100) -> int:
        """Send the alerts Datadog has not taken yet (an outage when they were raised)."""
        if not self._events.configured:
            return 0
        sent = 0
        for alert in self._alerts.unsent_events(limit=limit):
            if not self._events.send(alert):
                break  # Datadog still refuses: the next scheduled run tries again
            self._alerts.mark_event_sent(alert.alert_id)
            sent += 1
        return sent

    def find(self, *, schedule_id: str | None, experiment_id: str | None, limit: int) -> list[AlertRecord]:
        if experiment_id:
            return self._alerts.for_experiment(experiment_id)[:limit]
        return self._alerts.recent(schedule_id=schedule_id, limit=limit)

    def _baseline_comparisons(self, experiment: ExperimentRecord, baseline_id: str) -> dict[str, dict[str, Any]]:
        from shared.experiments.analysis import compare_experiment_runs  # numpy and scipy

        try:
            baseline = self._experiments.get(baseline_id)
        except NotFound:
            logger.warning("baseline experiment %s of %s is gone", baseline_id, experiment.experiment_id)
            return {}
        if baseline.status != "completed":
            logger.warning("baseline %s is %s: no regression check", baseline_id, baseline.status)
            return {}
        base_runs = list(self._experiments.runs(baseline_id))
        runs = list(self._experiments.runs(experiment.experiment_id))
        pairs = {v.name: v.name for v in experiment.variants if any(b.name == v.name for b in baseline.variants)}
        if not pairs and len(experiment.variants) == len(baseline.variants) == 1:
            pairs = {experiment.variants[0].name: baseline.variants[0].name}
        return {
            mine: compare_experiment_runs(
                [r for r in base_runs if r.variant == theirs], [r for r in runs if r.variant == mine]
            )
            for mine, theirs in pairs.items()
        }


def log_alert(alert: AlertRecord) -> None:
    """One JSON line on stdout: Cloud Logging makes it a jsonPayload a log-based alert can match."""
    line = {
        "severity": "ERROR" if alert.severity == "critical" else "WARNING",
        "event": ALERT_LOG_EVENT,
        "message": f"vote-extractor alert: {alert.kind}: {alert.message}",
        "alert_id": alert.alert_id,
        "alert_kind": alert.kind,
        "experiment_id": alert.experiment_id,
        "experiment": alert.experiment_name,
        "schedule_id": alert.schedule_id,
    }
    if alert.window_start is not None:
        line["window_start"] = alert.window_start.isoformat()
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
