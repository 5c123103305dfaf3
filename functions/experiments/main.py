"""`experiments`: start, watch, resume, compare and report experiments (API.md "experiments").

Thin handlers (STYLE.md rule 1) for the experiments themselves; prompts, schedules and alerts
have route modules of their own (`shared/routes`), served here too. Ragas and the other heavy
evaluators are imported only when an experiment runs, not when this module loads.
"""

from __future__ import annotations

import re
from typing import get_args

import flask
import functions_framework

from shared.errors import InvalidField, NotFound
from shared.evaluation import evaluator_names
from shared.evaluation.judges import routes as judges
from shared.experiments.plan import DEFAULT_EVALUATORS, MAX_CONCURRENCY, MAX_REPETITIONS, ExperimentRequest
from shared.experiments.side_by_side import parse_ids
from shared.models import DATASET_NAME_PATTERN, SCHEDULE_ID_PATTERN, ExperimentStatus
from shared.routes import alerts, prompts, schedules
from shared.routes.path_ids import known_experiment_id
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
from shared.wiring.experiments import experiment_commands, experiment_queries, side_by_side, trend_queries
from shared.wiring.instance import prepare_instance

MAX_BODY_BYTES = 1024 * 1024  # an experiment is a few kilobytes of JSON
MAX_PAGE_SIZE = 500
REPORT_TREND_POINTS = 20

prepare_instance()  # the first request's libraries, at instance start
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
    if status is not None and status not in get_args(ExperimentStatus):
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
    return json_response(experiment_queries().status(known_experiment_id(experiment_id)))


def get_results(request: flask.Request, experiment_id: str) -> flask.Response:
    page_size = int_arg(request, "page_size", default=100, low=1, high=MAX_PAGE_SIZE)
    page = experiment_queries().results(
        known_experiment_id(experiment_id), page_size=page_size, page_token=request.args.get("page_token")
    )
    return json_response(page)


def compare(request: flask.Request, experiment_id: str) -> flask.Response:
    args = request.args
    baseline = args.get("baseline")
    if baseline is not None:
        known_experiment_id(baseline)
    result = experiment_queries().compare(
        known_experiment_id(experiment_id),
        a=args.get("a"),
        b=args.get("b"),
        baseline=baseline,
        variant=args.get("variant"),
        primary=args.get("primary"),  # a label not compared: 400 naming the ones that were
    )
    return json_response(result)


def compare_side_by_side(request: flask.Request) -> flask.Response:
    """Two to ten experiments side by side (shared/experiments/side_by_side.py)."""
    unknown = set(request.args) - {"ids", "baseline"}
    if unknown:
        raise InvalidField(
            f"Unknown query arguments: {', '.join(sorted(unknown))}.", details={"fields": sorted(unknown)}
        )
    ids = parse_ids(request.args.get("ids"))
    return json_response(side_by_side().compare(ids, baseline_id=request.args.get("baseline")))


def report(request: flask.Request, experiment_id: str) -> flask.Response:
    page = experiment_queries().report(known_experiment_id(experiment_id), trend_of=_report_trend)
    return flask.Response(page, mimetype="text/html")


def _report_trend(schedule_id: str) -> dict | None:
    """A scheduled experiment's report shows its schedule's trend; a deleted schedule, none."""
    try:
        return trend_queries().trend(schedule_id, metric=None, limit=REPORT_TREND_POINTS)
    except NotFound:
        return None


def export(request: flask.Request, experiment_id: str) -> flask.Response:
    """The runs with their evaluations as a CSV or JSONL download, streamed a page at a time."""
    exported = experiment_queries().export(known_experiment_id(experiment_id), request.args.get("format", "jsonl"))
    response = flask.Response(exported.lines, mimetype=exported.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response


def resume(request: flask.Request, experiment_id: str) -> flask.Response:
    experiment = experiment_commands().resume(known_experiment_id(experiment_id))
    return json_response({"experiment_id": experiment.experiment_id, "status": "running"}, 202)


def cancel(request: flask.Request, experiment_id: str) -> flask.Response:
    experiment = experiment_commands().cancel(known_experiment_id(experiment_id))
    body = {
        "experiment_id": experiment.experiment_id,
        "status": experiment.status,
        "status_reason": experiment.status_reason,
        "progress": experiment.progress.model_dump(),
        "finished_at": experiment.finished_at.isoformat() if experiment.finished_at else None,
    }
    return json_response(body, 200 if experiment.finished_at else 202)


ROUTES = (
    # Before `/{experiment_id}`, which would match these paths too.
    *prompts.ROUTES,
    *judges.ROUTES,
    *schedules.ROUTES,
    *alerts.ROUTES,
    Route("GET", "/options", get_options, "read"),
    Route("GET", "/compare", compare_side_by_side, "read"),  # a reserved word: never an experiment_id
    Route("POST", "/", start_experiment, "write"),
    Route("GET", "/", list_experiments, "read"),  # `/{experiment_id}` never matches the bare `/`
    Route("GET", "/{experiment_id}", get_status, "read"),
    Route("GET", "/{experiment_id}/results", get_results, "read"),
    Route("GET", "/{experiment_id}/compare", compare, "read"),
    Route("GET", "/{experiment_id}/report", report, "read"),
    Route("GET", "/{experiment_id}/export", export, "read"),
    Route("POST", "/{experiment_id}/resume", resume, "write"),
    Route("POST", "/{experiment_id}/cancel", cancel, "write"),
)
