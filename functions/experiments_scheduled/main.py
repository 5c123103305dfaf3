"""`experiments-scheduled`: the Cloud Scheduler target (API.md "experiments").

Starts every due schedule once per time slot, republishes the shards of experiments that stopped
moving, summarises cancelled experiments whose worker died before it could, resends what Datadog
has not accepted yet (evaluations and alert events), alerts on the rates of the last complete
window of production traffic (shared/experiments/traffic_alerts.py), then sends the week-to-date
production accuracy to Datadog as gauges (shared/services/production_accuracy_gauges.py). Called
with Cloud Scheduler's OIDC token; locally the API key works too (shared.scheduler_auth).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import flask
import functions_framework

from shared.errors import InvalidField, MalformedRequest
from shared.scheduler_auth import require_scheduler
from shared.web import Route, answer_routing_errors_as_json, json_response, serve
from shared.wiring.evaluations import resend_pending
from shared.wiring.experiments_scheduled import (
    alert_service,
    experiment_recovery,
    production_accuracy_gauges,
    schedule_service,
    traffic_alerts,
)
from shared.wiring.instance import prepare_instance

# Cloud Scheduler stamps each trigger with the time it was scheduled for; a retry of one trigger
# carries the same time, so it lands in the same slot even when it arrives in the next one.
SCHEDULE_TIME_HEADER = "X-CloudScheduler-ScheduleTime"
MAX_SCHEDULE_TIME_SKEW = timedelta(days=1)

prepare_instance(storage=False)  # the first request's libraries, at instance start
answer_routing_errors_as_json()


@functions_framework.http
def experiments_scheduled(request: flask.Request) -> flask.Response:
    return serve(request, ROUTES, authenticate=require_scheduler)


def run_due_schedules(request: flask.Request) -> flask.Response:
    schedule_time = _schedule_time(request)
    report: dict = schedule_service().run_due(schedule_time)
    report["recovered_shards"] = experiment_recovery().recover_stalled_shards()
    report["summarised_cancelled"] = experiment_recovery().finish_abandoned_cancels()
    report["resent"] = {
        "evaluations": resend_pending(max_rounds=5).delivered,
        "alert_events": alert_service().resend_events(),
    }
    # Late: should Firestore fail it, the resends are done and the retried tick checks the same window.
    report["traffic_alerts"] = [alert.alert_id for alert in traffic_alerts().check(schedule_time)]
    # Last: a retried tick sends the same points again (Datadog keeps one value per gauge, tags and time).
    report["production_accuracy"] = production_accuracy_gauges().send(schedule_time)
    return json_response(report)


def _schedule_time(request: flask.Request) -> datetime:
    raw = request.headers.get(SCHEDULE_TIME_HEADER)
    now = datetime.now(UTC)
    if raw is None:
        return now
    try:
        stamped = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedRequest(f"{SCHEDULE_TIME_HEADER} must be an RFC 3339 time.") from None
    if stamped.tzinfo is None:
        raise MalformedRequest(f"{SCHEDULE_TIME_HEADER} must carry a time zone.")
    if abs(stamped - now) > MAX_SCHEDULE_TIME_SKEW:
        raise InvalidField(
            f"{SCHEDULE_TIME_HEADER} is more than a day away from now: a replayed or forged trigger.",
            details={"field": SCHEDULE_TIME_HEADER},
        )
    return stamped


ROUTES = (Route("POST", "/", run_due_schedules, "write"),)
