"""`/experiments/schedules`: scheduled experiments, created, read, changed, paused and deleted
(API.md "experiments"). `experiments-scheduled` starts them."""

from __future__ import annotations

import flask

from shared.experiments.schedules import ScheduleRequest
from shared.routes.path_ids import known_schedule_id
from shared.web import Route, json_body, json_response, limit_body, parse_fields, recorded_name
from shared.wiring.experiments import schedule_service

MAX_BODY_BYTES = 1024 * 1024  # a schedule is a few kilobytes of JSON


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


def _set_enabled(schedule_id: str, enabled: bool) -> flask.Response:
    schedule = schedule_service().set_enabled(known_schedule_id(schedule_id), enabled)
    return json_response(schedule.model_dump(mode="json"))


ROUTES = (
    Route("POST", "/schedules", create_schedule, "write"),
    Route("GET", "/schedules", list_schedules, "read"),
    Route("GET", "/schedules/{schedule_id}", get_schedule, "read"),
    Route("PATCH", "/schedules/{schedule_id}", change_schedule, "write"),
    Route("DELETE", "/schedules/{schedule_id}", delete_schedule, "write"),
    Route("POST", "/schedules/{schedule_id}/enable", enable_schedule, "write"),
    Route("POST", "/schedules/{schedule_id}/disable", disable_schedule, "write"),
)
