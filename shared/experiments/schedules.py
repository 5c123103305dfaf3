"""Scheduled experiments: schedules kept in Firestore, started by `experiments-scheduled`.

A schedule runs once per time slot of `interval_minutes` (slots are aligned to UTC midnight of
1970, so an hourly schedule's slots start on the hour). The experiment a schedule starts in a slot
has the id `s-{schedule_id}-{slot}`, and creating it is one atomic create: a trigger retried or sent
twice finds it there and starts nothing (it only republishes shards a crashed trigger left
unpublished). Scheduled experiments always fan out through Pub/Sub, so the trigger returns at once.

A schedule's `form_type` (`name` or `name@n`) is the paper its variants read when they name none
of their own; it is checked when the schedule is made or changed and resolved by each run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, StrictBool, ValidationError, field_validator, model_validator

from shared.dataset_names import check_name, check_version
from shared.errors import ExperimentExists, InvalidField, VoteExtractorError
from shared.evaluation import create_evaluator
from shared.evaluation.base import Evaluator
from shared.evaluation.llm_judge import LlmJudge
from shared.experiments.commands import ExperimentCommands
from shared.experiments.plan import DatasetRef, ExperimentRequest, RunSettings, evaluator_specs
from shared.form_types.expected import FormTypeResolver
from shared.models import (
    SCHEDULE_ID_PATTERN,
    AlertThresholds,
    BaselinePolicy,
    ScheduleDataset,
    ScheduleRecord,
    WholeNumber,
)
from shared.ports.experiments import DatasetReader, ScheduleStore

logger = logging.getLogger(__name__)

LATEST = "latest"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ScheduleRequest(RunSettings):
    """POST /experiments/schedules."""

    schedule_id: str = Field(pattern=SCHEDULE_ID_PATTERN)
    description: str = Field("", max_length=500)
    enabled: StrictBool = True
    interval_minutes: WholeNumber = Field(ge=5, le=60 * 24 * 31)
    dataset: ScheduleDataset
    form_type: str | None = Field(None, max_length=50)
    baseline: BaselinePolicy = Field(default_factory=BaselinePolicy)
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)

    @model_validator(mode="after")
    def _quality_metric_is_measured(self) -> ScheduleRequest:
        if self.thresholds.min_quality is not None:
            self.thresholds.quality_metric = measured_quality_metric(self.thresholds.quality_metric, self.evaluators)
        return self

    @field_validator("baseline")
    @classmethod
    def _pinned_needs_an_id(cls, baseline: BaselinePolicy) -> BaselinePolicy:
        if (baseline.policy == "pinned") != bool(baseline.experiment_id):
            raise ValueError('name experiment_id exactly when the policy is "pinned"')
        return baseline


def measured_quality_metric(metric: str, evaluators: list[str | dict[str, dict[str, Any]]] | None) -> str:
    """The metric label `thresholds.quality_metric` names among those `evaluators` produce, as
    summaries and alerts name it: an evaluator's label (its name; a judge's `llm_judge_<label>`), or
    a judge's own `label`, which is stored as its metric's label. A judge's quality is its pass rate
    (the share of runs it passed), so a categorical judge, whose classes have no one score, cannot
    be named. ValueError with a sentence for anything else; InvalidField for a bad evaluator."""
    produced: dict[str, Evaluator] = {}
    judge_labels: dict[str, str] = {}
    for spec in evaluator_specs(evaluators):
        evaluator = create_evaluator(spec["name"], spec["params"])
        produced[evaluator.evaluation_label] = evaluator
        if isinstance(evaluator, LlmJudge) and evaluator.label:
            judge_labels[evaluator.label] = evaluator.evaluation_label
    label = metric if metric in produced else judge_labels.get(metric, metric)
    if label not in produced:
        raise ValueError(
            f"thresholds.quality_metric {metric[:80]!r} is not a metric these evaluators produce; they produce "
            f"{', '.join(sorted(produced))} (a judge's own label names its metric too)"
        )
    judge = produced[label]
    if isinstance(judge, LlmJudge) and judge.output == "categorical":
        raise ValueError(
            f"thresholds.quality_metric {metric[:80]!r} is a categorical judge, which has no one score to keep "
            "above min_quality: name a score or boolean judge, or another evaluator"
        )
    return label


def slot_of(schedule_time: datetime, interval_minutes: int) -> str:
    """The slot `schedule_time` falls in, as its UTC start time `YYYYMMDDTHHMMZ`."""
    minutes = int((schedule_time.astimezone(UTC) - _EPOCH).total_seconds() // 60)
    start = _EPOCH + timedelta(minutes=minutes - minutes % interval_minutes)
    return start.strftime("%Y%m%dT%H%MZ")


def experiment_id_for(schedule_id: str, slot: str) -> str:
    return f"s-{schedule_id}-{slot}"


class ScheduleService:
    def __init__(
        self,
        *,
        schedules: ScheduleStore,
        datasets: DatasetReader,
        experiments: ExperimentCommands,
        form_types: FormTypeResolver,
    ) -> None:
        self._schedules = schedules
        self._form_types = form_types
        self._datasets = datasets
        self._experiments = experiments

    def create(self, request: ScheduleRequest, *, created_by: str) -> ScheduleRecord:
        now = datetime.now(UTC)
        schedule = ScheduleRecord(**request.model_dump(), created_at=now, created_by=created_by, updated_at=now)
        self._check_form_type(schedule)
        self._experiments.plan(self._experiment_request(schedule))  # everything checked before storing
        self._schedules.create(schedule)
        return schedule

    def get(self, schedule_id: str) -> ScheduleRecord:
        return self._schedules.get(schedule_id)

    def all(self) -> list[ScheduleRecord]:
        return self._schedules.all()

    def change(self, schedule_id: str, changes: dict[str, Any]) -> ScheduleRecord:
        """PATCH: the given fields replace the stored ones, and the result is checked exactly as a
        new schedule is (fields, then the experiment it would start) before anything is stored."""
        if not changes:
            raise InvalidField("Send at least one field to change.", details={"field": "body"})
        if "schedule_id" in changes:
            raise InvalidField("A schedule's id cannot change; create a new one.", details={"field": "schedule_id"})
        current = self._schedules.get(schedule_id)
        stored = current.model_dump(mode="json", include=set(ScheduleRequest.model_fields))
        try:
            wanted = ScheduleRequest.model_validate(stored | changes)
        except ValidationError as error:
            problems = error.errors(include_url=False, include_input=False, include_context=False)
            where = ", ".join(".".join(str(part) for part in p["loc"]) or "body" for p in problems[:5])
            raise InvalidField(
                f"Invalid schedule: {where} ({problems[0]['msg']}).", details={"errors": [dict(p) for p in problems]}
            ) from None
        updated = ScheduleRecord.model_validate(current.model_dump() | wanted.model_dump())
        self._check_form_type(updated)
        self._experiments.plan(self._experiment_request(updated))
        fields = wanted.model_dump(mode="python", exclude={"schedule_id"})
        return self._schedules.update(schedule_id, fields)

    def delete(self, schedule_id: str) -> None:
        """The schedule goes; the experiments it started stay (they name it in `schedule_id`)."""
        self._schedules.delete(schedule_id)

    def set_enabled(self, schedule_id: str, enabled: bool) -> ScheduleRecord:
        return self._schedules.update(schedule_id, {"enabled": enabled})

    def run_due(self, schedule_time: datetime) -> dict[str, list[dict[str, Any]]]:
        """Start every enabled schedule whose slot for `schedule_time` has not started yet."""
        report: dict[str, list[dict[str, Any]]] = {"started": [], "already_started": [], "errors": []}
        for schedule in self._schedules.enabled():
            slot = slot_of(schedule_time, schedule.interval_minutes)
            experiment_id = experiment_id_for(schedule.schedule_id, slot)
            item: dict[str, Any] = {"schedule_id": schedule.schedule_id, "slot": slot, "experiment_id": experiment_id}
            try:
                self._experiments.start(
                    self._experiment_request(schedule),
                    experiment_id=experiment_id,
                    schedule_id=schedule.schedule_id,
                    slot=slot,
                    created_by=schedule.created_by,
                )
            except ExperimentExists:
                # Started by an earlier delivery of this trigger; publish what it may not have.
                item["republished_shards"] = self._experiments.publish_unpublished(experiment_id)
                report["already_started"].append(item)
                continue
            except VoteExtractorError as error:  # the dataset or a model went away: keep the others going
                self._record_error(schedule, item, error, report)
                continue
            if schedule.last_slot is None or slot > schedule.last_slot:  # a late trigger of an old slot
                # must not become the baseline of the slots after it
                self._schedules.update(
                    schedule.schedule_id, {"last_slot": slot, "last_experiment_id": experiment_id, "last_error": None}
                )
            report["started"].append(item)
        return report

    def _record_error(
        self, schedule: ScheduleRecord, item: dict[str, Any], error: VoteExtractorError, report: dict[str, Any]
    ) -> None:
        logger.warning("schedule %s could not start: %s", schedule.schedule_id, error.message)
        self._schedules.update(schedule.schedule_id, {"last_error": error.message})
        report["errors"].append(item | {"error": {"code": error.code, "message": error.message}})

    def _check_form_type(self, schedule: ScheduleRecord) -> None:
        """422 naming `form_type` when no type has it (before the plan names it on a variant)."""
        if schedule.form_type is not None:
            self._form_types.resolve(schedule.form_type, field="form_type")

    def _experiment_request(self, schedule: ScheduleRecord) -> ExperimentRequest:
        name, version = check_name(schedule.dataset.name), schedule.dataset.version
        if version == LATEST:
            version = self._datasets.latest_published(name).version
        baseline = {
            "pinned": schedule.baseline.experiment_id,
            "previous": schedule.last_experiment_id,
            "none": None,
        }[schedule.baseline.policy]
        return ExperimentRequest(
            name=f"schedule {schedule.schedule_id}",
            dataset=DatasetRef(name=name, version=check_version(version)),
            variants=[
                variant.model_copy(deep=True, update={"form_type": variant.form_type or schedule.form_type})
                for variant in schedule.variants
            ],
            evaluators=schedule.evaluators,
            repetitions=schedule.repetitions,
            concurrency=schedule.concurrency,
            run_timeout_s=schedule.run_timeout_s,
            budget_usd=schedule.budget_usd,
            baseline_experiment_id=baseline,
        )
