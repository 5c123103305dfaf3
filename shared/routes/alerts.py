"""`/experiments/alerts`: the alerts raised on experiments, newest first (API.md "experiments")."""

from __future__ import annotations

import flask

from shared.errors import InvalidField
from shared.routes.path_ids import known_experiment_id, known_schedule_id
from shared.web import Route, int_arg, json_response
from shared.wiring.experiments import alert_service


def list_alerts(request: flask.Request) -> flask.Response:
    schedule_id = request.args.get("schedule_id")
    experiment_id = request.args.get("experiment_id")
    if schedule_id and experiment_id:
        raise InvalidField(
            "Filter by schedule_id or by experiment_id, not both.", details={"fields": ["schedule_id", "experiment_id"]}
        )
    limit = int_arg(request, "limit", default=100, low=1, high=500)
    alerts = alert_service().find(
        schedule_id=known_schedule_id(schedule_id) if schedule_id else None,
        experiment_id=known_experiment_id(experiment_id) if experiment_id else None,
        limit=limit,
    )
    return json_response({"items": [alert.model_dump(mode="json") for alert in alerts]})


ROUTES = (Route("GET", "/alerts", list_alerts, "read"),)
