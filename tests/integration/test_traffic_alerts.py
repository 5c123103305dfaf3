"""Rates over a window of production traffic alert once per window, through the scheduled function.

Extractions (with the online evaluations the extract service stores on them) and feedback are
written with the product's own Firestore repositories, dated inside the window the tick checks
and around it (the repositories take the time as given; the extract service would stamp "now").
The trigger is `experiments_scheduled` as Cloud Scheduler calls it, with its schedule time; the
alerts land in the Firestore emulator, on stdout and at the Datadog events recorder of
test_scheduled_alerts.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from shared.models import Evaluation, ExtractionRecord, FeedbackRecord
from shared.storage.clients import firestore_client
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.feedback import FirestoreFeedbackRepository
from tests.integration.builders import HEADERS
from tests.integration.test_scheduled_alerts import DatadogEvents


def evaluation(label: str, value: object, *, error: str | None = None, skipped: bool = False) -> Evaluation:
    return Evaluation(
        label=label,
        metric_type="boolean" if isinstance(value, bool) else "score",
        value=value,
        evaluator_version="1",
        error=error,
        details={"skipped": True} if skipped else {},
    )


def store_extraction(created_at: datetime, *evaluations: Evaluation) -> str:
    record = ExtractionRecord(
        extraction_id=uuid.uuid4().hex,
        span_id=uuid.uuid4().hex[:16],
        trace_id=uuid.uuid4().hex,
        model="gemini-2.5-flash",
        prompt_version="prompt_a@1",
        status="succeeded",
        evaluations=list(evaluations),
        image_uri="gs://vote-extractor-images/form.png",
        image_sha256="0" * 64,
        image_content_type="image/png",
        latency_ms=900.0,
        created_at=created_at,
    )
    FirestoreExtractionRepository(firestore_client()).create(record)
    return record.extraction_id


def store_feedback(extraction_id: str, feedback_type: str, created_at: datetime) -> None:
    feedback = FeedbackRecord(
        feedback_id=uuid.uuid4().hex,
        extraction_id=extraction_id,
        span_id="0" * 16,
        trace_id="0" * 32,
        feedback_type=feedback_type,  # type: ignore[arg-type]
        request_sha256=uuid.uuid4().hex * 2,
        created_at=created_at,
    )
    FirestoreFeedbackRepository(firestore_client()).record(feedback)


def all_failing(created_at: datetime) -> str:
    return store_extraction(
        created_at,
        evaluation("cross_check", 0.5),
        evaluation("consistency", False),
        evaluation("output_classification", None, error="RuntimeError: judge down"),
    )


def test_traffic_rates_above_their_limits_alert_once_per_window(
    clean_firestore, configure, scheduled_client, experiments_client, capsys
):
    events = DatadogEvents()
    configure(DATADOG_EVENTS_URL=events.url, DD_API_KEY="dd-test")
    # A window well before anything other tests write ("now"), inside the day a schedule time may be off.
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=20)
    start = end - timedelta(hours=1)
    in_window = [start + timedelta(seconds=150 * i) for i in range(24)]  # start included
    ids = []
    for index, created_at in enumerate(in_window):
        cross_check = (
            evaluation("cross_check", None, skipped=True)  # no second reading: not cross-checked
            if index >= 22
            else evaluation("cross_check", 0.8 if index < 6 else 1.0)
        )
        checks = [cross_check, evaluation("consistency", index not in (6, 7, 8)), evaluation("schema_valid", True)]
        if index == 9:  # arithmetic holds, the words contradict a figure
            checks.append(evaluation("figures_match_words", False))
        if index in (10, 11, 12, 13):
            checks.append(evaluation("output_classification", None, error="RuntimeError: judge down"))
        ids.append(store_extraction(created_at, *checks))
    for index in range(10):
        store_feedback(ids[index], "thumbs_down" if index < 4 else "thumbs_up", start + timedelta(minutes=index))
    # Outside the window, just before it and at its end (excluded): failing everything.
    for created_at in (start - timedelta(seconds=1), end, end + timedelta(minutes=5)):
        for _ in range(5):
            outside = all_failing(created_at)
            store_feedback(outside, "thumbs_down", created_at)

    tick = {"X-CloudScheduler-ScheduleTime": (end + timedelta(seconds=4)).isoformat()}
    first = scheduled_client.post("/", headers=HEADERS | tick)
    retried = scheduled_client.post("/", headers=HEADERS | tick)
    later_tick = {"X-CloudScheduler-ScheduleTime": (end + timedelta(minutes=59)).isoformat()}
    later = scheduled_client.post("/", headers=HEADERS | later_tick)

    assert first.status_code == 200, first.json
    key = start.strftime("%Y%m%dT%H%MZ")
    assert sorted(first.json["traffic_alerts"]) == [
        f"traffic-{key}~consistency_failure_rate",
        f"traffic-{key}~cross_check_disagreement_rate",
        f"traffic-{key}~online_evaluation_failure_rate",
        f"traffic-{key}~thumbs_down_rate",
    ]
    assert retried.json["traffic_alerts"] == [] and later.json["traffic_alerts"] == []

    alerts = experiments_client.get("/alerts", headers=HEADERS).json["items"]
    by_kind = {alert["kind"]: alert for alert in alerts}
    assert len(alerts) == 4 and len(by_kind) == 4
    counts = {
        kind: (a["details"]["count"], a["details"]["out_of"], a["details"]["rate"]) for kind, a in by_kind.items()
    }
    assert counts == {
        "cross_check_disagreement_rate": (6, 22, 6 / 22),
        "consistency_failure_rate": (4, 24, 4 / 24),
        # 22 cross checks scored, 24 consistency, 24 schema_valid, 1 figures_match_words, 4 raised
        "online_evaluation_failure_rate": (4, 75, 4 / 75),
        "thumbs_down_rate": (4, 10, 0.4),
    }
    for alert in alerts:
        assert alert["experiment_id"] is None and alert["datadog_event_sent"] is True
        assert datetime.fromisoformat(alert["window_start"]) == start
        assert datetime.fromisoformat(alert["window_end"]) == end
    assert by_kind["online_evaluation_failure_rate"]["details"]["failed_evaluators"] == {"output_classification": 4}
    assert by_kind["cross_check_disagreement_rate"]["details"]["extractions_read"] == 24
    assert by_kind["thumbs_down_rate"]["details"]["limit"] == 0.3

    assert len(events.received) == 4
    for headers, event in events.received:
        assert headers["DD-API-KEY"] == "dd-test"
        assert event["title"].startswith("vote-extractor alert: ")
        assert f"(production traffic from {start:%Y-%m-%d %H:%M} UTC)" in event["title"]
        assert "alert_scope:traffic" in event["tags"] and not any(t.startswith("experiment:") for t in event["tags"])
    assert sorted(t for _, e in events.received for t in e["tags"] if t.startswith("alert_kind:")) == [
        "alert_kind:consistency_failure_rate",
        "alert_kind:cross_check_disagreement_rate",
        "alert_kind:online_evaluation_failure_rate",
        "alert_kind:thumbs_down_rate",
    ]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"vote_extractor_alert"' in line]
    assert sorted(line["alert_kind"] for line in lines) == sorted(by_kind)
    events.server.shutdown()


def test_a_window_with_too_few_samples_raises_nothing(clean_firestore, configure, scheduled_client):
    configure(DATADOG_EVENTS_URL="", DD_API_KEY="")
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=20)
    for minute in range(5):  # 5 of 5 failing: a rate of 1, over too few to say anything
        extraction_id = all_failing(end - timedelta(minutes=30 + minute))
        store_feedback(extraction_id, "thumbs_down", end - timedelta(minutes=30))

    tick = {"X-CloudScheduler-ScheduleTime": end.isoformat()}
    answered = scheduled_client.post("/", headers=HEADERS | tick)

    assert answered.status_code == 200 and answered.json["traffic_alerts"] == []
