"""`/experiments/schedules`: scheduled experiments, created, read, changed, paused and deleted
(API.md "experiments"). `experiments-scheduled` starts them."""

from __future__ import annotations

import re

import flask

from shared.errors import InvalidField
from shared.experiments.schedules import ScheduleRequest
from shared.experiments.trends import DEFAULT_POINTS, MAX_POINTS
from shared.routes.path_ids import known_schedule_id
from shared.web import Route, int_arg, json_body, json_response, limit_body, parse_fields, recorded_name
from shared.wiring.experiments import schedule_service, trend_queries

MAX_BODY_BYTES = 1024 * 1024  # a schedule is a few kilobytes of JSON
_METRIC = re.compile(r"[A-Za-z0-9_.=:-]{1,100}")


def create_schedule(request: flask.Request) -> flask.Response:
    limit_body(request, MAX_BODY_BYTES)
    wanted = parse_fields(ScheduleRequest, json_body(request), what="schedule")
    schedule = schedule_service().create(wanted, created_by=recorded_name(request))
    return json_response(schedule.model_dump(mode="json"), 201)


def list_schedules(request: flask.Request) -> flask.Response:
    return json_response({"items": [s.model_dump(mode="json") for s in schedule_service().all()]})


def get_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    return json_response(schedule_service().get(known_schedule_id(schedule_id)).model_dump(mode="json"))


def change_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    limit_body(request, MAX_BODY_BYTES)
    schedule = schedule_service().change(known_schedule_id(schedule_id), json_body(request))
    return json_response(schedule.model_dump(mode="json"))


def delete_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    schedule_service().delete(known_schedule_id(schedule_id))
    return flask.Response(status=204)


def enable_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    return _set_enabled(schedule_id, True)


def disable_schedule(request: flask.Request, schedule_id: str) -> flask.Response:
    return _set_enabled(schedule_id, False)


def get_trend(request: flask.Request, schedule_id: str) -> flask.Response:
    """Per metric, the schedule's newest `limit` runs, oldest first (shared/experiments/trends.py)."""
    unknown = set(request.args) - {"metric", "limit"}
    if unknown:
        raise InvalidField(
            f"Unknown query arguments: {', '.join(sorted(unknown))}.", details={"fields": sorted(unknown)}
        )
    metric = request.args.get("metric")
    if metric is not None and not _METRIC.fullmatch(metric):
        raise InvalidField("metric must be a metric label such as vote_count_accuracy.", details={"field": "metric"})
    limit = int_arg(request, "limit", default=DEFAULT_POINTS, low=1, high=MAX_POINTS)
    return json_response(trend_queries().trend(known_schedule_id(schedule_id), metric=metric, limit=limit))


def _set_enabled(schedule_id: str, enabled: bool) -> flask.Response:
    schedule = schedule_service().set_enabled(known_schedule_id(schedule_id), enabled)
    return json_response(schedule.model_dump(mode="json"))


ROUTES = (
    Route("POST", "/schedules", create_schedule, "write"),
    Route("GET", "/schedules", list_schedules, "read"),
    Route("GET", "/schedules/{schedule_id}", get_schedule, "read"),
    Route("PATCH", "/schedules/{schedule_id}", change_schedule, "write"),
    Route("DELETE", "/schedules/{schedule_id}", delete_schedule, "write"),
    Route("GET", "/schedules/{schedule_id}/trend", get_trend, "read"),
    Route("POST", "/schedules/{schedule_id}/enable", enable_schedule, "write"),
    Route("POST", "/schedules/{schedule_id}/disable", disable_schedule, "write"),
)
