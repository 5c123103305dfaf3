"""Each scheduled tick sends the week-to-date production accuracy to Datadog as gauges, equal to
what `GET /datasets/review/accuracy` answers for the same window.

Extractions go through the extract function (the Gemini stand-in reads them), a random sample is
decided by reviewers through the datasets API (test_production_accuracy's `reviewed_week`), and the
tick is `experiments_scheduled` as Cloud Scheduler calls it. Datadog's metrics API cannot be reached
from here: a local HTTP server records the series the same code posts to Datadog in production.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.integration.builders import HEADERS
from tests.integration.test_production_accuracy import reviewed_week  # noqa: F401 (a fixture)
from tests.integration.test_review_queue import extract
from tests.openapi_contract import assert_matches_contract

DD_TEST_KEY = "dd-metrics-test-key"
PREFIX = "vote_extractor.production_accuracy."
FIELDS = ("estimate", "ci_low", "ci_high", "n_reviewed", "n_total")


class DatadogApi:
    """Records each POST (path, headers, body), answering 202 as Datadog's intake APIs do."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict, dict]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append((self.path, dict(self.headers), body))
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errors": []}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def series(self) -> list[dict]:
        return [s for path, _, body in self.received if path == "/api/v2/series" for s in body["series"]]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def monday_of(at: datetime) -> datetime:
    return (at - timedelta(days=at.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


def tick(scheduled_client, at: datetime):
    return scheduled_client.post("/", headers=HEADERS | {"X-CloudScheduler-ScheduleTime": at.isoformat()})


def test_a_tick_sends_the_week_to_date_accuracy_the_api_gives_and_survives_datadog_down(
    reviewed_week,  # noqa: F811
    configure,
    scheduled_client,
    datasets_client,
):
    _, _, _, _, everything = reviewed_week
    datadog = DatadogApi()
    configure(
        DD_API_KEY=DD_TEST_KEY,
        DATADOG_METRICS_URL=f"{datadog.base}/api/v2/series",
        DATADOG_EVENTS_URL=f"{datadog.base}/api/v1/events",
    )
    at = datetime.now(UTC) + timedelta(seconds=2)
    since = monday_of(at)
    form_types = sorted({e["form_type"] for e in everything})

    answered = tick(scheduled_client, at)

    assert answered.status_code == 200, answered.json
    assert_matches_contract("/experiments-scheduled", "POST", 200, answered.json)
    report = answered.json["production_accuracy"]
    assert report["sent"] == ["all", *form_types] and report["skipped"] == {} and report["delivered"] is True
    posts = [(headers, body) for path, headers, body in datadog.received if path == "/api/v2/series"]
    assert len(posts) == 1 and posts[0][0]["DD-API-KEY"] == DD_TEST_KEY
    sent = {(s["metric"], tuple(sorted(s["tags"]))): s for s in datadog.series()}
    assert len(sent) == len(FIELDS) * (1 + len(form_types))
    for form_type in [None, *form_types]:
        query = {"since": since.isoformat(), "until": at.isoformat()} | ({"form_type": form_type} if form_type else {})
        expected = datasets_client.get("/review/accuracy", query_string=query, headers=HEADERS).json
        assert expected["estimate"] is not None
        tags = tuple(sorted(["ml_app:vote-extractor", f"form_type:{form_type or 'all'}", "method:ppi++"]))
        for field in FIELDS:
            series = sent[(PREFIX + field, tags)]
            assert series["type"] == 3  # a gauge
            assert series["points"] == [{"timestamp": int(at.timestamp()), "value": expected[field]}]
    assert sent[(PREFIX + "n_total", tuple(sorted(["ml_app:vote-extractor", "form_type:all", "method:ppi++"])))][
        "points"
    ][0]["value"] == len(everything)

    datadog.stop()  # Datadog down: nothing listens at its address any more
    down = tick(scheduled_client, at + timedelta(seconds=1))

    assert down.status_code == 200, down.json
    assert down.json["production_accuracy"]["delivered"] is False
    assert down.json["production_accuracy"]["sent"] == ["all", *form_types]


def test_too_few_reviewed_sends_nothing_and_the_report_says_why(
    clean_firestore, configure, extract_client, scheduled_client
):
    datadog = DatadogApi()
    configure(
        REVIEW_RANDOM_SAMPLE_RATE="1.0",
        DD_API_KEY=DD_TEST_KEY,
        DATADOG_METRICS_URL=f"{datadog.base}/api/v2/series",
        DATADOG_EVENTS_URL=f"{datadog.base}/api/v1/events",
    )
    extracted = extract(extract_client, 421)

    answered = tick(scheduled_client, datetime.now(UTC) + timedelta(seconds=1))

    assert answered.status_code == 200, answered.json
    assert_matches_contract("/experiments-scheduled", "POST", 200, answered.json)
    report = answered.json["production_accuracy"]
    assert report["sent"] == [] and report["delivered"] is False
    assert set(report["skipped"]) == {"all", extracted["form_type"]}
    assert all("at least 10" in reason for reason in report["skipped"].values())
    assert datadog.series() == []
    datadog.stop()
