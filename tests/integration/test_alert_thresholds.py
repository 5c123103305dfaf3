"""Threshold alerts of a scheduled experiment, and alert events surviving a Datadog outage.

The schedule is started by the trigger function and its shard run by the worker's code in this
process (`shard_worker().process`, what experiments-worker calls); the feedback is real feedback
posted on a real extraction. Datadog's events API is a local recorder (see test_scheduled_alerts).
"""

from __future__ import annotations

import io
import socket

from shared.experiments.shards import ShardMessage
from shared.synthetic.forms import generate_form
from shared.wiring.experiments_worker import shard_worker
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import HEADERS, published_dataset
from tests.integration.test_scheduled_alerts import DatadogEvents
from tests.integration.test_schedules import shards_topic  # noqa: F401 (a fixture)


def a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_quality_and_negative_feedback_alert_once_and_events_wait_out_an_outage(
    clean_firestore,
    configure,
    shards_topic,  # noqa: F811
    datasets_client,
    experiments_client,
    extract_client,
    feedback_client,
    scheduled_client,
    gemini,
):
    configure(DATADOG_EVENTS_URL=f"http://127.0.0.1:{a_closed_port()}/api/v1/events", DD_API_KEY="dd-test")
    forms = [generate_form(640 + i) for i in range(4)]
    dataset, truths = published_dataset(datasets_client, forms)
    misread = dict(truths[forms[0].image])
    misread["vote_results"] = [dict(row, vote_count=(row["vote_count"] or 0) + 3) for row in misread["vote_results"]]
    gemini.set_responder(
        lambda request: extraction_reply(
            misread if request.images[0].data == forms[0].image else truths[request.images[0].data]
        )
    )
    # Users were unhappy today: 4 thumbs down out of 6.
    extraction = extract_client.post(
        "/",
        data={"image": (io.BytesIO(forms[1].image), "form.png")},
        headers=HEADERS,
        content_type="multipart/form-data",
    ).json
    for index in range(6):
        body = {
            "span_id": extraction["span_id"],
            "trace_id": extraction["trace_id"],
            "feedback_type": "thumbs_down" if index < 4 else "thumbs_up",
        }
        assert feedback_client.post("/", json=body, headers=HEADERS).status_code == 201
    schedule = {
        "schedule_id": "quality-watch",
        "interval_minutes": 60,
        "dataset": {"name": dataset},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "evaluators": ["vote_count_exact", "vote_count_accuracy"],
        "baseline": {"policy": "none"},
        "thresholds": {"min_quality": 0.95, "max_negative_feedback_rate": 0.5, "min_feedback_count": 5},
    }
    assert experiments_client.post("/schedules", json=schedule, headers=HEADERS).status_code == 201

    [started] = scheduled_client.post("/", headers=HEADERS).json["started"]
    outcome = shard_worker().process(ShardMessage(started["experiment_id"], 0))
    shard_worker().finalise_if_last(started["experiment_id"])  # a second finaliser: no second alert

    assert outcome.outcome == "completed" and outcome.done == 4
    alerts = experiments_client.get(f"/alerts?experiment_id={started['experiment_id']}", headers=HEADERS).json
    by_kind = {alert["kind"]: alert for alert in alerts["items"]}
    assert sorted(by_kind) == ["negative_feedback_rate", "quality_below_target"]
    assert by_kind["quality_below_target"]["details"]["means"]["flash"] < 0.95
    assert by_kind["negative_feedback_rate"]["details"] | {"limit": 0.5} == {
        "total": 6,
        "negative": 4,
        "rate": 4 / 6,
        "limit": 0.5,
    }
    assert not any(alert["datadog_event_sent"] for alert in alerts["items"])  # Datadog was down

    events = DatadogEvents()
    try:
        configure(DATADOG_EVENTS_URL=events.url)
        resent = scheduled_client.post("/", headers=HEADERS).json["resent"]
        assert resent["alert_events"] == 2
        assert sorted(next(t for t in e["tags"] if t.startswith("alert_kind:")) for _, e in events.received) == [
            "alert_kind:negative_feedback_rate",
            "alert_kind:quality_below_target",
        ]
        assert scheduled_client.post("/", headers=HEADERS).json["resent"]["alert_events"] == 0
    finally:
        events.server.shutdown()
    alerts = experiments_client.get(f"/alerts?experiment_id={started['experiment_id']}", headers=HEADERS).json
    assert all(alert["datadog_event_sent"] for alert in alerts["items"])
