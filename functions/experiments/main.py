"""`experiments`: start, watch, resume, compare and report experiments (API.md "experiments").

Thin handlers (STYLE.md rule 1). Ragas and the other heavy evaluators are imported only when an
experiment runs, not when this module loads.
"""

from __future__ import annotations

import re

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from shared.errors import Conflict, InvalidField, NotFound
from shared.experiments import ExperimentRequest
from shared.models import DATASET_NAME_PATTERN, EXPERIMENT_ID_PATTERN, SCHEDULE_ID_PATTERN
from shared.storable_maps import StorableMap
from shared.web import (
    Route,
    answer_routing_errors_as_json,
    int_arg,
    json_body,
    json_response,
    limit_body,
    parse_fields,
    recorded_name,
    serve,
)
from shared.wiring.experiments import alert_service, experiment_commands, experiment_queries, schedule_service

_EXPERIMENT_ID = re.compile(EXPERIMENT_ID_PATTERN)
MAX_BODY_BYTES = 1024 * 1024  # an experiment or schedule is a few kilobytes of JSON
MAX_PAGE_SIZE = 500


class PromptVersionRequest(BaseModel):
    """POST /experiments/prompts: a new version of `name` (the prompt is made with its first)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(max_length=63)
    template: StrictStr
    variables: list[StrictStr] = Field(default_factory=list, max_length=20)
    model_settings: StorableMap = Field(default_factory=dict)


class LabelMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: StrictStr = Field(max_length=32)
    version: StrictInt = Field(ge=1, le=999_999_999)


answer_routing_errors_as_json()


@functions_framework.http
def experiments(request: flask.Request) -> flask.Response:
    return serve(request, ROUTES)


def start_experiment(request: flask.Request) -> flask.Response:
    limit_body(request, MAX_BODY_BYTES)
    wanted = parse_fields(ExperimentRequest, json_body(request), what="experiment")
    experiment = experiment_commands().start(wanted, created_by=recorded_name(request))
    body = {
        "experiment_id": experiment.experiment_id,
        "created_by": experiment.created_by,
        "status": "planned" if wanted.dry_run else experiment.status,
        "progress": experiment.progress.model_dump(),
        "estimated_cost_usd": experiment.estimated_cost_usd,
        "evaluators": [spec["name"] for spec in experiment.evaluators],
    }
    return json_response(body, 200 if wanted.dry_run else 202)


def get_options(request: flask.Request) -> flask.Response:
    """What a client may put in an experiment: evaluators (and the default set) and the bounds."""
    from shared.evaluation import evaluator_names
    from shared.experiments import DEFAULT_EVALUATORS, MAX_CONCURRENCY, MAX_REPETITIONS

    return json_response(
        {
            "evaluators": evaluator_names(),
            "default_evaluators": list(DEFAULT_EVALUATORS),
            "max_concurrency": MAX_CONCURRENCY,
            "max_repetitions": MAX_REPETITIONS,
        }
    )


def list_experiments(request: flask.Request) -> flask.Response:
    args = request.args
    unknown = set(args) - {"dataset", "status", "schedule_id", "page_size", "page_token"}
    if unknown:
        raise InvalidField(
            f"Unknown query arguments: {', '.join(sorted(unknown))}.", details={"fields": sorted(unknown)}
        )
    dataset, status, schedule_id = args.get("dataset"), args.get("status"), args.get("schedule_id")
    if dataset is not None and not re.fullmatch(DATASET_NAME_PATTERN, dataset):
        raise InvalidField("dataset must be a dataset name.", details={"field": "dataset"})
    if status is not None and status not in ("queued", "running", "completed", "failed", "cancelled"):
        raise InvalidField(
            "status must be queued, running, completed, failed or cancelled.", details={"field": "status"}
        )
    if schedule_id is not None and not re.fullmatch(SCHEDULE_ID_PATTERN, schedule_id):
        raise InvalidField("schedule_id is not a schedule id.", details={"field": "schedule_id"})
    page = experiment_queries().list(
        dataset=dataset,
        status=status,
        schedule_id=schedule_id,
        page_size=int_arg(request, "page_size", default=50, low=1, high=MAX_PAGE_SIZE),
        page_token=args.get("page_token"),
    )
    return json_response(page)


def get_status(request: flask.Request, experiment_id: str) -> flask.Response:
    return json_response(experiment_queries().status(_checked(experiment_id)))


def get_results(request: flask.Request, experiment_id: str) -> flask.Response:
    page_size = int_arg(request, "page_size", default=100, low=1, high=MAX_PAGE_SIZE)
    page = experiment_queries().results(
        _checked(experiment_id), page_size=page_size, page_token=request.args.get("page_token")
    )
    return json_response(page)


def compare(request: flask.Request, experiment_id: str) -> flask.Response:
    args = request.args
    baseline = args.get("baseline")
    if baseline is not None:
        _checked(baseline)
    result = experiment_queries().compare(
        _checked(experiment_id), a=args.get("a"), b=args.get("b"), baseline=baseline, variant=args.get("variant")
    )
    return json_response(result)


def report(request: flask.Request, experiment_id: str) -> flask.Response:
    return flask.Response(experiment_queries().report(_checked(experiment_id)), mimetype="text/html")


def resume(request: flask.Request, experiment_id: str) -> flask.Response:
    experiment = experiment_commands().resume(_checked(experiment_id))
    return json_response({"experiment_id": experiment.experiment_id, "status": "running"}, 202)


def cancel(request: flask.Request, experiment_id: str) -> flask.Response:
    experiment = experiment_commands().cancel(_checked(experiment_id))
    body = {
        "experiment_id": experiment.experiment_id,
        "status": experiment.status,
        "status_reason": experiment.status_reason,
        "progress": experiment.progress.model_dump(),
        "finished_at": experiment.finished_at.isoformat() if experiment.finished_at else None,
    }
    return json_response(body, 200 if experiment.finished_at else 202)


def create_schedule(request: flask.Request) -> flask.Response:
    from shared.experiments import ScheduleRequest

    limit_body(request, MAX_BODY_BYTES)
    wanted = parse_fields(ScheduleRequest, json_body(request), what="schedule")
    schedule = schedule_service().create(wanted, created_by=recorded_name(request))
    return json_response(schedule.model_dump(mode="json"), 201)


def list_schedules(request: flask.Request) -> flask.Response:
    return json_response({"items": [s.model_dump(mode="json") for s in schedule_service().all()]})


def get_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    return json_response(schedule_service().get(_checked_schedule(schedule_id)).model_dump(mode="json"))


def change_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    limit_body(request, MAX_BODY_BYTES)
    schedule = schedule_service().change(_checked_schedule(schedule_id), json_body(request))
    return json_response(schedule.model_dump(mode="json"))


def delete_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    schedule_service().delete(_checked_schedule(schedule_id))
    return flask.Response(status=204)


def enable_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    return _set_enabled(schedule_id, True)


def disable_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    return _set_enabled(schedule_id, False)


def _set_enabled(schedule_id: str, enabled: bool) -> flask.Response:
    schedule = schedule_service().set_enabled(_checked_schedule(schedule_id), enabled)
    return json_response(schedule.model_dump(mode="json"))


def list_alerts(request: flask.Request) -> flask.Response:
    schedule_id = request.args.get("schedule_id")
    experiment_id = request.args.get("experiment_id")
    if schedule_id and experiment_id:
        raise InvalidField(
            "Filter by schedule_id or by experiment_id, not both.", details={"fields": ["schedule_id", "experiment_id"]}
        )
    limit = int_arg(request, "limit", default=100, low=1, high=500)
    alerts = alert_service().find(
        schedule_id=_checked_schedule(schedule_id) if schedule_id else None,
        experiment_id=_checked(experiment_id) if experiment_id else None,
        limit=limit,
    )
    return json_response({"items": [alert.model_dump(mode="json") for alert in alerts]})


# prompts (shared/prompts: versions are immutable, labels move)

MAX_PROMPT_BODY_BYTES = 128 * 1024  # a template is at most 64 KB; JSON escaping may nearly double it


def create_prompt_version(request: flask.Request) -> flask.Response:
    from shared.prompts import prompt_registry

    limit_body(request, MAX_PROMPT_BODY_BYTES)
    wanted = parse_fields(PromptVersionRequest, json_body(request), what="prompt version")
    version = prompt_registry().create_version(
        name=wanted.name,
        template=wanted.template,
        variables=wanted.variables,
        model_settings=wanted.model_settings,
        created_by=recorded_name(request),
    )
    body = {"name": version.name, "version": version.version, "ref": f"{version.name}@{version.version}"}
    return json_response(body, 201)


def list_prompts(request: flask.Request) -> flask.Response:
    from shared.prompts import prompt_registry

    return json_response({"items": prompt_registry().listing()})


def get_prompt(request: flask.Request, name: str) -> flask.Response:
    from shared.prompts import prompt_registry

    return json_response(prompt_registry().describe(name))


def get_prompt_version(request: flask.Request, name: str, version: str) -> flask.Response:
    from shared.prompts import prompt_registry

    return json_response(prompt_registry().version(name, version))


def refuse_prompt_edit(request: flask.Request, name: str, version: str) -> flask.Response:
    raise Conflict(
        "A prompt version is never edited or deleted: POST a new version to /experiments/prompts and move a "
        "label to it.",
        details={"name": name[:100], "version": version[:40]},
    )


def diff_prompt_versions(request: flask.Request, name: str) -> flask.Response:
    from shared.prompts import prompt_registry

    unknown = set(request.args) - {"from", "to"}
    missing = {"from", "to"} - set(request.args)
    if unknown or missing:
        raise InvalidField(
            "Give exactly the query arguments from and to (version numbers or labels).",
            details={"unknown": sorted(unknown), "missing": sorted(missing)},
        )
    return json_response(prompt_registry().diff(name, request.args["from"], request.args["to"]))


def move_prompt_label(request: flask.Request, name: str) -> flask.Response:
    from shared.prompts import prompt_registry

    limit_body(request, MAX_BODY_BYTES)
    wanted = parse_fields(LabelMove, json_body(request), what="label move")
    head = prompt_registry().move_label(
        name, label=wanted.label, version=wanted.version, moved_by=recorded_name(request)
    )
    return json_response(head)


def _checked_schedule(schedule_id: str) -> str:
    if not re.fullmatch(SCHEDULE_ID_PATTERN, schedule_id):
        raise NotFound(f"No schedule {schedule_id!r}.")
    return schedule_id


def _checked(experiment_id: str) -> str:
    if not _EXPERIMENT_ID.fullmatch(experiment_id):
        raise NotFound(f"No experiment {experiment_id!r}.")
    return experiment_id


ROUTES = (
    # Before `/{experiment_id}`, which would match these paths too.
    Route("POST", "/prompts", create_prompt_version, "write"),
    Route("GET", "/prompts", list_prompts, "read"),
    Route("GET", "/prompts/{name}", get_prompt, "read"),
    Route("GET", "/prompts/{name}/diff", diff_prompt_versions, "read"),  # before `/prompts/{name}/{version}`
    Route("POST", "/prompts/{name}/labels", move_prompt_label, "write"),
    Route("GET", "/prompts/{name}/{version}", get_prompt_version, "read"),
    Route("PUT", "/prompts/{name}/{version}", refuse_prompt_edit, "write"),
    Route("PATCH", "/prompts/{name}/{version}", refuse_prompt_edit, "write"),
    Route("DELETE", "/prompts/{name}/{version}", refuse_prompt_edit, "write"),
    Route("POST", "/schedules", create_schedule, "write"),
    Route("GET", "/schedules", list_schedules, "read"),
    Route("GET", "/schedules/{schedule_id}", get_schedule, "read"),
    Route("PATCH", "/schedules/{schedule_id}", change_schedule, "write"),
    Route("DELETE", "/schedules/{schedule_id}", delete_schedule, "write"),
    Route("POST", "/schedules/{schedule_id}/enable", enable_schedule, "write"),
    Route("POST", "/schedules/{schedule_id}/disable", disable_schedule, "write"),
    Route("GET", "/alerts", list_alerts, "read"),
    Route("GET", "/options", get_options, "read"),
    Route("POST", "/", start_experiment, "write"),
    Route("GET", "/", list_experiments, "read"),  # `/{experiment_id}` never matches the bare `/`
    Route("GET", "/{experiment_id}", get_status, "read"),
    Route("GET", "/{experiment_id}/results", get_results, "read"),
    Route("GET", "/{experiment_id}/compare", compare, "read"),
    Route("GET", "/{experiment_id}/report", report, "read"),
    Route("POST", "/{experiment_id}/resume", resume, "write"),
    Route("POST", "/{experiment_id}/cancel", cancel, "write"),
)
